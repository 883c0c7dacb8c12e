//! How command results are printed: Docker's tables (columns padded as its
//! tabwriter does), `--format json` (one JSON object a line), and
//! Go-template-ish `--format '{{.Field}}'` / `table {{.A}}\t{{.B}}` for the
//! common cases. Also Docker's human sizes and durations. Nothing here
//! talks to the engine.

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

/// Docker's `HumanSizeWithPrecision(size, 3)`: decimal units, three
/// significant digits (`4.26MB`, `1.24kB`, `0B`).
pub fn human_size(bytes: i64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB", "PB"];
    let mut size = bytes.max(0) as f64;
    let mut i = 0;
    while size >= 1000.0 && i + 1 < units.len() {
        size /= 1000.0;
        i += 1;
    }
    let digits = if size >= 100.0 {
        0
    } else if size >= 10.0 {
        1
    } else {
        2
    };
    let s = format!("{size:.digits$}");
    let s = if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_string() } else { s };
    format!("{s}{}", units[i])
}

/// Docker's `HumanDuration`.
pub fn human_duration(secs: i64) -> String {
    let s = secs.max(0);
    let (m, h, d) = (s / 60, s / 3600, s / 86400);
    match () {
        _ if s < 1 => "Less than a second".into(),
        _ if s == 1 => "1 second".into(),
        _ if s < 60 => format!("{s} seconds"),
        _ if m == 1 => "About a minute".into(),
        _ if m < 60 => format!("{m} minutes"),
        _ if h == 1 => "About an hour".into(),
        _ if h < 48 => format!("{h} hours"),
        _ if h < 24 * 7 * 2 => format!("{d} days"),
        _ if h < 24 * 30 * 2 => format!("{} weeks", d / 7),
        _ if h < 24 * 365 * 2 => format!("{} months", d / 30),
        _ => format!("{} years", d / 365),
    }
}

/// Seconds since the Unix epoch.
pub fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// "N units ago" for a Unix timestamp.
pub fn ago(ts: i64) -> String {
    format!("{} ago", human_duration(now() - ts))
}

/// Parses an RFC 3339 timestamp (`2024-05-01T10:00:00.123Z`, or with an
/// offset) to Unix seconds; None if it is not one.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let (date, time) = s.split_once('T')?;
    let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, mo, da) = (d.next()??, d.next()??, d.next()??);
    let (clock, offset) = match time.find(['Z', '+', '-']) {
        Some(i) => (&time[..i], &time[i..]),
        None => (time, "Z"),
    };
    let mut c = clock.split(':');
    let hh: i64 = c.next()?.parse().ok()?;
    let mm: i64 = c.next()?.parse().ok()?;
    let ss: i64 = c.next()?.split('.').next()?.parse().ok()?;
    let off = if offset == "Z" || offset.is_empty() {
        0
    } else {
        let sign = if offset.starts_with('-') { -1 } else { 1 };
        let (oh, om) = offset[1..].split_once(':')?;
        sign * (oh.parse::<i64>().ok()? * 3600 + om.parse::<i64>().ok()? * 60)
    };
    // Days from civil (Howard Hinnant's algorithm).
    let y2 = if mo <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let doy = (153 * (if mo > 2 { mo - 3 } else { mo + 9 }) + 2) / 5 + da - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146097 + doe - 719468;
    Some(days * 86400 + hh * 3600 + mm * 60 + ss - off)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sizes_as_docker_prints_them() {
        assert_eq!(human_size(0), "0B");
        assert_eq!(human_size(1240), "1.24kB");
        assert_eq!(human_size(4_261_000), "4.26MB");
        assert_eq!(human_size(42_600_000), "42.6MB");
        assert_eq!(human_size(426_000_000), "426MB");
    }

    #[test]
    fn durations_as_docker_prints_them() {
        assert_eq!(human_duration(5), "5 seconds");
        assert_eq!(human_duration(90), "About a minute");
        assert_eq!(human_duration(3 * 3600), "3 hours");
        assert_eq!(human_duration(10 * 86400), "10 days");
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
    fn rfc3339_to_unix() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339("2024-05-01T10:00:00.123456789Z"), Some(1_714_557_600));
        assert_eq!(parse_rfc3339("2024-05-01T12:00:00+02:00"), Some(1_714_557_600));
        assert_eq!(parse_rfc3339("yesterday"), None);
    }

    #[test]
    fn tables_pad_like_tabwriter() {
        let t = tabulate(&[vec!["A".into(), "BB".into()], vec!["ccc".into(), "d".into()]]);
        assert_eq!(t, "A     BB\nccc   d\n");
    }
}
