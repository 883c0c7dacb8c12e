//! `GET /networks?filters=` and `POST /networks/prune?filters=`: which
//! records a filter set selects, with Docker's rules (name and id match
//! substrings; label is a key or key=value; type is custom or builtin).

use std::collections::HashMap;

use super::record::NetworkRecord;

pub type Filters = HashMap<String, Vec<String>>;

const LIST_KEYS: &[&str] = &["name", "id", "label", "label!", "driver", "scope", "type", "dangling"];

/// Refuses unknown keys and bad values before anything is matched.
pub fn validate(f: &Filters) -> Result<(), String> {
    for (k, vals) in f {
        if !LIST_KEYS.contains(&k.as_str()) {
            return Err(format!("invalid filter '{k}'"));
        }
        for v in vals {
            let ok = match k.as_str() {
                "type" => matches!(v.as_str(), "custom" | "builtin"),
                "dangling" => parse_bool(v).is_some(),
                "scope" => matches!(v.as_str(), "local" | "global" | "swarm"),
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

/// Does `rec` pass every filter key (values of one key are alternatives)?
/// `live_endpoints` is how many of its containers exist (for `dangling`).
pub fn matches(f: &Filters, rec: &NetworkRecord, live_endpoints: usize) -> bool {
    f.iter().all(|(k, vals)| {
        if vals.is_empty() {
            return true;
        }
        match k.as_str() {
            "name" => vals.iter().any(|v| rec.name.contains(v.as_str())),
            "id" => vals.iter().any(|v| rec.id.contains(v.as_str())),
            "driver" => vals.contains(&rec.driver),
            "scope" => vals.contains(&rec.scope),
            "type" => vals.iter().any(|v| (v == "builtin") == rec.predefined),
            "dangling" => vals.iter().any(|v| parse_bool(v) == Some(!rec.predefined && live_endpoints == 0)),
            "label" => vals.iter().all(|v| has_label(rec, v)),
            "label!" => !vals.iter().any(|v| has_label(rec, v)),
            _ => false,
        }
    })
}

fn has_label(rec: &NetworkRecord, v: &str) -> bool {
    match v.split_once('=') {
        Some((k, val)) => rec.labels.get(k).is_some_and(|x| x == val),
        None => rec.labels.contains_key(v),
    }
}

#[cfg(test)]
mod tests {
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
        let mut out = Filters::new();
        for (k, v) in pairs {
            out.entry(k.to_string()).or_default().push(v.to_string());
        }
        out
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
    }

    #[test]
    fn unknown_keys_and_bad_values_are_refused() {
        assert_eq!(validate(&f(&[("colour", "x")])).unwrap_err(), "invalid filter 'colour'");
        assert!(validate(&f(&[("type", "weird")])).is_err());
        assert!(validate(&f(&[("dangling", "maybe")])).is_err());
        assert!(validate(&f(&[("name", "a"), ("label", "k=v"), ("type", "custom")])).is_ok());
    }
}
