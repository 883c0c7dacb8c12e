//! How command results are printed: Docker's tables (columns padded as its
//! tabwriter does), `--format json` (one JSON object a line), and
//! Go-template-ish `--format '{{.Field}}'` / `table {{.A}}\t{{.B}}` for the
//! common cases; sizes and "ago" columns in the docker CLI's choice of
//! go-units' forms (the forms themselves are `docker_vocab::units`').
//! Nothing here talks to the engine.

use docker_vocab::{time, units};
use serde_json::Value;

use super::error::CliError;

/// A `--format` choice.
#[derive(Debug, Clone, PartialEq)]
pub enum Format {
    Table,
    Json,
    Template { table: bool, template: String },
}

impl Format {
    pub fn parse(arg: Option<&str>) -> Format {
        match arg.map(str::trim) {
            None | Some("") | Some("table") => Format::Table,
            Some("json") => Format::Json,
            Some(t) => match t.strip_prefix("table ") {
                Some(rest) => Format::Template { table: true, template: unescape(rest) },
                None => Format::Template { table: false, template: unescape(t) },
            },
        }
    }
}

/// Docker's formatter turns the two-character `\t` and `\n` into the
/// characters themselves.
fn unescape(t: &str) -> String {
    t.replace("\\t", "\t").replace("\\n", "\n")
}

/// Prints rows (JSON objects of Docker's display fields) in the chosen
/// format; `columns` are (header, field) for the default table.
pub fn print_rows(rows: &[Value], columns: &[(&str, &str)], format: &Format) -> Result<(), CliError> {
    let mut out = String::new();
    match format {
        Format::Json => {
            for r in rows {
                out.push_str(&r.to_string());
                out.push('\n');
            }
        }
        Format::Table => {
            let mut lines = vec![columns.iter().map(|(h, _)| h.to_string()).collect::<Vec<_>>()];
            for r in rows {
                lines.push(columns.iter().map(|(_, f)| display(r.get(*f).unwrap_or(&Value::Null))).collect());
            }
            out = tabulate(&lines);
        }
        Format::Template { table, template } => {
            let mut lines = Vec::new();
            if *table {
                lines.push(header_of(template));
            }
            for r in rows {
                lines.push(render(template, r)?);
            }
            if *table {
                let cells: Vec<Vec<String>> =
                    lines.iter().map(|l| l.split('\t').map(str::to_string).collect()).collect();
                out = tabulate(&cells);
            } else {
                for l in lines {
                    out.push_str(&l);
                    out.push('\n');
                }
            }
        }
    }
    print!("{out}");
    Ok(())
}

/// The header line of a `table` template: each `{{.Field}}` becomes its
/// upper-cased name, as Docker's headers are.
fn header_of(template: &str) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let Some(end) = rest[start..].find("}}") else { break };
        let action = rest[start + 2..start + end].trim();
        let field = action.trim_start_matches("json ").trim().trim_start_matches('.');
        out.push_str(&field.rsplit('.').next().unwrap_or(field).to_ascii_uppercase());
        rest = &rest[start + end + 2..];
    }
    out.push_str(rest);
    out
}

/// Pads columns: each as wide as its widest cell plus three spaces, the
/// last one unpadded (Docker's tabwriter settings).
pub fn tabulate(lines: &[Vec<String>]) -> String {
    let ncols = lines.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0; ncols];
    for l in lines {
        for (i, c) in l.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let mut out = String::new();
    for l in lines {
        let mut line = String::new();
        for (i, c) in l.iter().enumerate() {
            if i + 1 < l.len() {
                line.push_str(&format!("{c:<w$}", w = widths[i] + 3));
            } else {
                line.push_str(c);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// Renders a template against one value: `{{.A.B}}`, `{{.}}`,
/// `{{json .A}}` and `{{json .}}`. Anything else is refused with a clear
/// error rather than printed wrong.
pub fn render(template: &str, v: &Value) -> Result<String, CliError> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let end =
            rest[start..].find("}}").ok_or_else(|| CliError::Template(format!("unclosed action in {template:?}")))?;
        let action = rest[start + 2..start + end].trim().trim_start_matches('-').trim_end_matches('-').trim();
        let (json, path) = match action.strip_prefix("json ") {
            Some(p) => (true, p.trim()),
            None => (false, action),
        };
        if !path.starts_with('.') {
            return Err(CliError::Template(format!(
                "berth supports {{{{.Field}}}} and {{{{json .Field}}}}, not {{{{{action}}}}}"
            )));
        }
        let mut cur = v;
        for seg in path.split('.').filter(|s| !s.is_empty()) {
            cur = match cur.get(seg) {
                Some(next) => next,
                None => {
                    return Err(CliError::Template(format!("can't evaluate field {seg} in {path}")));
                }
            };
        }
        if json {
            out.push_str(&cur.to_string())
        } else {
            out.push_str(&display(cur))
        }
        rest = &rest[start + end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// A value as Go's template prints it (close enough: strings bare,
/// null as `<no value>`, containers as JSON).
pub fn display(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// A size as the docker CLI's tables print it (`ps -s`, `images`,
/// `history`, `stats` I/O): go-units' `HumanSizeWithPrecision(size, 3)`,
/// `4.26MB`, `1.24kB`, `0B`.
pub fn human_size(bytes: i64) -> String {
    units::human_size_with_precision(bytes as f64, 3)
}

/// "N units ago" for a Unix timestamp, now.
pub fn ago(ts: i64) -> String {
    ago_from(ts, time::now().timestamp())
}

/// "N units ago" for a Unix timestamp seen at `now`: go-units'
/// `HumanDuration` of the difference, as `docker ps`'s CREATED column.
pub fn ago_from(ts: i64, now: i64) -> String {
    format!("{} ago", units::human_duration(now - ts))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sizes_and_ages_as_docker_prints_them() {
        assert_eq!(human_size(0), "0B");
        assert_eq!(human_size(1240), "1.24kB");
        assert_eq!(human_size(4_261_000), "4.26MB");
        assert_eq!(human_size(426_000_000), "426MB");
        assert_eq!(ago_from(1000, 1005), "5 seconds ago");
        assert_eq!(ago_from(0, 90), "About a minute ago");
        assert_eq!(ago_from(0, 5400), "2 hours ago", "hours round to nearest, as Docker's");
        assert_eq!(ago_from(0, 10 * 86400), "10 days ago");
    }

    #[test]
    fn templates_fields_json_and_errors() {
        let v = json!({"Id": "abc", "State": {"Status": "running", "Pid": 7}, "Labels": {"a": "b"}});
        assert_eq!(render("{{.Id}} {{.State.Status}}/{{.State.Pid}}", &v).unwrap(), "abc running/7");
        assert_eq!(render("{{json .Labels}}", &v).unwrap(), r#"{"a":"b"}"#);
        assert!(render("{{.Nope}}", &v).is_err());
        assert!(render("{{range .Labels}}x{{end}}", &v).is_err());
        assert_eq!(
            Format::parse(Some("table {{.ID}}\\t{{.Image}}")),
            Format::Template { table: true, template: "{{.ID}}\t{{.Image}}".into() }
        );
        assert_eq!(header_of("{{.ID}}\t{{json .Labels}}"), "ID\tLABELS");
    }

    #[test]
    fn tables_pad_like_tabwriter() {
        let t = tabulate(&[vec!["A".into(), "BB".into()], vec!["ccc".into(), "d".into()]]);
        assert_eq!(t, "A     BB\nccc   d\n");
    }
}
