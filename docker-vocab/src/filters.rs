//! Docker's `filters`: the query parameter of every list and prune
//! endpoint and the `--filter k=v` flags that build it, modelled on moby's
//! `api/types/filters.Args` (a set of values per key).
//!
//! Wire form: `{"label":{"a=b":true}}` (what docker ≥ 1.22 sends) or the
//! legacy `{"label":["a=b"]}` (what older clients and bollard send); both
//! are read, the first is written. Matching follows moby:
//! - keys AND together; values of one key OR together ([`Filters::exact_match`],
//!   [`Filters::fuzzy_match`]),
//! - EXCEPT `label` and `label!` ([`Filters::match_labels`]): every `label`
//!   value must hold (`label=a=1` + `label=b=1` selects only objects with
//!   both; `label=k` means the key exists, `label=k=` that its value is
//!   empty), and an object is excluded when every `label!` value holds,
//! - booleans as `GetBoolOrDefault` reads them (`true|1|false|0`, a
//!   conflict is an error), and a prune's single `until` time.
//!
//! Label matching lives here and nowhere else. This module owns parsing,
//! serialising, key validation (`invalid filter 'x'`, Docker's words) and
//! these generic rules; it must never know an endpoint's objects: callers
//! say which keys they accept and what each object's fields are.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::BuildHasher;

use chrono::{DateTime, FixedOffset, Utc};
use serde_json::Value;

use crate::time::{self, TimeError};

/// A set of values per key; empty sets are allowed (a key given with no
/// value), as in moby.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filters {
    fields: BTreeMap<String, BTreeSet<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    /// moby's `invalidFilter`: `invalid filter 'k'` for a key the endpoint
    /// does not take, `invalid filter 'k=v'` for a value it cannot use.
    #[error("invalid filter '{key}{}'", .values.as_ref().map(|v| format!("={}", v.join(","))).unwrap_or_default())]
    Invalid { key: String, values: Option<Vec<String>> },
    /// The `filters` parameter is not JSON of either form.
    #[error("invalid filter: {0}")]
    Json(String),
    /// The docker CLI's message for a `--filter` without `=`.
    #[error("bad format of filter (expected name=value)")]
    Format(String),
    #[error("more than one until filter specified")]
    TooManyUntil,
    #[error(transparent)]
    Time(#[from] TimeError),
}

impl FilterError {
    pub fn key(key: &str) -> Self {
        FilterError::Invalid { key: key.to_string(), values: None }
    }

    pub fn value(key: &str, value: &str) -> Self {
        FilterError::Invalid { key: key.to_string(), values: Some(vec![value.to_string()]) }
    }
}

/// What labels a filtered object has. Implemented for the maps berth keeps
/// labels in and for a JSON object (an image config's `Labels`).
pub trait Labels {
    fn label(&self, key: &str) -> Option<&str>;
}

impl<S: BuildHasher> Labels for HashMap<String, String, S> {
    fn label(&self, key: &str) -> Option<&str> {
        self.get(key).map(String::as_str)
    }
}

impl Labels for BTreeMap<String, String> {
    fn label(&self, key: &str) -> Option<&str> {
        self.get(key).map(String::as_str)
    }
}

/// A JSON object of string values; anything else has no labels.
impl Labels for Value {
    fn label(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(Value::as_str)
    }
}

impl<T: Labels + ?Sized> Labels for &T {
    fn label(&self, key: &str) -> Option<&str> {
        (**self).label(key)
    }
}

impl<T: Labels> Labels for Option<T> {
    fn label(&self, key: &str) -> Option<&str> {
        self.as_ref().and_then(|l| l.label(key))
    }
}

/// One `label` value against an object: `k` means the key exists, `k=v`
/// that its value is `v` (moby's `MatchKVList` test for one value).
pub fn label_holds(spec: &str, labels: &impl Labels) -> bool {
    match spec.split_once('=') {
        Some((k, v)) => labels.label(k) == Some(v),
        None => labels.label(spec).is_some(),
    }
}

impl Filters {
    pub fn new() -> Self {
        Filters::default()
    }

    /// moby's `FromJSON`: the set form first, then the legacy list form;
    /// `""` is no filters. A `false` in the set form is no value.
    pub fn from_json(s: &str) -> Result<Self, FilterError> {
        if s.is_empty() {
            return Ok(Filters::new());
        }
        let v: Value = serde_json::from_str(s).map_err(|e| FilterError::Json(e.to_string()))?;
        let Value::Object(obj) = v else {
            return Err(FilterError::Json(format!("expected a JSON object, got {s:?}")));
        };
        let mut out = Filters::new();
        for (key, vals) in obj {
            let set = out.fields.entry(key.clone()).or_default();
            match vals {
                Value::Object(m) => {
                    for (v, on) in m {
                        match on {
                            Value::Bool(true) => {
                                set.insert(v);
                            }
                            Value::Bool(false) => {}
                            _ => return Err(FilterError::Json(format!("values of {key:?} must be true or false"))),
                        }
                    }
                }
                Value::Array(a) => {
                    for v in a {
                        match v {
                            Value::String(v) => {
                                set.insert(v);
                            }
                            _ => return Err(FilterError::Json(format!("values of {key:?} must be strings"))),
                        }
                    }
                }
                Value::Null => {}
                _ => return Err(FilterError::Json(format!("values of {key:?} must be a list or a set"))),
            }
        }
        Ok(out)
    }

