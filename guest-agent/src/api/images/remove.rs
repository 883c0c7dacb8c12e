//! `DELETE /images/{name}` and `POST /images/prune`.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::wire::{config_json, created_unix, familiar, store_error};
use crate::api::error::{ApiError, json_response};
use crate::api::registry_access::Images;
use crate::image::reference::ImageRef;
use crate::image::store::{Store, StoreError};

/// `DELETE /images/{name}?force=`: by reference it removes that reference
/// (and the image with its last one); by ID it removes the image, refusing
/// (409) when several repositories name it unless forced. An image a
/// container uses (see `crate::image::users`) is never deleted: 409, or
/// with force only its names go; a running container's image is 409 even
/// with force, as in Docker.
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
    let users = store.users_of(&rec.id);
    let short_container = |c: &str| c.get(..12).unwrap_or(c).to_string();
    let mut out = Vec::new();
    if let Some(r) = by_reference {
        let last = summary.tags.len() <= 1;
        if last
            && !force
            && let Some(u) = users.first()
        {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                format!(
                    "conflict: unable to remove repository reference \"{name}\" (must force) - container {} is using its referenced image {}",
                    short_container(&u.container),
                    rec.id.short()
                ),
            ));
        }
        store.untag(&r).map_err(store_error)?;
        out.push(json!({"Untagged": familiar(&r)}));
        let left = store.list().into_iter().find(|s| s.record.id == rec.id);
        // An image a container uses stays, untagged, as Docker keeps it.
        if left.is_some_and(|s| !s.tags.is_empty()) || !users.is_empty() {
            return Ok(out);
        }
    } else {
        if let Some(u) = users.iter().find(|u| u.running) {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                format!(
                    "conflict: unable to delete {} (cannot be forced) - image is being used by running container {}",
                    rec.id.short(),
                    short_container(&u.container)
                ),
            ));
        }
        if let Some(u) = users.first() {
            if !force {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    format!(
                        "conflict: unable to delete {} (must be forced) - image is being used by stopped container {}",
                        rec.id.short(),
                        short_container(&u.container)
                    ),
                ));
            }
            // Forced over a stopped container: the names go, the image
            // stays for the container (its layers are its rootfs).
            for k in summary.tags.iter().chain(&summary.repo_digests) {
                if let Ok(r) = ImageRef::parse(k) {
                    store.untag(&r).map_err(store_error)?;
                    out.push(json!({"Untagged": familiar(&r)}));
                }
            }
            return Ok(out);
        }
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

/// `POST /images/prune?filters=…`: removes dangling images (untagged), or
/// with `dangling=false` every image, that no container uses; `label`,
/// `label!` and `until` narrow it. Replies with what went and the bytes
/// garbage collection freed.
pub(super) async fn prune(
    State(images): State<Arc<Images>>,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Response {
    let filters = match q.get("filters").map(|f| PruneFilters::parse(f)).transpose() {
        Ok(f) => f.unwrap_or_default(),
        Err(e) => return e.into_response(),
    };
    let store = images.store.clone();
    match tokio::task::spawn_blocking(move || prune_images(&store, &filters)).await {
        Ok(Ok(v)) => json_response(StatusCode::OK, &v),
        Ok(Err(e)) => e.into_response(),
        Err(e) => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("prune failed: {e}")).into_response(),
    }
}

#[derive(Default, Debug)]
pub(super) struct PruneFilters {
    all: bool,
    /// The parsed filters, for `label`/`label!` (the shared matcher).
    args: docker_vocab::filters::Filters,
    until: Option<i64>,
}

impl PruneFilters {
    fn parse(raw: &str) -> Result<PruneFilters, ApiError> {
        let bad = |e: docker_vocab::filters::FilterError| ApiError::bad_request(e.to_string());
        let args = docker_vocab::filters::Filters::from_json(raw).map_err(bad)?;
        args.validate(&["dangling", "label", "label!", "until"]).map_err(bad)?;
        let all = !args.bool_or_default("dangling", true).map_err(bad)?;
        let until = args.until(chrono::Local::now().fixed_offset()).map_err(bad)?.map(|t| t.timestamp());
        Ok(PruneFilters { all, args, until })
    }
}

fn prune_images(store: &Store, f: &PruneFilters) -> Result<Value, ApiError> {
    let in_use = store.images_in_use();
    let mut deleted = Vec::new();
    for s in store.list() {
        let dangling = s.tags.is_empty() && s.repo_digests.is_empty();
        if in_use.contains(&s.record.id) || !(f.all || dangling) {
            continue;
        }
        let config = config_json(store, &s.record);
        let labels = config.pointer("/config/Labels").cloned().unwrap_or(Value::Null);
        if !f.args.match_labels(&labels) {
            continue;
        }
        let created = created_unix(&config).unwrap_or(s.record.stored_at as i64);
        if f.until.is_some_and(|u| created >= u) {
            continue;
        }
        for k in s.tags.iter().chain(&s.repo_digests) {
            if let Ok(r) = ImageRef::parse(k) {
                deleted.push(json!({"Untagged": familiar(&r)}));
            }
        }
        store.delete_image(&s.record.id).map_err(store_error)?;
        deleted.push(json!({"Deleted": s.record.id.to_string()}));
    }
    let report = store.gc().map_err(store_error)?;
    Ok(
        json!({"ImagesDeleted": if deleted.is_empty() { Value::Null } else { json!(deleted) }, "SpaceReclaimed": report.bytes}),
    )
}
