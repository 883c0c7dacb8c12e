//! `GET /volumes?filters=` and `POST /volumes/prune?filters=`: which keys
//! each takes and what each means for a volume (moby's volume service:
//! `name` a substring, `driver` exact, `dangling` unused by any container,
//! `label`/`label!` by the shared rules; a prune's `all`). Parsing and the
//! generic rules (keys ANDed, values ORed, every `label` must hold) are
//! `docker_vocab::filters`'. It must never look anything up.

pub use docker_vocab::filters::{FilterError, Filters};

use super::VolumeRecord;

const LIST_KEYS: &[&str] = &["dangling", "name", "driver", "label", "label!"];
const PRUNE_KEYS: &[&str] = &["label", "label!", "all"];

/// Refuses what `GET /volumes` does not take.
pub fn validate_list(f: &Filters) -> Result<(), FilterError> {
    f.validate(LIST_KEYS)?;
    f.bool_or_default("dangling", false)?;
    Ok(())
}

/// Does `rec` pass the list filters? `in_use`: does a container use it.
pub fn matches(f: &Filters, rec: &VolumeRecord, in_use: bool) -> bool {
    f.match_labels(&rec.labels)
        && f.any_value("name", |v| rec.name.contains(v))
        && f.exact_match("driver", &rec.driver)
        && f.bool_or_default("dangling", !in_use).is_ok_and(|d| d != in_use)
}

/// What a prune removes: unused volumes the label filters select, only
/// anonymous ones unless `all` (Docker API ≥ 1.42; older clients get
/// `all` by default). The returned predicate is "prune this one".
pub fn prune_selector(f: &Filters, all_by_default: bool) -> Result<impl Fn(&VolumeRecord) -> bool + '_, FilterError> {
    f.validate(PRUNE_KEYS)?;
    let all = f.bool_or_default("all", all_by_default)?;
    Ok(move |rec: &VolumeRecord| (all || rec.anonymous()) && f.match_labels(&rec.labels))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn rec(name: &str, labels: &[(&str, &str)]) -> VolumeRecord {
        VolumeRecord {
            name: name.into(),
            driver: "local".into(),
            created: String::new(),
            labels: labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            options: HashMap::new(),
        }
    }

    fn f(pairs: &[(&str, &str)]) -> Filters {
        pairs.iter().fold(Filters::new(), |f, (k, v)| f.with(k, v))
    }

    #[test]
    fn list_filters_as_moby() {
        let a = rec("alpha", &[("env", "prod"), ("team", "x")]);
        let b = rec("beta", &[("env", "dev")]);
        assert!(matches(&f(&[("name", "lph")]), &a, false));
        assert!(!matches(&f(&[("name", "lph")]), &b, false));
        // Every label value must hold (AND), unlike other keys.
        assert!(matches(&f(&[("label", "env=prod"), ("label", "team")]), &a, false));
        assert!(!matches(&f(&[("label", "env=prod"), ("label", "env=dev")]), &a, false));
        assert!(matches(&f(&[("label!", "env=prod")]), &b, false));
        assert!(matches(&f(&[("dangling", "true")]), &a, false));
        assert!(!matches(&f(&[("dangling", "true")]), &a, true));
        assert!(matches(&f(&[("dangling", "0")]), &a, true));
        assert!(matches(&f(&[("driver", "local")]), &a, true));
        assert!(!matches(&f(&[("driver", "nfs")]), &a, true));
        assert!(validate_list(&f(&[("colour", "red")])).is_err());
        assert!(validate_list(&f(&[("dangling", "maybe")])).is_err());
    }

    #[test]
    fn prune_takes_anonymous_ones_unless_all() {
        let named = rec("data", &[]);
        let anon = rec("0123", &[(crate::volume::ANONYMOUS_LABEL, "")]);
        let none = Filters::new();
        let sel = prune_selector(&none, false).unwrap();
        assert!(sel(&anon) && !sel(&named));
        let all = f(&[("all", "true")]);
        let sel = prune_selector(&all, false).unwrap();
        assert!(sel(&anon) && sel(&named));
        let old_client = prune_selector(&none, true).unwrap();
        assert!(old_client(&named));
        let labelled = f(&[("all", "1"), ("label", "keep")]);
        assert!(!prune_selector(&labelled, false).unwrap()(&named));
        assert!(prune_selector(&f(&[("name", "x")]), false).is_err());
    }
}
