//! `DELETE /images/{name}` and `POST /images/prune`.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{Images, familiar, store_error};
use crate::api::error::{ApiError, json_response};
use crate::image::reference::ImageRef;
use crate::image::store::{Store, StoreError};

/// `DELETE /images/{name}?force=`: by reference it removes that reference
/// (and the image with its last one); by ID it removes the image, refusing
/// (409) when several repositories name it unless forced.
pub(super) async fn delete(
    State(images): State<Arc<Images>>,
    Path(name): Path<String>,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Response {
    let force = q.get("force").is_some_and(|v| v == "1" || v == "true");
    match delete_image(&images.store, &name, force) {
        Ok(items) => json_response(StatusCode::OK, &items),
        Err(e) => e.into_response(),
    }
}

pub(super) fn delete_image(store: &Store, name: &str, force: bool) -> Result<Vec<Value>, ApiError> {
    let rec = store.resolve(name).map_err(store_error)?;
    let summary = store
        .list()
        .into_iter()
        .find(|s| s.record.id == rec.id)
        .ok_or_else(|| store_error(StoreError::NotFound(name.to_string())))?;
    let by_reference = ImageRef::parse(name).ok().filter(|r| {
        let key = r.digest_key().or_else(|| r.tagged_key()).unwrap_or_default();
        summary.tags.contains(&key) || summary.repo_digests.contains(&key)
    });
    let mut out = Vec::new();
    if let Some(r) = by_reference {
        store.untag(&r).map_err(store_error)?;
        out.push(json!({"Untagged": familiar(&r)}));
        let left = store.list().into_iter().find(|s| s.record.id == rec.id);
        if left.is_some_and(|s| !s.tags.is_empty()) {
            return Ok(out);
        }
    } else {
        let repos: std::collections::BTreeSet<String> = summary
            .tags
            .iter()
            .chain(&summary.repo_digests)
            .filter_map(|k| ImageRef::parse(k).ok())
            .map(|r| r.name())
            .collect();
        if repos.len() > 1 && !force {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                format!(
                    "conflict: unable to delete {} (must be forced) - image is referenced in multiple repositories",
                    rec.id.short()
                ),
            ));
        }
    }
    let removed = store.list().into_iter().find(|s| s.record.id == rec.id);
    for k in removed.iter().flat_map(|s| s.tags.iter().chain(&s.repo_digests)) {
        if let Ok(r) = ImageRef::parse(k) {
            out.push(json!({"Untagged": familiar(&r)}));
        }
    }
    store.delete_image(&rec.id).map_err(store_error)?;
    out.push(json!({"Deleted": rec.id.to_string()}));
    if let Err(e) = store.gc() {
        tracing::warn!(error = %e, "collecting a deleted image's content");
    }
    Ok(out)
}
