//! Docker's rules for removing images: which names a delete takes away,
//! when it is refused (409), and what a prune selects.
//!
//! By reference a delete removes that reference (and the image with its
//! last one); by ID it removes the image, refusing when several
//! repositories name it unless forced. An image a container uses (see
//! `super::users`) is never deleted: 409, or with force only its names go;
//! a running container's image is 409 even with force. Prune removes
//! dangling (or with `dangling=false` all) images no container uses.
//!
//! Owns those rules over the store; it must never look at containers
//! except through the store's users hook, nor speak HTTP.

use std::collections::BTreeSet;

use bollard_stubs::models::{ImageDeleteResponseItem, ImagePruneResponse};

use super::reference::ImageRef;
use super::store::{Store, StoreError};
use super::view::{FilterError, config_json, created, dangling, dangling_value, familiar, labels};
use crate::error_kind::ErrorKind;
use docker_vocab::filters::Filters;

#[derive(Debug, thiserror::Error)]
pub enum RemovalError {
    #[error(
        "conflict: unable to remove repository reference \"{name}\" (must force) - container {container} is using its referenced image {image}"
    )]
    ReferenceInUse { name: String, container: String, image: String },
    #[error(
        "conflict: unable to delete {image} (cannot be forced) - image is being used by running container {container}"
    )]
    Running { image: String, container: String },
    #[error(
        "conflict: unable to delete {image} (must be forced) - image is being used by stopped container {container}"
    )]
    Stopped { image: String, container: String },
    #[error("conflict: unable to delete {image} (must be forced) - image is referenced in multiple repositories")]
    MultipleRepositories { image: String },
    #[error(transparent)]
    Filter(#[from] FilterError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl RemovalError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            RemovalError::Filter(e) => e.kind(),
            RemovalError::Store(e) => e.kind(),
            _ => ErrorKind::Conflict,
        }
    }
}

fn untagged(r: &ImageRef) -> ImageDeleteResponseItem {
    ImageDeleteResponseItem { untagged: Some(familiar(r)), deleted: None }
}

fn short_container(c: &str) -> String {
    c.get(..12).unwrap_or(c).to_string()
}

/// `DELETE /images/{name}?force=`: what went, in Docker's order.
pub fn remove(store: &Store, name: &str, force: bool) -> Result<Vec<ImageDeleteResponseItem>, RemovalError> {
    let rec = store.resolve(name)?;
    let summary = store
        .list()
        .into_iter()
        .find(|s| s.record.id == rec.id)
        .ok_or_else(|| StoreError::NotFound(name.to_string()))?;
    let by_reference = ImageRef::parse(name).ok().filter(|r| {
        let key = r.digest_key().or_else(|| r.tagged_key()).unwrap_or_default();
        summary.tags.contains(&key) || summary.repo_digests.contains(&key)
    });
    let users = store.users_of(&rec.id);
    let image = rec.id.short().to_string();
    let mut out = Vec::new();
    if let Some(r) = by_reference {
        if summary.tags.len() <= 1
            && !force
            && let Some(u) = users.first()
        {
            return Err(RemovalError::ReferenceInUse {
                name: name.to_string(),
                container: short_container(&u.container),
                image,
            });
        }
        store.untag(&r)?;
        out.push(untagged(&r));
        let left = store.list().into_iter().find(|s| s.record.id == rec.id);
        // An image a container uses stays, untagged, as Docker keeps it.
        if left.is_some_and(|s| !s.tags.is_empty()) || !users.is_empty() {
            return Ok(out);
        }
    } else {
        if let Some(u) = users.iter().find(|u| u.running) {
            return Err(RemovalError::Running { image, container: short_container(&u.container) });
        }
        if let Some(u) = users.first() {
            if !force {
                return Err(RemovalError::Stopped { image, container: short_container(&u.container) });
            }
            // Forced over a stopped container: the names go, the image
            // stays for the container (its layers are its rootfs).
            for k in summary.tags.iter().chain(&summary.repo_digests) {
                if let Ok(r) = ImageRef::parse(k) {
                    store.untag(&r)?;
                    out.push(untagged(&r));
                }
            }
            return Ok(out);
        }
        let repos: BTreeSet<String> = summary
            .tags
            .iter()
            .chain(&summary.repo_digests)
            .filter_map(|k| ImageRef::parse(k).ok())
            .map(|r| r.name())
            .collect();
        if repos.len() > 1 && !force {
            return Err(RemovalError::MultipleRepositories { image });
        }
    }
    let removed = store.list().into_iter().find(|s| s.record.id == rec.id);
    for k in removed.iter().flat_map(|s| s.tags.iter().chain(&s.repo_digests)) {
        if let Ok(r) = ImageRef::parse(k) {
            out.push(untagged(&r));
        }
    }
    store.delete_image(&rec.id)?;
    out.push(ImageDeleteResponseItem { untagged: None, deleted: Some(rec.id.to_string()) });
    if let Err(e) = store.gc() {
        tracing::warn!(error = %e, "collecting a deleted image's content");
    }
    Ok(out)
}

/// What `POST /images/prune` selects: dangling images, or every image with
/// `dangling=false`, narrowed by `label`/`label!` (ANDed) and `until`.
pub struct PruneFilter {
    all: bool,
    labels: Filters,
    until: Option<i64>,
}

impl PruneFilter {
    pub fn new(f: &Filters) -> Result<PruneFilter, FilterError> {
        f.validate(&["dangling", "label", "label!", "until"]).map_err(|e| FilterError::Invalid(e.to_string()))?;
        let mut out = PruneFilter { all: false, labels: Filters::new(), until: None };
        out.all = dangling_value(&f.get("dangling"))? == Some(false);
        for (key, values) in f.iter().filter(|(k, _)| k.starts_with("label")) {
            for v in values {
                out.labels.add(key, v);
            }
        }
        let until = f.until(chrono::Local::now().fixed_offset()).map_err(|e| FilterError::Until(e.to_string()))?;
        out.until = until.map(|t| t.timestamp());
        Ok(out)
    }
}

/// Removes what `f` selects that no container uses; replies with what went
/// and the bytes garbage collection freed. Blocking (GC walks the disk).
pub fn prune(store: &Store, f: &PruneFilter) -> Result<ImagePruneResponse, RemovalError> {
    let in_use = store.images_in_use();
    let mut deleted = Vec::new();
    for s in store.list() {
        if in_use.contains(&s.record.id) || !(f.all || dangling(&s)) {
            continue;
        }
        let config = config_json(store, &s.record);
        if !f.labels.match_labels(&labels(&config)) || f.until.is_some_and(|u| created(&config, &s.record) >= u) {
            continue;
        }
        for k in s.tags.iter().chain(&s.repo_digests) {
            if let Ok(r) = ImageRef::parse(k) {
                deleted.push(untagged(&r));
            }
        }
        store.delete_image(&s.record.id)?;
        deleted.push(ImageDeleteResponseItem { untagged: None, deleted: Some(s.record.id.to_string()) });
    }
    let report = store.gc()?;
    Ok(ImagePruneResponse {
        images_deleted: (!deleted.is_empty()).then_some(deleted),
        space_reclaimed: Some(report.bytes.try_into().unwrap_or(i64::MAX)),
    })
}

#[cfg(test)]
mod tests;
