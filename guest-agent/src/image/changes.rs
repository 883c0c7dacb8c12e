//! The `changes` of `docker import --change` (and commit): Dockerfile
//! instructions that set an image's runtime config.
//!
//! Owns parsing them into the config's `config` object. Only the
//! instructions Docker accepts there are accepted (CMD, ENTRYPOINT, ENV,
//! EXPOSE, LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR, ONBUILD); anything
//! else is an error naming it, never silently dropped.

use serde_json::{Map, Value, json};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ChangeError {
    /// Docker's words, the instruction in lower case as its parser has it.
    #[error("{0} is not a valid change command")]
    Unsupported(String),
    #[error("{instruction} needs an argument")]
    Empty { instruction: String },
    #[error("{instruction}: {reason}")]
    Invalid { instruction: String, reason: String },
}

/// The instructions of `changes`: Docker joins them with newlines and
/// parses the result as a Dockerfile, so one value may hold several lines,
/// a line ending in `\` goes on on the next, and `#` lines are comments.
fn instructions(changes: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for line in changes.iter().flat_map(|c| c.lines()) {
        if cur.is_empty() && line.trim_start().starts_with('#') {
            continue;
        }
        match line.trim_end().strip_suffix('\\') {
            Some(head) => {
                cur.push_str(head);
                cur.push(' ');
            }
            None => {
                cur.push_str(line);
                out.push(std::mem::take(&mut cur));
            }
        }
    }
    if !cur.trim().is_empty() {
        out.push(cur);
    }
    out
}

/// Applies each change, in order, to `config` (the image config's `config`).
pub fn apply(config: &mut Map<String, Value>, changes: &[String]) -> Result<(), ChangeError> {
    for change in instructions(changes) {
        let change = change.trim();
        if change.is_empty() {
            continue;
        }
        let (word, rest) = change.split_once(char::is_whitespace).unwrap_or((change, ""));
        let (instruction, rest) = (word.to_ascii_uppercase(), rest.trim());
        if rest.is_empty() {
            return Err(ChangeError::Empty { instruction });
        }
        let invalid = |reason: String| ChangeError::Invalid { instruction: instruction.clone(), reason };
        match instruction.as_str() {
            "CMD" => {
                config.insert("Cmd".into(), json!(command(rest).map_err(invalid)?));
            }
            "ENTRYPOINT" => {
                config.insert("Entrypoint".into(), json!(command(rest).map_err(invalid)?));
            }
            "ENV" => {
                let env = config.entry("Env").or_insert_with(|| json!([]));
                if !env.is_array() {
                    *env = json!([]);
                }
                for (k, v) in pairs(rest).map_err(invalid)? {
                    if let Some(list) = env.as_array_mut() {
                        list.retain(|e| e.as_str().and_then(|s| s.split_once('=')).is_none_or(|(ek, _)| ek != k));
                        list.push(json!(format!("{k}={v}")));
                    }
                }
            }
            "LABEL" => {
                let labels = object(config, "Labels");
                for (k, v) in pairs(rest).map_err(invalid)? {
                    labels.insert(k, json!(v));
                }
            }
            "EXPOSE" => {
                let ports = object(config, "ExposedPorts");
                for p in rest.split_whitespace() {
                    let (num, proto) = p.split_once('/').unwrap_or((p, "tcp"));
                    if num.parse::<u16>().is_err() || !["tcp", "udp", "sctp"].contains(&proto) {
                        return Err(invalid(format!("invalid port {p:?}")));
                    }
                    ports.insert(format!("{num}/{proto}"), json!({}));
                }
            }
            "VOLUME" => {
                let paths = if rest.starts_with('[') { json_list(rest).map_err(invalid)? } else { words(rest) };
                let vols = object(config, "Volumes");
                for p in paths {
                    vols.insert(p, json!({}));
                }
            }
            "WORKDIR" => {
                config.insert("WorkingDir".into(), json!(rest));
            }
            "USER" => {
                config.insert("User".into(), json!(rest));
            }
            "STOPSIGNAL" => {
                config.insert("StopSignal".into(), json!(rest));
            }
            "ONBUILD" => {
                let list = config.entry("OnBuild").or_insert_with(|| json!([]));
                if let Some(l) = list.as_array_mut() {
                    l.push(json!(rest));
                }
            }
            _ => return Err(ChangeError::Unsupported(word.to_ascii_lowercase())),
        }
    }
    Ok(())
}

fn object<'a>(config: &'a mut Map<String, Value>, key: &str) -> &'a mut Map<String, Value> {
    let v = config.entry(key).or_insert_with(|| json!({}));
    if !v.is_object() {
        *v = json!({});
    }
    v.as_object_mut().expect("just made an object")
}

