//! Stored images as Docker shows them: the summaries of `GET /images/json`
//! and the filters that select them, the inspect view and the history, in
//! Docker's models (`bollard_stubs`), with familiar names (`busybox:latest`,
//! not `docker.io/library/busybox:latest`).
//!
//! Owns those read-only views and which images a list filter selects; it
//! must never change the store (removal.rs does that) nor speak HTTP.

use std::collections::HashMap;

use bollard_stubs::models::{
    DriverData, HistoryResponseItem, ImageConfig, ImageInspect, ImageInspectMetadata, ImageInspectRootFs,
    ImageSummary as DockerSummary,
};
use serde_json::Value;

use super::reference::ImageRef;
use super::store::{ImageRecord, ImageSummary, Store, StoreError};
use docker_vocab::filters::Filters;

/// A reference as the docker CLI prints it: `busybox:latest`, `x@sha256:…`.
pub fn familiar(r: &ImageRef) -> String {
    match (&r.tag, &r.digest) {
        (_, Some(d)) => format!("{}@{d}", r.familiar_name()),
        (Some(t), None) => format!("{}:{t}", r.familiar_name()),
        (None, None) => r.familiar_name(),
    }
}

/// Familiar forms of canonical reference keys (unparseable ones are left out).
pub fn familiar_keys(keys: &[String]) -> Vec<String> {
    keys.iter().filter_map(|k| ImageRef::parse(k).ok()).map(|r| familiar(&r)).collect()
}

/// The image's config blob as JSON (`Null` if it cannot be read).
pub fn config_json(store: &Store, rec: &ImageRecord) -> Value {
    store.read_blob(&rec.id).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or(Value::Null)
}

/// Sum of the layers as distributed (compressed).
pub fn size(rec: &ImageRecord) -> i64 {
    rec.layers.iter().map(|l| l.size).sum::<u64>().try_into().unwrap_or(i64::MAX)
}

/// An RFC 3339 time (UTC or with an offset) as Unix seconds.
pub fn unix_seconds(s: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(s).ok().map(|t| t.timestamp())
}

/// When the image was created (its config's `created`), or when this
/// engine stored it if the config does not say.
pub fn created(config: &Value, rec: &ImageRecord) -> i64 {
    config.get("created").and_then(Value::as_str).and_then(unix_seconds).unwrap_or(rec.stored_at as i64)
}

/// `config.Labels` with string values.
pub fn labels(config: &Value) -> HashMap<String, String> {
    let Some(obj) = config.pointer("/config/Labels").and_then(Value::as_object) else {
        return HashMap::new();
    };
    obj.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string()))).collect()
}

/// Dangling as Docker means it: no reference at all, tag or digest (an
/// image pulled by digest is not dangling).
pub fn dangling(s: &ImageSummary) -> bool {
    s.tags.is_empty() && s.repo_digests.is_empty()
}

/// The summary `GET /images/json` lists.
pub fn summary(store: &Store, s: &ImageSummary) -> DockerSummary {
    let config = config_json(store, &s.record);
    DockerSummary {
        id: s.record.id.to_string(),
        parent_id: s.record.parent.as_ref().map(ToString::to_string).unwrap_or_default(),
        repo_tags: familiar_keys(&s.tags),
        repo_digests: familiar_keys(&s.repo_digests),
        created: created(&config, &s.record),
        size: size(&s.record),
        shared_size: -1,
        virtual_size: Some(size(&s.record)),
        labels: labels(&config),
        containers: -1,
        ..Default::default()
    }
}

/// What `GET /images/json` filters on, checked once: `dangling`,
/// `reference` (a glob on the familiar name or name:tag), `label` (`k` or
/// `k=v`; several must all hold), `before`/`since` (created before or after
/// the image named).
pub struct ListFilter {
    dangling: Option<bool>,
    reference: Vec<String>,
    labels: Filters,
    before: Option<i64>,
    since: Option<i64>,
}

