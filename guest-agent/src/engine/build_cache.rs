//! A build step's cache lookup, with the classic builder's rules: the
//! local index (same parent image, same step config), and with
//! `--cache-from` moby's `ImageCache` — a local hit counts only when it is
//! an ancestor of a named image, and a named image (pulled, so without
//! parents here) stands in for a step when its rootfs and history start
//! with the parent's and its next history entry is the step's command; the
//! step's image is then made from the parent and that one layer.
//!
//! Owns those lookups and the image a `--cache-from` hit restores. It must
//! never run a step nor write the cache index (the step's commit does).

use serde_json::Value;

use super::EngineError;
use super::build::{Build, StepFailed};
use crate::build::instructions::State;
use crate::image::commit::{self, ChildLayer, CommitOptions};
use crate::image::digest::Digest;
use crate::image::store::{ImageRecord, Store};

/// A `--cache-from` image: its record, and its config's history and rootfs.
pub(super) struct CacheSource {
    record: ImageRecord,
    history: Vec<Value>,
    diff_ids: Vec<String>,
}

/// An image's history entries and diffIDs, from its config.
fn history_of(store: &Store, rec: &ImageRecord) -> Result<(Vec<Value>, Vec<String>), StepFailed> {
    let blob = store.read_blob(&rec.id).map_err(EngineError::from)?;
    let cfg: Value = serde_json::from_slice(&blob)
        .map_err(|e| StepFailed { message: format!("image {} has an unreadable config: {e}", rec.id), code: None })?;
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
            Err(e) => tracing::warn!(image = %name, error = %e.message, "a --cache-from image cannot be read; skipped"),
        }
    }
    out
}

/// moby's `isValidParent`: `img`'s history and rootfs start with the
/// parent's (no parent: any image with a history).
fn starts_with(src: &CacheSource, parent: Option<&(Vec<Value>, Vec<String>)>) -> bool {
    let Some((history, diff_ids)) = parent else { return !src.history.is_empty() };
    src.history.len() > history.len()
        && src.diff_ids.len() >= diff_ids.len()
        && src.history[..history.len()] == history[..]
        && src.diff_ids[..diff_ids.len()] == diff_ids[..]
}

impl Build<'_> {
    /// The image that stands in for this step, if the cache has one.
    pub(super) async fn cached(&mut self, st: &State, config: &Value) -> Result<Option<String>, StepFailed> {
        if self.req.no_cache {
            return Ok(None);
        }
        let local = self
            .engine
            .build_cache
            .get(&cache_key(st, config))
            .and_then(|hit| self.engine.images.resolve(&hit).ok())
            .map(|r| r.id);
        // moby: with `cachefrom` given, local hits count only inside the
        // named images' chains, even when none of the names resolved.
        if self.req.cache_from.is_empty() {
            return Ok(local.map(|d| d.to_string()));
        }
        if let Some(hit) = local
            && self.sources.iter().any(|s| self.is_ancestor(&hit, &s.record))
        {
            return Ok(Some(hit.to_string()));
        }
        self.lookup_in_sources(st, config).await
    }

    /// `hit` is `img` or one of its parents.
    fn is_ancestor(&self, hit: &Digest, img: &ImageRecord) -> bool {
        let mut at = Some(img.clone());
        // A parent chain is as long as the image's history at most.
        for _ in 0..10_000 {
            let Some(rec) = at else { return false };
            if &rec.id == hit {
                return true;
            }
            at = rec.parent.and_then(|p| self.engine.images.resolve(&p.to_string()).ok());
        }
        false
    }

    /// moby's lookup in the `--cache-from` images by history.
    async fn lookup_in_sources(&mut self, st: &State, config: &Value) -> Result<Option<String>, StepFailed> {
        let store = self.engine.images.clone();
        let parent = match st.image.as_deref() {
            Some(id) => {
                let rec = store.resolve(id).map_err(EngineError::from)?;
                Some((rec.clone(), history_of(&store, &rec)?))
            }
            None => None,
        };
        let at = parent.as_ref().map_or(0, |(_, (h, _))| h.len());
        let created_by = config
            .get("Cmd")
            .and_then(Value::as_array)
            .map(|c| c.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(" "))
            .unwrap_or_default();
        let found = self.sources.iter().position(|s| {
            starts_with(s, parent.as_ref().map(|(_, h)| h))
                && s.history[at].get("created_by").and_then(Value::as_str).unwrap_or_default() == created_by
        });
        let Some(i) = found else { return Ok(None) };
        let src = &self.sources[i];
        if src.history.len() == at + 1 {
            return Ok(Some(src.record.id.to_string()));
        }
        let entry = &src.history[at];
        let empty = entry.get("empty_layer").and_then(Value::as_bool).unwrap_or(false);
        let parent_layers = parent.as_ref().map_or(0, |(_, (_, d))| d.len());
        let layer = match empty {
            true => None,
            false => Some(src.record.layers.get(parent_layers).cloned().ok_or_else(|| StepFailed {
                message: format!("--cache-from image {} lacks the layer its history names", src.record.id),
                code: None,
            })?),
        };
        let opts = CommitOptions {
            parent: parent.map(|(r, _)| r.id),
            config: Value::Object(st.config.clone()),
            container_config: config.clone(),
            container_id: String::new(),
            author: entry.get("author").and_then(Value::as_str).unwrap_or_default().to_string(),
            comment: entry.get("comment").and_then(Value::as_str).unwrap_or_default().to_string(),
            refs: Vec::new(),
            created: entry.get("created").and_then(Value::as_str).unwrap_or_default().to_string(),
        };
        let restored = tokio::task::spawn_blocking(move || match layer {
            Some(l) => commit::commit_child(&store, ChildLayer::Stored(l), &opts),
            None => commit::commit_child(&store, ChildLayer::Empty, &opts),
        })
        .await
        .map_err(EngineError::from)?
        .map_err(EngineError::from)?;
        // Later steps follow this image only, as moby's ("tuned for safety").
        let keep = self.sources.swap_remove(i);
        self.sources = vec![keep];
        Ok(Some(restored.id.to_string()))
    }
}

/// The local index's key of a step: its parent image and its config.
pub(super) fn cache_key(st: &State, config: &Value) -> String {
    crate::build::cache::key(st.image.as_deref().unwrap_or("scratch"), config)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

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
