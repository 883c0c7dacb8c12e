//! Docker's `filters` query parameter and the `GET /containers/json`
//! filters.
//!
//! `filters` is JSON: `{"status":["running"],"label":["a=b"]}`, or the old
//! form `{"status":{"running":true}}` that some clients still send. Keys
//! are ANDed, values of one key ORed. Owns parsing and matching; it must
//! never look anything up itself (the caller passes what a filter needs).

use std::collections::HashMap;

use super::record::ContainerRecord;
use super::state::Status;

pub type Filters = HashMap<String, Vec<String>>;

pub fn parse(s: Option<&str>) -> Result<Filters, String> {
    let Some(s) = s.filter(|s| !s.trim().is_empty()) else {
        return Ok(Filters::new());
    };
    let v: serde_json::Value = serde_json::from_str(s).map_err(|e| format!("invalid filters {s:?}: {e}"))?;
    let obj = v.as_object().ok_or_else(|| format!("invalid filters {s:?}: expected a JSON object"))?;
    let mut out = Filters::new();
    for (k, vals) in obj {
        let list = match vals {
            serde_json::Value::Array(a) => a.iter().filter_map(|x| x.as_str().map(String::from)).collect(),
            serde_json::Value::Object(m) => {
                m.iter().filter(|(_, on)| on.as_bool().unwrap_or(false)).map(|(k, _)| k.clone()).collect()
            }
            _ => {
                return Err(format!("invalid filters {s:?}: values of {k:?} must be a list"));
            }
        };
        out.insert(k.clone(), list);
    }
    Ok(out)
}

const CONTAINER_KEYS: &[&str] = &[
    "id", "name", "label", "status", "ancestor", "exited", "before", "since", "volume", "network", "health", "publish",
    "expose", "is-task",
];