/// Exec form (`["sh", "-c", "x"]`) or shell form (`sh -c x` → `/bin/sh -c …`).
fn command(rest: &str) -> Result<Vec<String>, String> {
    if rest.starts_with('[') { json_list(rest) } else { Ok(vec!["/bin/sh".into(), "-c".into(), rest.to_string()]) }
}

fn json_list(rest: &str) -> Result<Vec<String>, String> {
    serde_json::from_str(rest).map_err(|e| format!("not a JSON list of strings: {e}"))
}

fn words(rest: &str) -> Vec<String> {
    rest.split_whitespace().map(str::to_string).collect()
}

/// `k=v k2="v 2"`, or the legacy `k v with spaces` (one pair).
fn pairs(rest: &str) -> Result<Vec<(String, String)>, String> {
    let first = rest.split_whitespace().next().unwrap_or("");
    if !first.contains('=') {
        let (k, v) = rest.split_once(char::is_whitespace).ok_or_else(|| format!("{rest:?} has no value"))?;
        return Ok(vec![(k.to_string(), v.trim().to_string())]);
    }
    let mut out = Vec::new();
    let mut chars = rest.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            break;
        }
        let key: String = std::iter::from_fn(|| chars.next_if(|c| *c != '=' && !c.is_whitespace())).collect();
        if chars.next() != Some('=') || key.is_empty() {
            return Err(format!("{key:?} is not key=value"));
        }
        let mut value = String::new();
        let mut quote = None;
        while let Some(c) = chars.peek().copied() {
            match (quote, c) {
                (None, c) if c.is_whitespace() => break,
                (None, '"' | '\'') => quote = Some(c),
                (Some(q), c) if c == q => quote = None,
                (_, '\\') => {
                    chars.next();
                    if let Some(n) = chars.peek().copied() {
                        value.push(n);
                    }
                }
                (_, c) => value.push(c),
            }
            chars.next();
        }
        if quote.is_some() {
            return Err(format!("unterminated quote in {key}"));
        }
        out.push((key, value));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn applied(changes: &[&str]) -> Result<Value, ChangeError> {
        let mut m = Map::new();
        apply(&mut m, &changes.iter().map(|s| s.to_string()).collect::<Vec<_>>())?;
        Ok(Value::Object(m))
    }

    #[test]
    fn each_instruction_lands_in_its_field() {
        let c = applied(&[
            r#"CMD ["sh", "-c", "echo hi"]"#,
            "ENTRYPOINT /init",
            "ENV A=1 B=\"two words\"",
            "ENV A 3",
            "LABEL tier=web",
            "EXPOSE 80 53/udp",
            "VOLUME /data",
            "WORKDIR /srv",
            "USER nobody",
            "STOPSIGNAL SIGINT",
        ])
        .unwrap();
        assert_eq!(c["Cmd"], json!(["sh", "-c", "echo hi"]));
        assert_eq!(c["Entrypoint"], json!(["/bin/sh", "-c", "/init"]));
        assert_eq!(c["Env"], json!(["B=two words", "A=3"]));
        assert_eq!(c["Labels"], json!({"tier": "web"}));
        assert_eq!(c["ExposedPorts"], json!({"80/tcp": {}, "53/udp": {}}));
        assert_eq!(c["Volumes"], json!({"/data": {}}));
        assert_eq!((c["WorkingDir"].clone(), c["User"].clone()), (json!("/srv"), json!("nobody")));
        assert_eq!(c["StopSignal"], json!("SIGINT"));
    }

    #[test]
    fn one_value_may_hold_several_lines() {
        let c = applied(&["EXPOSE 80\n# a comment\nLABEL a=1 \\\n  b=2\n", "USER app"]).unwrap();
        assert_eq!(c["ExposedPorts"], json!({"80/tcp": {}}));
        assert_eq!(c["Labels"], json!({"a": "1", "b": "2"}));
        assert_eq!(c["User"], json!("app"));
    }

    #[test]
    fn bad_changes_are_named() {
        assert_eq!(applied(&["RUN rm -rf /"]), Err(ChangeError::Unsupported("run".into())));
        assert_eq!(applied(&["RUN x"]).unwrap_err().to_string(), "run is not a valid change command");
        assert_eq!(applied(&["CMD"]), Err(ChangeError::Empty { instruction: "CMD".into() }));
        assert!(applied(&["EXPOSE http"]).unwrap_err().to_string().contains("invalid port"));
        assert!(applied(&["CMD [\"unterminated"]).is_err());
        assert!(applied(&["ENV A=\"open"]).is_err());
    }
}
