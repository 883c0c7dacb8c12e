//! The `GET /containers/json` filters: which keys the endpoint takes, which
//! values are valid, and what each key means for a container. Parsing the
//! `filters` parameter and the generic rules (keys ANDed, values of a key
//! ORed, every `label` must hold) are the shared vocabulary's
//! (`docker_vocab::filters`). It must never look anything up itself (the
//! caller passes what a filter needs).

pub use docker_vocab::filters::Filters;

use super::record::ContainerRecord;
use super::state::Status;

/// The `filters` query parameter (either JSON form); absent is none.
const CONTAINER_KEYS: &[&str] = &[
    "id", "name", "label", "status", "ancestor", "exited", "before", "since", "volume", "network", "health", "publish",
    "expose", "is-task",
];

/// Rejects keys `GET /containers/json` does not know, and bad values, with
/// Docker's messages.
pub fn validate_container_filters(f: &Filters) -> Result<(), String> {
    f.validate(CONTAINER_KEYS).map_err(|e| e.to_string())?;
    for v in f.get("status") {
        if Status::parse(v).is_none() {
            return Err(format!("invalid filter 'status={v}'"));
        }
    }
    for v in f.get("health") {
        if !super::health::FILTER_VALUES.contains(&v) {
            return Err(format!(
                "invalid filter 'health={v}': invalid value for health ({v}): must be one of {}",
                super::health::FILTER_VALUES.join(", ")
            ));
        }
    }
    for v in f.get("exited") {
        if v.parse::<i64>().is_err() {
            return Err(format!("invalid filter 'exited={v}'"));
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
    let exited = |v: &str| r.state.status == Status::Exited && v.parse::<i64>().is_ok_and(|c| c == r.state.exit_code);
    f.match_labels(&r.labels())
        && f.fuzzy_match("id", &r.id)
        && f.any_value("name", |v| name_matches(v, &r.name))
        && f.exact_match("status", r.state.status.as_str())
        && f.any_value("exited", exited)
        && f.any_value("ancestor", |v| (cx.ancestor_matches)(v, r))
        && f.exact_match("is-task", "false")
        && f.any_value("network", |v| (cx.in_network)(v, r))
        // Docker ANDs `before`/`since`; each has one value.
        && f.get("before").iter().all(|v| (cx.created_of)(v).is_some_and(|c| r.created < c))
        && f.get("since").iter().all(|v| (cx.created_of)(v).is_some_and(|c| r.created > c))
        && f.exact_match("health", super::health::filter_word(r.state.health.as_ref()))
        // A volume by name or a mount by its destination (moby's).
        && f.any_value("volume", |v| r.mounts.iter().any(|m| m.volume() == Some(v) || m.destination() == v))
        // Ports are not modelled yet: nothing matches them, which is what
        // Docker answers for a container without any.
        && ["publish", "expose"].iter().all(|k| f.any_value(k, |_| false))
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

/// The filters of `containers/prune` and `networks/prune`: `until` (one
/// time or Go duration, as Docker's daemon reads it) and `label`/`label!`
/// (matched by the caller with [`Filters::match_labels`]); any other key
/// is an error, as Docker's.
pub fn prune_until(f: &Filters) -> Result<Option<chrono::DateTime<chrono::Utc>>, String> {
    f.validate(&["until", "label", "label!"]).map_err(|e| e.to_string())?;
    f.until(chrono::Local::now().fixed_offset()).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: Option<&str>) -> Result<Filters, String> {
        Filters::from_query(s).map_err(|e| e.to_string())
    }
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
        assert_eq!(f.get("status"), ["exited", "running"]);
        assert_eq!(f.get("label"), ["a=b"]);
        assert!(parse(None).unwrap().is_empty());
        assert!(parse(Some("")).unwrap().is_empty());
        assert!(parse(Some("[1]")).is_err());
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

    #[test]
    fn health_matches_the_state_and_none_without_one() {
        use crate::container::health::{Health, HealthStatus};
        let mut r = sample("abcdef", "web-1");
        let m = |s: &str, r: &ContainerRecord| matches(&parse(Some(s)).unwrap(), r, &cx());
        assert!(m(r#"{"health":["none"]}"#, &r));
        assert!(!m(r#"{"health":["healthy"]}"#, &r));
        r.state.health = Some(Health { status: HealthStatus::Healthy, failing_streak: 0, log: vec![] });
        assert!(m(r#"{"health":["healthy"]}"#, &r));
        assert!(m(r#"{"health":["starting","healthy"]}"#, &r));
        assert!(!m(r#"{"health":["unhealthy"]}"#, &r));
        let f = parse(Some(r#"{"health":["fine"]}"#)).unwrap();
        assert_eq!(
            validate_container_filters(&f).unwrap_err(),
            "invalid filter 'health=fine': invalid value for health (fine): must be one of none, starting, healthy, unhealthy"
        );
    }

    /// Docker's label semantics: every `label` value must hold (the values
    /// of other keys are alternatives).
    #[test]
    fn every_label_must_hold() {
        let mut r = sample("abcdef", "web-1");
        r.config.labels = Some([("a".to_string(), "1".to_string()), ("b".to_string(), "1".to_string())].into());
        let table: &[(&str, bool)] = &[
            (r#"{"label":["a=1"]}"#, true),
            (r#"{"label":["a=1","b=1"]}"#, true),
            (r#"{"label":{"a=1":true,"b=1":true}}"#, true),
            (r#"{"label":["a=1","c=1"]}"#, false),
            (r#"{"label":["a=1","b=2"]}"#, false),
            (r#"{"label":["a","b"]}"#, true),
            (r#"{"label":["a","c"]}"#, false),
        ];
        for (json, want) in table {
            assert_eq!(matches(&parse(Some(json)).unwrap(), &r, &cx()), *want, "{json}");
        }
    }

    #[test]
    fn prune_takes_until_and_labels_only() {
        let until = |s: &str| prune_until(&parse(Some(s)).unwrap());
        assert_eq!(until(r#"{"until":["1700000000"]}"#).unwrap().unwrap().timestamp(), 1_700_000_000);
        let ago = (chrono::Utc::now() - until(r#"{"until":["1h30m"]}"#).unwrap().unwrap()).num_seconds();
        assert!((5399..=5405).contains(&ago), "{ago}");
        assert_eq!(until(r#"{"label":["a"],"label!":["b"]}"#), Ok(None));
        assert_eq!(until(r#"{"dangling":["true"]}"#).unwrap_err(), "invalid filter 'dangling'");
        assert_eq!(until(r#"{"until":["1h","2h"]}"#).unwrap_err(), "more than one until filter specified");
        assert!(until(r#"{"until":["yesterday"]}"#).is_err());
    }
}
