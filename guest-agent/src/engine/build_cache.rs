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
use super::cache_sources::{history_of, starts_with};
use crate::build::instructions::State;
use crate::image::commit::{self, ChildLayer, CommitOptions};
use crate::image::digest::Digest;
use crate::image::store::ImageRecord;

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
                Some((rec.clone(), history_of(&store, &rec).map_err(|message| StepFailed { message, code: None })?))
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
