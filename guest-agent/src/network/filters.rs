//! `GET /networks?filters=` and `POST /networks/prune?filters=`: which keys
//! the endpoint takes and what each means for a network record, with
//! Docker's rules (name and id match substrings; type is custom or builtin;
//! dangling is unused). Parsing and the generic rules (keys ANDed, values
//! of a key ORed, every `label` must hold, `label!` excludes) are the shared
//! vocabulary's (`docker_vocab::filters`). It must never look anything up.

pub use docker_vocab::filters::Filters;

use super::record::NetworkRecord;

const LIST_KEYS: &[&str] = &["name", "id", "label", "label!", "driver", "scope", "type", "dangling"];

/// Refuses unknown keys and bad values before anything is matched.
pub fn validate(f: &Filters) -> Result<(), String> {
    f.validate(LIST_KEYS).map_err(|e| e.to_string())?;
    for (k, vals) in f.iter() {
        for v in vals {
            let ok = match k {
                "type" => matches!(v, "custom" | "builtin"),
                "dangling" => parse_bool(v).is_some(),
                "scope" => matches!(v, "local" | "global" | "swarm"),
                _ => true,
            };
            if !ok {
                return Err(format!("invalid filter '{k}={v}'"));
            }
        }
    }
    Ok(())
}

fn parse_bool(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "true" => Some(true),
        "0" | "false" => Some(false),
        _ => None,
    }
}

/// Does `rec` pass every filter key (values of one key are alternatives,
/// labels must all hold)? `live_endpoints` is how many of its containers
/// exist (for `dangling`).
pub fn matches(f: &Filters, rec: &NetworkRecord, live_endpoints: usize) -> bool {
    let dangling = !rec.predefined && live_endpoints == 0;
    f.match_labels(&rec.labels)
        && f.any_value("name", |v| rec.name.contains(v))
        && f.any_value("id", |v| rec.id.contains(v))
        && f.exact_match("driver", &rec.driver)
        && f.exact_match("scope", &rec.scope)
        && f.any_value("type", |v| (v == "builtin") == rec.predefined)
        && f.any_value("dangling", |v| parse_bool(v) == Some(dangling))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn rec(name: &str, predefined: bool, labels: &[(&str, &str)]) -> NetworkRecord {
        NetworkRecord {
            id: format!("{name}0123456789"),
            name: name.into(),
            driver: if name == "host" { "host".into() } else { "bridge".into() },
            scope: "local".into(),
            created: String::new(),
            internal: false,
            attachable: false,
            ingress: false,
            enable_ipv6: false,
            ipam: Default::default(),
            options: HashMap::new(),
            labels: labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            predefined,
            endpoints: Default::default(),
        }
    }

    fn f(pairs: &[(&str, &str)]) -> Filters {
        pairs.iter().fold(Filters::new(), |f, (k, v)| f.with(k, v))
    }

    #[test]
    fn docker_filter_rules() {
        let app = rec("proj_default", false, &[("com.docker.compose.project", "proj")]);
        let host = rec("host", true, &[]);
        assert!(matches(&f(&[("name", "proj")]), &app, 0), "name is a substring match");
        assert!(!matches(&f(&[("name", "other")]), &app, 0));
        assert!(matches(&f(&[("name", "zzz"), ("name", "default")]), &app, 0), "values of a key are alternatives");
        assert!(matches(&f(&[("label", "com.docker.compose.project=proj")]), &app, 0));
        assert!(matches(&f(&[("label", "com.docker.compose.project")]), &app, 0));
        assert!(!matches(&f(&[("label", "com.docker.compose.project=x")]), &app, 0));
        assert!(!matches(&f(&[("label!", "com.docker.compose.project")]), &app, 0));
        assert!(matches(&f(&[("type", "builtin")]), &host, 0) && !matches(&f(&[("type", "builtin")]), &app, 0));
        assert!(matches(&f(&[("type", "custom")]), &app, 0));
        assert!(matches(&f(&[("driver", "host")]), &host, 0) && !matches(&f(&[("driver", "host")]), &app, 0));
        assert!(matches(&f(&[("dangling", "true")]), &app, 0) && !matches(&f(&[("dangling", "true")]), &app, 1));
        assert!(!matches(&f(&[("dangling", "true")]), &host, 0), "predefined networks are never dangling");
        assert!(matches(&f(&[("id", "proj_def")]), &app, 0));
        let two = rec("two", false, &[("a", "1"), ("b", "1")]);
        assert!(matches(&f(&[("label", "a=1"), ("label", "b=1")]), &two, 0), "labels: all must hold");
        assert!(!matches(&f(&[("label", "a=1"), ("label", "c=1")]), &two, 0));
        assert!(matches(&f(&[("label!", "a=1"), ("label!", "c=1")]), &two, 0), "label!: excluded when all hold");
        assert!(!matches(&f(&[("label!", "a=1"), ("label!", "b=1")]), &two, 0));
    }

    #[test]
    fn unknown_keys_and_bad_values_are_refused() {
        assert_eq!(validate(&f(&[("colour", "x")])).unwrap_err(), "invalid filter 'colour'");
        assert!(validate(&f(&[("type", "weird")])).is_err());
        assert!(validate(&f(&[("dangling", "maybe")])).is_err());
        assert!(validate(&f(&[("name", "a"), ("label", "k=v"), ("type", "custom")])).is_ok());
    }
}
