//! `GET /images/json` and its filters.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use docker_vocab::filters::Filters as Args;
use serde_json::{Value, json};

use super::wire::{config_json, created_unix, familiar_digests, familiar_tags, size, store_error};
use crate::api::error::{ApiError, json_response};
use crate::api::registry_access::Images;

/// `GET /images/json?filters=…`: Docker's image summaries, filtered by
/// `dangling`, `reference` (glob on the familiar name or name:tag),
/// `label` (`key` or `key=value`), and `before`/`since` (images created
/// before or after the one named).
pub(super) async fn list(
    State(images): State<Arc<Images>>,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Response {
    let filters = match q.get("filters").map(|f| parse_filters(f)).transpose() {
        Ok(f) => f.unwrap_or_default(),
        Err(e) => return e.into_response(),
    };
    let created_of = |name: &str| -> Result<i64, ApiError> {
        let rec = images.store.resolve(name).map_err(store_error)?;
        let config = config_json(&images.store, &rec);
        Ok(created_unix(&config).unwrap_or(rec.stored_at as i64))
    };
    let before = match filters.before.as_deref().map(created_of).transpose() {
        Ok(t) => t,
        Err(e) => return e.into_response(),
    };
    let since = match filters.since.as_deref().map(created_of).transpose() {
        Ok(t) => t,
        Err(e) => return e.into_response(),
    };
    let out: Vec<Value> = images
        .store
        .list()
        .iter()
        .filter_map(|s| {
            let config = config_json(&images.store, &s.record);
            let labels = config.pointer("/config/Labels").cloned().filter(|l| l.is_object()).unwrap_or(json!({}));
            let tags = familiar_tags(s);
            if !filters.matches(&tags, &familiar_digests(s), &labels) {
                return None;
            }
            let created = created_unix(&config).unwrap_or(s.record.stored_at as i64);
            if before.is_some_and(|b| created >= b) || since.is_some_and(|t| created <= t) {
                return None;
            }
            Some(json!({
                "Id": s.record.id.to_string(),
                "ParentId": "",
                "RepoTags": tags,
                "RepoDigests": familiar_digests(s),
                "Created": created,
                "Size": size(&s.record),
                "SharedSize": -1,
                "VirtualSize": size(&s.record),
                "Labels": labels,
                "Containers": -1,
            }))
        })
        .collect();
    json_response(StatusCode::OK, &out)
}

#[derive(Default, Debug)]
pub(super) struct Filters {
    dangling: Option<bool>,
    reference: Vec<String>,
    /// The parsed filters, for the label test (every `label` must hold).
    args: Args,
    before: Option<String>,
    since: Option<String>,
}

impl Filters {
    /// Dangling as Docker means it: no reference at all, tag or digest (an
    /// image pulled by digest is not dangling).
    fn matches(&self, tags: &[String], digests: &[String], labels: &Value) -> bool {
        if let Some(d) = self.dangling
            && d != (tags.is_empty() && digests.is_empty())
        {
            return false;
        }
        if !self.reference.is_empty() {
            let names = tags
                .iter()
                .flat_map(|t| [t.clone(), t.rsplit_once(':').map(|(n, _)| n.to_string()).unwrap_or_default()])
                .chain(digests.iter().flat_map(|d| [d.clone(), d.split('@').next().unwrap_or("").to_string()]));
            let names: Vec<String> = names.collect();
            if !self.reference.iter().any(|pat| names.iter().any(|n| glob(pat, n))) {
                return false;
            }
        }
        self.args.match_labels(labels)
    }
}

pub(super) fn parse_filters(raw: &str) -> Result<Filters, ApiError> {
    let bad = |e: docker_vocab::filters::FilterError| ApiError::bad_request(e.to_string());
    let args = Args::from_json(raw).map_err(bad)?;
    args.validate(&["dangling", "reference", "label", "before", "since"]).map_err(bad)?;
    let dangling =
        if args.contains("dangling") { Some(args.bool_or_default("dangling", false).map_err(bad)?) } else { None };
    let first = |k: &str| args.get(k).first().map(|v| v.to_string());
    Ok(Filters {
        dangling,
        reference: args.get("reference").into_iter().map(str::to_string).collect(),
        before: first("before"),
        since: first("since"),
        args,
    })
}

/// Go's `path.Match` subset Docker's reference filter relies on: `*` is
/// any run of characters except `/`, `?` one such character.
pub(super) fn glob(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    fn go(p: &[char], n: &[char]) -> bool {
        match p.first() {
            None => n.is_empty(),
            Some('*') => (0..=n.len()).take_while(|&i| i == 0 || n[i - 1] != '/').any(|i| go(&p[1..], &n[i..])),
            Some('?') => n.first().is_some_and(|c| *c != '/') && go(&p[1..], &n[1..]),
            Some(c) => n.first() == Some(c) && go(&p[1..], &n[1..]),
        }
    }
    go(&p, &n)
}
