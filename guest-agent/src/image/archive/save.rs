//! `GET /images/get`'s work: images from the store as one tar, written to
//! any `Write` (the HTTP body, through a pipe).
//!
//! Owns which images a list of names means (`items`) and the archive's
//! content: each blob once under `blobs/sha256/`, the
//! stored manifest bytes unchanged (so the digest a registry knows survives
//! a save and a load of the OCI layout), `manifest.json` naming the config
//! and layer blobs, `index.json` with the image names as annotations, and
//! `repositories`. It must never write a blob it did not read from the
//! store under that digest. Blocking: call from `spawn_blocking`.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;

use serde_json::json;

use super::{ANNOTATION_IMAGE_NAME, ANNOTATION_REF_NAME, ArchiveManifestEntry};
use crate::image::digest::Digest;
use crate::image::reference::ImageRef;
use crate::image::store::{ImageRecord, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum SaveError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("writing the archive: {0}")]
    Write(#[source] std::io::Error),
    #[error("encoding the archive's metadata: {0}")]
    Json(#[from] serde_json::Error),
}

impl SaveError {
    pub fn kind(&self) -> crate::error_kind::ErrorKind {
        match self {
            SaveError::Store(e) => e.kind(),
            _ => crate::error_kind::ErrorKind::Internal,
        }
    }
}

/// One image to save and the names to record for it: canonical
/// `registry/repo:tag` and the familiar form `docker load` prints.
pub struct SaveItem {
    pub record: ImageRecord,
    /// `(canonical, familiar)` pairs; empty to save it by ID only.
    pub names: Vec<(String, String)>,
}

/// What saving `names` means: each image once, in the order first named,
/// with the names given as tags recorded for it (IDs record none). Every
/// name is resolved before anything is written, so a missing one fails the
/// save before its first byte.
pub fn items(store: &Store, names: &[String]) -> Result<Vec<SaveItem>, StoreError> {
    let mut items: Vec<SaveItem> = Vec::new();
    let list = store.list();
    for name in names {
        let rec = store.resolve(name)?;
        let tagged = ImageRef::parse(name).ok().and_then(|r| {
            let key = r.tagged_key()?;
            let summary = list.iter().find(|s| s.record.id == rec.id)?;
            summary.tags.contains(&key).then(|| {
                let familiar = format!("{}:{}", r.familiar_name(), r.tag.clone().unwrap_or_default());
                (key, familiar)
            })
        });
        let at = match items.iter().position(|i| i.record.id == rec.id) {
            Some(at) => at,
            None => {
                items.push(SaveItem { record: rec, names: Vec::new() });
                items.len() - 1
            }
        };
        if let Some(n) = tagged
            && !items[at].names.contains(&n)
        {
            items[at].names.push(n);
        }
    }
    Ok(items)
}

pub fn save(store: &Store, items: &[SaveItem], out: impl Write) -> Result<(), SaveError> {
    let mut tar = tar::Builder::new(out);
    tar.mode(tar::HeaderMode::Deterministic);
    let mut written: BTreeSet<Digest> = BTreeSet::new();
    let mut docker_manifest = Vec::new();
    let mut index_entries = Vec::new();
    let mut repositories: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    add_bytes(&mut tar, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    for item in items {
        let rec = &item.record;
        for d in
            std::iter::once(&rec.id).chain(std::iter::once(&rec.manifest)).chain(rec.layers.iter().map(|l| &l.digest))
        {
            if written.insert(d.clone()) {
                let path = store.blob_path(d);
                let mut f = std::fs::File::open(&path).map_err(|source| StoreError::Io {
                    op: "open",
                    path: path.clone(),
                    source,
                })?;
                tar.append_file(format!("blobs/sha256/{}", d.hex()), &mut f).map_err(SaveError::Write)?;
            }
        }
        docker_manifest.push(ArchiveManifestEntry {
            config: format!("blobs/sha256/{}", rec.id.hex()),
            repo_tags: Some(item.names.iter().map(|(_, f)| f.clone()).collect()),
            layers: rec.layers.iter().map(|l| format!("blobs/sha256/{}", l.digest.hex())).collect(),
        });
        let manifest_size = store.blob_path(&rec.manifest).metadata().map(|m| m.len()).unwrap_or(0);
        let descriptor = |annotations: Option<serde_json::Value>| {
            let mut d = json!({"mediaType": rec.manifest_media_type, "digest": rec.manifest.to_string(), "size": manifest_size});
            if let Some(a) = annotations {
                d["annotations"] = a;
            }
            d
        };
        if item.names.is_empty() {
            index_entries.push(descriptor(None));
        }
        for (canonical, familiar) in &item.names {
            let tag = canonical.rsplit_once(':').map_or("latest", |(_, t)| t);
            index_entries.push(descriptor(Some(json!({ANNOTATION_IMAGE_NAME: canonical, ANNOTATION_REF_NAME: tag}))));
            if let Some((repo, tag)) = familiar.rsplit_once(':') {
                let top = rec.layers.last().map(|l| l.diff_id.hex().to_string()).unwrap_or_default();
                repositories.entry(repo.to_string()).or_default().insert(tag.to_string(), top);
            }
        }
    }
    let index = json!({"schemaVersion": 2, "mediaType": crate::image::manifest::OCI_INDEX, "manifests": index_entries});
    add_bytes(&mut tar, "index.json", &serde_json::to_vec(&index)?)?;
    add_bytes(&mut tar, "manifest.json", &serde_json::to_vec(&docker_manifest)?)?;
    add_bytes(&mut tar, "repositories", &serde_json::to_vec(&repositories)?)?;
    tar.into_inner().and_then(|mut w| w.flush()).map_err(SaveError::Write)
}

fn add_bytes<W: Write>(tar: &mut tar::Builder<W>, name: &str, data: &[u8]) -> Result<(), SaveError> {
    let mut h = tar::Header::new_gnu();
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_mtime(0);
    h.set_entry_type(tar::EntryType::Regular);
    tar.append_data(&mut h, name, data).map_err(SaveError::Write)
}