/// A filter key or value Docker refuses (400), or an image named by
/// `before`/`since` that does not exist (404).
#[derive(Debug, thiserror::Error)]
pub enum FilterError {
    #[error("invalid filter '{0}'")]
    Invalid(String),
    /// An `until` Docker cannot read (the message says which forms work).
    #[error("{0}")]
    Until(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl FilterError {
    pub fn kind(&self) -> crate::error_kind::ErrorKind {
        match self {
            FilterError::Invalid(_) | FilterError::Until(_) => crate::error_kind::ErrorKind::Invalid,
            FilterError::Store(e) => e.kind(),
        }
    }
}

/// `dangling=true|1` or `false|0`, as Docker spells it.
pub fn dangling_value(values: &[&str]) -> Result<Option<bool>, FilterError> {
    match values.first().copied() {
        None => Ok(None),
        Some("true" | "1") => Ok(Some(true)),
        Some("false" | "0") => Ok(Some(false)),
        Some(other) => Err(FilterError::Invalid(format!("dangling={other}"))),
    }
}

impl ListFilter {
    pub fn new(store: &Store, f: &Filters) -> Result<ListFilter, FilterError> {
        let created_of = |values: &[&str]| -> Result<Option<i64>, FilterError> {
            let Some(name) = values.first() else { return Ok(None) };
            let rec = store.resolve(name)?;
            Ok(Some(created(&config_json(store, &rec), &rec)))
        };
        let mut out =
            ListFilter { dangling: None, reference: Vec::new(), labels: Filters::new(), before: None, since: None };
        for (key, values) in f.iter() {
            match key {
                "dangling" => out.dangling = dangling_value(&values)?,
                "reference" => out.reference = values.iter().map(|v| v.to_string()).collect(),
                "label" => values.iter().for_each(|v| out.labels.add(key, v)),
                "before" => out.before = created_of(&values)?,
                "since" => out.since = created_of(&values)?,
                other => return Err(FilterError::Invalid(other.to_string())),
            }
        }
        Ok(out)
    }

    /// Does the listed image pass? (`view` is its [`summary`].)
    pub fn matches(&self, s: &ImageSummary, view: &DockerSummary) -> bool {
        if self.dangling.is_some_and(|d| d != dangling(s)) {
            return false;
        }
        if !self.reference.is_empty() {
            let names: Vec<String> = view
                .repo_tags
                .iter()
                .flat_map(|t| [t.clone(), t.rsplit_once(':').map(|(n, _)| n.to_string()).unwrap_or_default()])
                .chain(
                    view.repo_digests.iter().flat_map(|d| [d.clone(), d.split('@').next().unwrap_or("").to_string()]),
                )
                .collect();
            if !self.reference.iter().any(|pat| names.iter().any(|n| docker_vocab::patterns::matches(pat, n))) {
                return false;
            }
        }
        self.labels.match_labels(&view.labels)
            && self.before.is_none_or(|b| view.created < b)
            && self.since.is_none_or(|t| view.created > t)
    }
}

/// `GET /images/{name}/json`: Docker's inspect model with the
/// `ContainerConfig` docker-compose 1.29 reads (API < 1.45 sent it; the
/// model no longer has it).
#[derive(Debug, serde::Serialize)]
pub struct ImageView {
    #[serde(flatten)]
    pub inspect: ImageInspect,
    #[serde(rename = "ContainerConfig")]
    pub container_config: ImageConfig,
}

fn typed_config(v: Option<&Value>) -> Option<ImageConfig> {
    let v = v.filter(|c| !c.is_null())?;
    match serde_json::from_value(v.clone()) {
        Ok(c) => Some(c),
        Err(e) => {
            tracing::warn!(error = %e, "an image config Docker's model cannot hold");
            None
        }
    }
}

pub fn inspect(store: &Store, rec: &ImageRecord) -> Result<ImageView, StoreError> {
    let summary = store
        .list()
        .into_iter()
        .find(|s| s.record.id == rec.id)
        .ok_or_else(|| StoreError::NotFound(rec.id.to_string()))?;
    let config = config_json(store, rec);
    let text = |key: &str| Some(config.get(key).and_then(Value::as_str).unwrap_or_default().to_string());
    let mut image_config = typed_config(config.get("config")).unwrap_or_default();
    // Docker's image Config always has the key (clients index it, e.g.
    // docker-py's build tests check `not Config['OnBuild']`).
    image_config.on_build.get_or_insert_with(Vec::new);
    let container_config = typed_config(config.get("container_config")).unwrap_or_else(|| image_config.clone());
    let lowers: Vec<String> = store.lower_dirs(rec).iter().map(|p| p.display().to_string()).collect();
    let inspect = ImageInspect {
        id: Some(rec.id.to_string()),
        repo_tags: Some(familiar_keys(&summary.tags)),
        repo_digests: Some(familiar_keys(&summary.repo_digests)),
        parent: Some(rec.parent.as_ref().map(ToString::to_string).unwrap_or_default()),
        comment: text("comment"),
        created: text("created"),
        docker_version: text("docker_version"),
        author: text("author"),
        config: Some(image_config),
        architecture: text("architecture"),
        os: text("os"),
        size: Some(size(rec)),
        virtual_size: Some(size(rec)),
        graph_driver: Some(DriverData {
            name: "overlay2".into(),
            data: HashMap::from([("LowerDir".to_string(), lowers.join(":"))]),
        }),
        root_fs: Some(ImageInspectRootFs {
            typ: "layers".into(),
            layers: Some(rec.layers.iter().map(|l| l.diff_id.to_string()).collect()),
        }),
        // Go's zero time, as Docker sends for an image never tagged here.
        metadata: Some(ImageInspectMetadata { last_tag_time: Some("0001-01-01T00:00:00Z".into()) }),
        ..Default::default()
    };
    Ok(ImageView { inspect, container_config })
}

/// `GET /images/{name}/history`: newest first, one entry per history line;
/// only the top entry carries the image ID and tags, as in Docker.
pub fn history(store: &Store, rec: &ImageRecord) -> Vec<HistoryResponseItem> {
    let config = config_json(store, rec);
    let entries = config.get("history").and_then(Value::as_array).cloned().unwrap_or_default();
    let mut layers = rec.layers.iter();
    let text = |h: &Value, key: &str| h.get(key).and_then(Value::as_str).unwrap_or_default().to_string();
    let mut out: Vec<HistoryResponseItem> = entries
        .iter()
        .map(|h| {
            let empty = h.get("empty_layer").and_then(Value::as_bool).unwrap_or(false);
            let size = if empty { 0 } else { layers.next().map_or(0, |l| l.size) };
            HistoryResponseItem {
                id: "<missing>".into(),
                created: h.get("created").and_then(Value::as_str).and_then(unix_seconds).unwrap_or(0),
                created_by: text(h, "created_by"),
                tags: Vec::new(),
                size: size.try_into().unwrap_or(i64::MAX),
                comment: text(h, "comment"),
            }
        })
        .collect();
    out.reverse();
    if let Some(top) = out.first_mut() {
        top.id = rec.id.to_string();
        top.tags = store
            .list()
            .into_iter()
            .find(|s| s.record.id == rec.id)
            .map(|s| familiar_keys(&s.tags))
            .unwrap_or_default();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use docker_vocab::patterns::matches as glob;

    #[test]
    fn glob_matches_like_go_path_match() {
        assert!(glob("busy*", "busybox:latest"));
        assert!(glob("shop/*", "shop/web"));
        assert!(!glob("*", "shop/web"));
        assert!(glob("b?sybox", "busybox"));
        assert!(!glob("b?sybox", "b/sybox") && !glob("busy", "busybox") && glob("", "") && glob("*", ""));
        assert!(glob("*/*:*", "shop/web:1") && !glob("*:*", "shop/web:1"));
    }

    /// Many `*` against a long name that almost matches: at once (the old
    /// matcher tried every split per `*`, which grows combinatorially).
    #[test]
    fn glob_with_many_stars_is_linear_in_the_pattern() {
        let started = std::time::Instant::now();
        let name = "a".repeat(200);
        assert!(!glob(&format!("{}b", "*a".repeat(30)), &name));
        assert!(glob(&"*a".repeat(30), &name));
        assert!(started.elapsed() < std::time::Duration::from_secs(2), "{:?}", started.elapsed());
    }

    #[test]
    fn created_times_parse_with_offsets() {
        assert_eq!(unix_seconds("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(unix_seconds("2024-10-25T12:00:00.123456789+02:00"), Some(1_729_850_400));
        assert_eq!(unix_seconds("yesterday"), None);
    }

    #[test]
    fn dangling_takes_dockers_spellings() {
        assert_eq!(dangling_value(&["1"]).unwrap(), Some(true));
        assert_eq!(dangling_value(&["false"]).unwrap(), Some(false));
        assert_eq!(dangling_value(&[]).unwrap(), None);
        assert_eq!(dangling_value(&["maybe"]).unwrap_err().to_string(), "invalid filter 'dangling=maybe'");
    }
}