    /// The `filters` query parameter: absent or blank is no filters.
    pub fn from_query(s: Option<&str>) -> Result<Self, FilterError> {
        match s.map(str::trim) {
            None | Some("") => Ok(Filters::new()),
            Some(s) => Filters::from_json(s),
        }
    }

    /// The docker CLI's `--filter` flags (`opts.FilterOpt`): `name=value`,
    /// the name trimmed and lower-cased, the value trimmed; empty flags
    /// are ignored.
    pub fn from_cli_args<S: AsRef<str>>(items: &[S]) -> Result<Self, FilterError> {
        let mut out = Filters::new();
        for item in items {
            let item = item.as_ref();
            if item.is_empty() {
                continue;
            }
            let (k, v) = item.split_once('=').ok_or_else(|| FilterError::Format(item.to_string()))?;
            out.add(&k.trim().to_lowercase(), v.trim());
        }
        Ok(out)
    }

    pub fn add(&mut self, key: &str, value: &str) {
        self.fields.entry(key.to_string()).or_default().insert(value.to_string());
    }

    /// [`Filters::add`] as a builder.
    pub fn with(mut self, key: &str, value: &str) -> Self {
        self.add(key, value);
        self
    }

    /// moby's `ToJSON`: `""` for no filters, else the set form.
    pub fn to_json(&self) -> String {
        if self.fields.is_empty() {
            return String::new();
        }
        let obj: serde_json::Map<String, Value> = self
            .fields
            .iter()
            .map(|(k, vals)| (k.clone(), Value::Object(vals.iter().map(|v| (v.clone(), Value::Bool(true))).collect())))
            .collect();
        Value::Object(obj).to_string()
    }