/// Rejects keys `GET /containers/json` does not know, and bad values, with
/// Docker's messages.
pub fn validate_container_filters(f: &Filters) -> Result<(), String> {
    for (k, vals) in f {
        if !CONTAINER_KEYS.contains(&k.as_str()) {
            return Err(format!("invalid filter '{k}'"));
        }
        for v in vals {
            match k.as_str() {
                "status" if Status::parse(v).is_none() => {
                    return Err(format!("invalid filter 'status={v}'"));
                }
                "exited" if v.parse::<i64>().is_err() => {
                    return Err(format!("invalid filter 'exited={v}'"));
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// What a container filter needs beyond the record: whether `ancestor`
/// values name this container's image (resolved by the caller through the
/// image store), and the creation times of `before`/`since` containers.
pub struct Context<'a> {
    pub ancestor_matches: &'a dyn Fn(&str, &ContainerRecord) -> bool,
    pub created_of: &'a dyn Fn(&str) -> Option<String>,
    /// Is the container in the network named (or id-prefixed) by the value?
    pub in_network: &'a dyn Fn(&str, &ContainerRecord) -> bool,
}

pub fn matches(f: &Filters, r: &ContainerRecord, cx: &Context<'_>) -> bool {
    f.iter().all(|(k, vals)| {
        vals.is_empty()
            || match k.as_str() {
                // Docker ANDs `before`/`since`; each has one value.
                "before" => vals.iter().all(|v| (cx.created_of)(v).is_some_and(|c| r.created < c)),
                "since" => vals.iter().all(|v| (cx.created_of)(v).is_some_and(|c| r.created > c)),
                _ => vals.iter().any(|v| matches_one(k, v, r, cx)),
            }
    })
}

fn matches_one(key: &str, v: &str, r: &ContainerRecord, cx: &Context<'_>) -> bool {
    match key {
        "id" => r.id.starts_with(v),
        "name" => name_matches(v, &r.name),
        "label" => {
            let labels = r.labels();
            match v.split_once('=') {
                Some((k, val)) => labels.get(k).is_some_and(|x| x == val),
                None => labels.contains_key(v),
            }
        }
        "status" => r.state.status.as_str() == v,
        "exited" => r.state.status == Status::Exited && v.parse::<i64>().is_ok_and(|c| c == r.state.exit_code),
        "ancestor" => (cx.ancestor_matches)(v, r),
        "is-task" => v == "false",
        "network" => (cx.in_network)(v, r),
        // Volumes, health checks and ports are not modelled yet:
        // nothing matches them, which is what Docker answers for a
        // container without any.
        _ => false,
    }
}

/// Docker matches names with a regular expression against `/name`; the
/// forms people use are a substring, `^prefix` and `suffix$`.
fn name_matches(pattern: &str, name: &str) -> bool {
    let full = format!("/{name}");
    let (anchored_start, p) = match pattern.strip_prefix('^') {
        Some(p) => (true, p),
        None => (false, pattern),
    };
    let (anchored_end, p) = match p.strip_suffix('$') {
        Some(p) => (true, p),
        None => (false, p),
    };
    let p_no_slash = p.strip_prefix('/').unwrap_or(p);
    let candidates = [(full.as_str(), p), (name, p_no_slash)];
    candidates.iter().any(|(hay, needle)| match (anchored_start, anchored_end) {
        (true, true) => hay == needle,
        (true, false) => hay.starts_with(needle),
        (false, true) => hay.ends_with(needle),
        (false, false) => hay.contains(needle),
    })
}

/// Do `labels` pass the `label` filters (every value must hold: `k` means
/// the key is set, `k=v` that it has that value) and the `label!` ones
/// (none may hold)? Moby ANDs the values of these two keys.
pub fn labels_match(f: &Filters, labels: &HashMap<String, String>) -> bool {
    let has = |v: &String| match v.split_once('=') {
        Some((k, val)) => labels.get(k).is_some_and(|x| x == val),
        None => labels.contains_key(v),
    };
    f.get("label").is_none_or(|vals| vals.iter().all(has)) && !f.get("label!").is_some_and(|vals| vals.iter().any(has))
}

/// The filters of `containers/prune` and `networks/prune`: `until` (its
/// time, the last one given wins) and `label`/`label!` (left to the
/// caller); any other key is an error, as Docker's.
pub fn prune_until(f: &Filters) -> Result<Option<chrono::DateTime<chrono::Utc>>, String> {
    let mut until = None;
    for (k, vals) in f {
        match k.as_str() {
            "until" => {
                for v in vals {
                    until = Some(super::clock::parse_until(v)?);
                }
            }
            "label" | "label!" => {}
            other => return Err(format!("invalid filter '{other}'")),
        }
    }
    Ok(until)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::record::sample;

    fn cx() -> Context<'static> {
        Context {
            ancestor_matches: &|v, r| v == r.image || r.image_id.contains(v),
            created_of: &|_| Some("9999".into()),
            in_network: &|v, _| v == "front",
        }
    }

    #[test]
    fn both_json_forms_parse() {
        let f = parse(Some(r#"{"status":["running","exited"],"label":{"a=b":true,"off":false}}"#)).unwrap();
        assert_eq!(f["status"], ["running", "exited"]);
        assert_eq!(f["label"], ["a=b"]);
        assert!(parse(None).unwrap().is_empty());
        assert!(parse(Some("")).unwrap().is_empty());
        assert!(parse(Some("[1]")).is_err());
        assert!(parse(Some("{bad")).is_err());
        assert!(parse(Some(r#"{"status":"running"}"#)).is_err());
    }

    #[test]
    fn unknown_keys_and_values_are_refused() {
        let f = parse(Some(r#"{"colour":["red"]}"#)).unwrap();
        assert_eq!(validate_container_filters(&f).unwrap_err(), "invalid filter 'colour'");
        let f = parse(Some(r#"{"status":["sleeping"]}"#)).unwrap();
        assert!(validate_container_filters(&f).is_err());
        let f = parse(Some(r#"{"exited":["x"]}"#)).unwrap();
        assert!(validate_container_filters(&f).is_err());
        let f = parse(Some(r#"{"status":["running"],"exited":["0"]}"#)).unwrap();
        assert!(validate_container_filters(&f).is_ok());
    }

    #[test]
    fn containers_match_like_docker() {
        let mut r = sample("abcdef", "web-1");
        r.state.status = Status::Exited;
        r.state.exit_code = 3;
        let m = |s: &str| matches(&parse(Some(s)).unwrap(), &r, &cx());
        assert!(m(r#"{}"#));
        assert!(m(r#"{"id":["abc"]}"#));
        assert!(!m(r#"{"id":["bcd"]}"#));
        assert!(m(r#"{"name":["web"]}"#));
        assert!(m(r#"{"name":["^web-1$"]}"#));
        assert!(m(r#"{"name":["^/web"]}"#));
        assert!(!m(r#"{"name":["^eb"]}"#));
        assert!(m(r#"{"label":["app"]}"#));
        assert!(m(r#"{"label":["app=web"]}"#));
        assert!(!m(r#"{"label":["app=db"]}"#));
        assert!(m(r#"{"status":["running","exited"]}"#));
        assert!(!m(r#"{"status":["running"]}"#));
        assert!(m(r#"{"exited":["3"]}"#));
        assert!(!m(r#"{"exited":["0"]}"#));
        assert!(m(r#"{"ancestor":["busybox"]}"#));
        assert!(!m(r#"{"ancestor":["alpine"]}"#));
        assert!(m(r#"{"status":["exited"],"label":["app"]}"#), "keys are ANDed");
        assert!(!m(r#"{"status":["exited"],"label":["nope"]}"#));
        assert!(m(r#"{"before":["x"]}"#));
        assert!(!m(r#"{"since":["x"]}"#));
        assert!(!m(r#"{"network":["bridge"]}"#));
        assert!(m(r#"{"network":["bridge","front"]}"#));
        assert!(!m(r#"{"volume":["data"]}"#), "no volumes yet: nothing matches");
        assert!(m(r#"{"is-task":["false"]}"#));
    }
}
