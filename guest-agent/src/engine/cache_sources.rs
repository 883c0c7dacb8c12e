//! The `--cache-from` images of a build as the cache lookup reads them:
//! each named image the store has, with its config's history and diffIDs,
//! and moby's test of whether such an image continues a step's parent.
//!
//! Owns reading those images; it must never decide a step's cache hit
//! (`build_cache.rs` does) nor know the build it serves.

use serde_json::Value;

use crate::image::store::{ImageRecord, Store};

/// A `--cache-from` image: its record, and its config's history and rootfs.
pub(super) struct CacheSource {
    pub(super) record: ImageRecord,
    pub(super) history: Vec<Value>,
    pub(super) diff_ids: Vec<String>,
}

/// An image's history entries and diffIDs, from its config.
/// The error is the message a build step fails with.
pub(super) fn history_of(store: &Store, rec: &ImageRecord) -> Result<(Vec<Value>, Vec<String>), String> {
    let blob = store.read_blob(&rec.id).map_err(|e| format!("image {}: {e}", rec.id))?;
    let cfg: Value =
        serde_json::from_slice(&blob).map_err(|e| format!("image {} has an unreadable config: {e}", rec.id))?;
    let history = cfg.get("history").and_then(Value::as_array).cloned().unwrap_or_default();
    let diff_ids = cfg
        .pointer("/rootfs/diff_ids")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
        .unwrap_or_default();
    Ok((history, diff_ids))
}

/// The named images the store has; a name it lacks is skipped, as moby's.
pub(super) fn sources(store: &Store, names: &[String]) -> Vec<CacheSource> {
    let mut out = Vec::new();
    for name in names {
        let Ok(record) = store.resolve(name) else {
            tracing::info!(image = %name, "a --cache-from image is not here; skipped");
            continue;
        };
        match history_of(store, &record) {
            Ok((history, diff_ids)) => out.push(CacheSource { record, history, diff_ids }),
            Err(e) => tracing::warn!(image = %name, error = %e, "a --cache-from image cannot be read; skipped"),
        }
    }
    out
}

/// moby's `isValidParent`: `img`'s history and rootfs start with the
/// parent's (no parent: any image with a history).
pub(super) fn starts_with(src: &CacheSource, parent: Option<&(Vec<Value>, Vec<String>)>) -> bool {
    let Some((history, diff_ids)) = parent else { return !src.history.is_empty() };
    src.history.len() > history.len()
        && src.diff_ids.len() >= diff_ids.len()
        && src.history[..history.len()] == history[..]
        && src.diff_ids[..diff_ids.len()] == diff_ids[..]
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::image::digest::Digest;

    fn src(history: &[&str], diff_ids: &[&str]) -> CacheSource {
        CacheSource {
            record: ImageRecord {
                id: Digest::parse(&format!("sha256:{}", "a".repeat(64))).unwrap(),
                manifest: Digest::parse(&format!("sha256:{}", "b".repeat(64))).unwrap(),
                manifest_media_type: String::new(),
                config_media_type: String::new(),
                layers: Vec::new(),
                stored_at: 0,
                parent: None,
            },
            history: history.iter().map(|c| json!({"created_by": c})).collect(),
            diff_ids: diff_ids.iter().map(|d| d.to_string()).collect(),
        }
    }

    #[test]
    fn a_source_continues_a_parent_whose_history_and_layers_it_starts_with() {
        let s = src(&["base", "ENV A=1", "RUN touch x"], &["l1", "l2"]);
        let parent = |h: &[&str], d: &[&str]| {
            (h.iter().map(|c| json!({"created_by": c})).collect::<Vec<_>>(), d.iter().map(|x| x.to_string()).collect())
        };
        assert!(starts_with(&s, None));
        assert!(starts_with(&s, Some(&parent(&["base"], &["l1"]))));
        assert!(starts_with(&s, Some(&parent(&["base", "ENV A=1"], &["l1"]))));
        assert!(!starts_with(&s, Some(&parent(&["base", "ENV A=2"], &["l1"]))), "another history");
        assert!(!starts_with(&s, Some(&parent(&["base"], &["l9"]))), "another layer");
        assert!(!starts_with(&s, Some(&parent(&["base", "ENV A=1", "RUN touch x"], &["l1", "l2"]))), "no next step");
        assert!(!starts_with(&src(&[], &[]), None), "an image without history stands in for nothing");
    }
}