    /// The legacy list form as a map, for clients (bollard) that take one.
    pub fn to_lists(&self) -> HashMap<String, Vec<String>> {
        self.fields.iter().map(|(k, v)| (k.clone(), v.iter().cloned().collect())).collect()
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    pub fn len(&self) -> usize {
        self.fields.len()
    }

    pub fn contains(&self, key: &str) -> bool {
        self.fields.contains_key(key)
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.fields.keys().map(String::as_str)
    }

    /// The values of `key`, sorted; none when it is absent.
    pub fn get(&self, key: &str) -> Vec<&str> {
        self.fields.get(key).map(|s| s.iter().map(String::as_str).collect()).unwrap_or_default()
    }

    /// Keys and their values, sorted by key.
    pub fn iter(&self) -> impl Iterator<Item = (&str, Vec<&str>)> {
        self.fields.iter().map(|(k, v)| (k.as_str(), v.iter().map(String::as_str).collect()))
    }

    /// moby's `Validate`: every key must be one the endpoint accepts.
    pub fn validate(&self, accepted: &[&str]) -> Result<(), FilterError> {
        match self.fields.keys().find(|k| !accepted.contains(&k.as_str())) {
            Some(k) => Err(FilterError::key(k)),
            None => Ok(()),
        }
    }

    /// moby's `ExactMatch`: no values for `key`, or `source` is one of them.
    pub fn exact_match(&self, key: &str, source: &str) -> bool {
        self.fields.get(key).is_none_or(|vals| vals.is_empty() || vals.contains(source))
    }

    /// moby's `FuzzyMatch`: [`Filters::exact_match`], or a value is a
    /// prefix of `source` (how IDs are matched).
    pub fn fuzzy_match(&self, key: &str, source: &str) -> bool {
        self.exact_match(key, source)
            || self.fields.get(key).is_some_and(|vals| vals.iter().any(|v| source.starts_with(v.as_str())))
    }

    /// Whether any value of `key` satisfies `pred`, or `key` has none: the
    /// OR of one key's values for endpoint-specific tests (names, statuses).
    pub fn any_value(&self, key: &str, pred: impl Fn(&str) -> bool) -> bool {
        self.fields.get(key).is_none_or(|vals| vals.is_empty() || vals.iter().any(|v| pred(v)))
    }

    /// moby's `MatchKVList`: every value of `key` holds for `labels`
    /// ([`label_holds`]), or `key` has none.
    pub fn match_kv_list(&self, key: &str, labels: &impl Labels) -> bool {
        self.fields.get(key).is_none_or(|vals| vals.iter().all(|v| label_holds(v, labels)))
    }

    /// `label` and `label!` together, as moby's prune and list code
    /// applies them: every `label` holds, and not every `label!` does.
    pub fn match_labels(&self, labels: &impl Labels) -> bool {
        let excluded =
            self.fields.get("label!").is_some_and(|vals| !vals.is_empty() && self.match_kv_list("label!", labels));
        self.match_kv_list("label", labels) && !excluded
    }

    /// moby's `GetBoolOrDefault`: `default` when `key` is absent; `true`/`1`
    /// or `false`/`0`; no value, neither, or both are `invalid filter`.
    pub fn bool_or_default(&self, key: &str, default: bool) -> Result<bool, FilterError> {
        let Some(vals) = self.fields.get(key) else {
            return Ok(default);
        };
        if vals.is_empty() {
            return Err(FilterError::key(key));
        }
        let is_false = vals.contains("0") || vals.contains("false");
        let is_true = vals.contains("1") || vals.contains("true");
        if is_false == is_true {
            return Err(FilterError::Invalid { key: key.to_string(), values: Some(vals.iter().cloned().collect()) });
        }
        Ok(is_true)
    }

    /// A prune's `until` (moby's `getUntilFromPruneFilters`): at most one
    /// value, read by [`time::get_timestamp`] against `now` (a Go duration
    /// counts back from it; zone-less times are in its zone).
    pub fn until(&self, now: DateTime<FixedOffset>) -> Result<Option<DateTime<Utc>>, FilterError> {
        let Some(vals) = self.fields.get("until") else {
            return Ok(None);
        };
        let mut it = vals.iter();
        match (it.next(), it.next()) {
            (_, Some(_)) => Err(FilterError::TooManyUntil),
            (Some(v), None) => Ok(Some(time::get_timestamp(v, now)?)),
            (None, None) => Err(FilterError::key("until")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Pairs<'a> = &'a [(&'a str, &'a str)];

    fn f(pairs: &[(&str, &str)]) -> Filters {
        pairs.iter().fold(Filters::new(), |f, (k, v)| f.with(k, v))
    }

    fn labels(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn both_json_forms_parse_and_the_set_form_is_written() {
        let a = Filters::from_json(r#"{"status":["running","exited"],"label":{"a=b":true,"off":false}}"#).unwrap();
        assert_eq!(a.get("status"), ["exited", "running"]);
        assert_eq!(a.get("label"), ["a=b"]);
        assert_eq!(a.to_json(), r#"{"label":{"a=b":true},"status":{"exited":true,"running":true}}"#);
        assert_eq!(Filters::from_json(&a.to_json()).unwrap(), a);
        assert_eq!(a.to_lists()["status"], ["exited", "running"]);
        assert_eq!(Filters::new().to_json(), "");
        assert!(Filters::from_json("").unwrap().is_empty());
        assert!(Filters::from_query(None).unwrap().is_empty());
        assert!(Filters::from_query(Some("  ")).unwrap().is_empty());
        assert!(Filters::from_json(r#"{"dangling":null}"#).unwrap().contains("dangling"));
        for bad in ["[1]", "{bad", r#"{"status":"running"}"#, r#"{"a":[1]}"#, r#"{"a":{"b":"yes"}}"#] {
            assert!(matches!(Filters::from_json(bad), Err(FilterError::Json(_))), "{bad}");
        }
    }

    #[test]
    fn cli_flags_build_filters_as_the_docker_cli() {
        let a = Filters::from_cli_args(&["dangling=true", "label=a=b", " Label = c ", ""]).unwrap();
        assert_eq!(a.get("dangling"), ["true"]);
        assert_eq!(a.get("label"), ["a=b", "c"]);
        let e = Filters::from_cli_args(&["dangling"]).unwrap_err();
        assert_eq!(e.to_string(), "bad format of filter (expected name=value)");
    }

    #[test]
    fn unknown_keys_get_dockers_message() {
        let a = f(&[("colour", "red"), ("label", "x")]);
        assert_eq!(a.validate(&["label"]).unwrap_err().to_string(), "invalid filter 'colour'");
        assert!(a.validate(&["label", "colour"]).is_ok());
        assert_eq!(FilterError::value("status", "sleeping").to_string(), "invalid filter 'status=sleeping'");
    }

    /// `label` and `label!`, table-driven: (filters, labels, selected).
    #[test]
    fn labels_all_hold_and_label_not_excludes_when_all_hold() {
        let obj = labels(&[("a", "1"), ("b", "1"), ("empty", "")]);
        let table: &[(Pairs, bool)] = &[
            (&[], true),
            (&[("label", "a")], true),
            (&[("label", "a=1")], true),
            (&[("label", "a=2")], false),
            (&[("label", "a=1"), ("label", "b=1")], true),
            (&[("label", "a=1"), ("label", "c=1")], false),
            (&[("label", "a=1"), ("label", "b=2")], false),
            (&[("label", "empty=")], true),
            (&[("label", "empty")], true),
            (&[("label", "a=")], false),
            (&[("label", "nope")], false),
            (&[("label!", "a=1")], false),
            (&[("label!", "a=2")], true),
            (&[("label!", "nope")], true),
            (&[("label!", "a")], false),
            // Excluded only when every label! value holds, as moby.
            (&[("label!", "a=1"), ("label!", "c=1")], true),
            (&[("label!", "a=1"), ("label!", "b=1")], false),
            (&[("label", "a"), ("label!", "b=2")], true),
            (&[("label", "a"), ("label!", "b=1")], false),
        ];
        for (pairs, want) in table {
            assert_eq!(f(pairs).match_labels(&obj), *want, "{pairs:?}");
        }
        let none: HashMap<String, String> = HashMap::new();
        assert!(!f(&[("label", "a")]).match_labels(&none));
        assert!(f(&[("label!", "a")]).match_labels(&none));
        let json = serde_json::json!({"a": "1"});
        assert!(f(&[("label", "a=1")]).match_labels(&json));
        assert!(!f(&[("label", "a=1")]).match_labels(&Value::Null));
    }

    /// Other keys: values of one key OR together, keys are independent.
    #[test]
    fn values_of_one_key_are_alternatives() {
        let table: &[(Pairs, &str, bool, bool)] = &[
            // (filters on "id", source, exact, fuzzy)
            (&[], "abcdef", true, true),
            (&[("id", "abcdef")], "abcdef", true, true),
            (&[("id", "abc")], "abcdef", false, true),
            (&[("id", "bcd")], "abcdef", false, false),
            (&[("id", "zzz"), ("id", "abc")], "abcdef", false, true),
            (&[("id", "zzz"), ("id", "abcdef")], "abcdef", true, true),
        ];
        for (pairs, source, exact, fuzzy) in table {
            let a = f(pairs);
            assert_eq!(a.exact_match("id", source), *exact, "{pairs:?}");
            assert_eq!(a.fuzzy_match("id", source), *fuzzy, "{pairs:?}");
        }
        let a = f(&[("name", "web"), ("name", "db")]);
        assert!(a.any_value("name", |v| "my-db-1".contains(v)));
        assert!(!a.any_value("name", |v| "cache".contains(v)));
        assert!(a.any_value("other", |_| false), "an absent key selects everything");
    }

    #[test]
    fn booleans_as_get_bool_or_default() {
        let table: &[(Pairs, Result<bool, &str>)] = &[
            (&[], Ok(true)),
            (&[("dangling", "true")], Ok(true)),
            (&[("dangling", "1")], Ok(true)),
            (&[("dangling", "false")], Ok(false)),
            (&[("dangling", "0")], Ok(false)),
            (&[("dangling", "true"), ("dangling", "1")], Ok(true)),
            (&[("dangling", "true"), ("dangling", "false")], Err("invalid filter 'dangling=false,true'")),
            (&[("dangling", "maybe")], Err("invalid filter 'dangling=maybe'")),
        ];
        for (pairs, want) in table {
            let got = f(pairs).bool_or_default("dangling", true).map_err(|e| e.to_string());
            assert_eq!(got, want.map_err(str::to_string), "{pairs:?}");
        }
        let empty = Filters::from_json(r#"{"dangling":[]}"#).unwrap();
        assert_eq!(empty.bool_or_default("dangling", false).unwrap_err().to_string(), "invalid filter 'dangling'");
    }

    #[test]
    fn prune_until_takes_one_time_or_duration() {
        let now = Utc::now().fixed_offset();
        assert_eq!(Filters::new().until(now), Ok(None));
        let at = |v: &str| f(&[("until", v)]).until(now).unwrap().unwrap();
        assert_eq!(at("1700000000").timestamp(), 1_700_000_000);
        assert_eq!(at("0"), DateTime::UNIX_EPOCH);
        assert_eq!(at("2023-11-14T22:13:20Z").timestamp(), 1_700_000_000);
        assert_eq!(at("24h").timestamp(), (now - chrono::TimeDelta::hours(24)).timestamp());
        assert_eq!(at("1h30m").timestamp(), (now - chrono::TimeDelta::minutes(90)).timestamp());
        assert_eq!(at("1.5h").timestamp(), (now - chrono::TimeDelta::minutes(90)).timestamp());
        for bad in ["", "24x", "h", "yesterday"] {
            assert!(f(&[("until", bad)]).until(now).is_err(), "{bad:?}");
        }
        let two = f(&[("until", "1h"), ("until", "2h")]);
        assert_eq!(two.until(now).unwrap_err().to_string(), "more than one until filter specified");
    }
}
