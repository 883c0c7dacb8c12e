//! The image store under `<engine root>/image/`:
//!
//! ```text
//! blobs/sha256/<hex>     manifests, configs, compressed layers (immutable)
//! layers/sha256/<hex>/   unpacked layers by diffID: overlayfs lowerdirs
//! index.json             image records and references (the only mutable file)
//! tmp/                   staging for downloads and unpacks; wiped on open
//! lock                   flock'ed while an engine has the store open
//! ```
//!
//! Owns where image content lives and the rule that makes a crash harmless:
//! content is written to `tmp/`, verified, fsync'ed and renamed into place,
//! and an image becomes visible only when one atomic rewrite of
//! `index.json` adds its record and its tags together — after everything it
//! references is already in place. A pull killed at any point leaves at most
//! unreferenced blobs and layers, which garbage collection removes (it runs
//! on every open). It must never list an image whose content is not all
//! present, and never talk to a registry.
//!
//! Why one JSON index and not redb or SQLite: the mutable state is small
//! (image records and tags, hundreds of entries); one file rewritten with
//! temp + fsync + rename gives all-or-nothing updates across several keys
//! (an image and its tags) with no extra dependency to link statically, and
//! stays readable by a person debugging a VM. The bulky data is
//! content-addressed and never modified, so it needs no database at all.

use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use nix::fcntl::{Flock, FlockArg};
use sha2::{Digest as _, Sha256};

use super::digest::Digest;
use super::fsutil;
use super::reference::ImageRef;
use super::unpack::{self, Expect, UnpackError, Unpacked, WhiteoutFormat};
use super::users::{ImageUse, ImageUsers};
use crate::durable;
use crate::unpoisoned::lock;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("image store: {op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("image store {path} is in use by another engine")]
    Locked { path: PathBuf },
    #[error("image store index {path} is unreadable: {reason}")]
    Corrupt { path: PathBuf, reason: String },
    #[error("No such image: {0}")]
    NotFound(String),
    #[error("image reference {0:?} is ambiguous")]
    Ambiguous(String),
    #[error("cannot record image {image}: its {what} {digest} is not in the store")]
    Missing { image: Digest, what: &'static str, digest: Digest },
    #[error("blob digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch { expected: Digest, actual: Digest },
    #[error("layer {blob}: {source}")]
    Unpack {
        blob: Digest,
        #[source]
        source: UnpackError,
    },
}

impl StoreError {
    /// How a client should read the failure.
    pub fn kind(&self) -> crate::error_kind::ErrorKind {
        use crate::error_kind::ErrorKind;
        match self {
            StoreError::NotFound(_) => ErrorKind::NotFound,
            StoreError::Ambiguous(_) => ErrorKind::Invalid,
            _ => ErrorKind::Internal,
        }
    }
}

fn io<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> StoreError + 'a {
    move |source| StoreError::Io { op, path: path.to_path_buf(), source }
}

/// One layer of an image: the blob as distributed and the tree it unpacks to.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LayerRecord {
    pub digest: Digest,
    pub diff_id: Digest,
    pub size: u64,
    pub media_type: String,
}

/// A complete image: its ID is the config digest, as in Docker.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ImageRecord {
    pub id: Digest,
    pub manifest: Digest,
    pub manifest_media_type: String,
    pub config_media_type: String,
    pub layers: Vec<LayerRecord>,
    /// Unix seconds when this engine stored the image.
    pub stored_at: u64,
    /// The image this one was committed from (inspect's `Parent`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<Digest>,
}

/// The mutable state, persisted as `index.json`.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub(super) struct Index {
    pub images: BTreeMap<Digest, ImageRecord>,
    /// `registry/repo:tag` or `registry/repo@sha256:…` → image ID.
    pub refs: BTreeMap<String, Digest>,
}

/// An image with the references that point at it.
#[derive(Clone, Debug)]
pub struct ImageSummary {
    pub record: ImageRecord,
    /// Canonical `name:tag` keys.
    pub tags: Vec<String>,
    /// Canonical `name@digest` keys.
    pub repo_digests: Vec<String>,
}

pub struct Store {
    root: PathBuf,
    whiteouts: WhiteoutFormat,
    /// The index, and the lock that serializes every change to it and GC.
    pub(super) index: Mutex<Index>,
    pub(super) leases: Arc<Mutex<Leases>>,
    /// Who uses which image (the container side); see `super::users`.
    users: Mutex<Option<Arc<dyn ImageUsers>>>,
    _lock: Flock<File>,
}

/// Content that an operation in flight has written or relies on but that no
/// image record references yet: GC leaves it alone (containerd's "lease").
#[derive(Default)]
pub(super) struct Leases {
    next: u64,
    pub held: BTreeMap<u64, HashSet<Digest>>,
}

/// Dropping a lease (success, failure or an aborted task) releases its hold.
pub struct Lease {
    id: u64,
    leases: Arc<Mutex<Leases>>,
}

impl Lease {
    pub fn hold(&self, d: &Digest) {
        lock(&self.leases).held.entry(self.id).or_default().insert(d.clone());
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        lock(&self.leases).held.remove(&self.id);
    }
}

impl Store {
    /// Opens (creating if needed) the store under `engine_root/image`, takes
    /// its lock, wipes staging left by a crash and collects garbage.
    pub fn open(engine_root: &Path) -> Result<Arc<Store>, StoreError> {
        Self::open_with(engine_root, WhiteoutFormat::for_this_process())
    }

    pub fn open_with(engine_root: &Path, whiteouts: WhiteoutFormat) -> Result<Arc<Store>, StoreError> {
        let root = engine_root.join("image");
        for d in ["blobs/sha256", "layers/sha256", "tmp"] {
            let p = root.join(d);
            std::fs::create_dir_all(&p).map_err(io("create", &p))?;
        }
        let lock_path = root.join("lock");
        let f = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io("open", &lock_path))?;
        let lock =
            Flock::lock(f, FlockArg::LockExclusiveNonblock).map_err(|_| StoreError::Locked { path: root.clone() })?;
        let tmp = root.join("tmp");
        // Layers are unpacked under tmp/ and renamed (same inodes) into
        // layers/: tmp/ is where their placement is decided.
        fsutil::spread_subdirs(&tmp);
        for p in fsutil::list_dir(&tmp).map_err(io("list", &tmp))? {
            tracing::info!(path = %p.display(), "removing staging left by an interrupted operation");
            fsutil::remove_any(&p).map_err(io("remove", &p))?;
        }
        let index = load_index(&root.join("index.json"))?;
        let store = Arc::new(Store {
            root,
            whiteouts,
            index: Mutex::new(index),
            leases: Arc::default(),
            users: Mutex::new(None),
            _lock: lock,
        });
        let report = store.gc()?;
        if !report.is_empty() {
            tracing::info!(
                blobs = report.blobs.len(),
                layers = report.layers.len(),
                "removed unreferenced image content"
            );
        }
        Ok(store)
    }

    /// Registers the container side's answer to "who uses this image?".
    pub fn set_users(&self, users: Arc<dyn ImageUsers>) {
        *lock(&self.users) = Some(users);
    }

    /// Containers using image `id`; none when no hook is registered.
    pub fn users_of(&self, id: &Digest) -> Vec<ImageUse> {
        let users = lock(&self.users).clone();
        users.map(|u| u.image_users().into_iter().filter(|x| x.image == *id).collect()).unwrap_or_default()
    }

    /// IDs of every image some container uses.
    pub fn images_in_use(&self) -> HashSet<Digest> {
        let users = lock(&self.users).clone();
        users.map(|u| u.image_users().into_iter().map(|x| x.image).collect()).unwrap_or_default()
    }

    #[cfg(test)]
    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn blob_dir(&self) -> PathBuf {
        self.root.join("blobs/sha256")
    }

    pub fn layer_dir(&self) -> PathBuf {
        self.root.join("layers/sha256")
    }

    pub fn blob_path(&self, d: &Digest) -> PathBuf {
        self.blob_dir().join(d.hex())
    }

    pub fn has_blob(&self, d: &Digest) -> bool {
        self.blob_path(d).is_file()
    }

    pub fn read_blob(&self, d: &Digest) -> Result<Vec<u8>, StoreError> {
        let p = self.blob_path(d);
        std::fs::read(&p).map_err(io("read", &p))
    }

    /// The unpacked tree of a layer: an overlayfs lowerdir.
    pub fn layer_path(&self, diff_id: &Digest) -> PathBuf {
        self.layer_dir().join(diff_id.hex())
    }

    pub fn has_layer(&self, diff_id: &Digest) -> bool {
        self.layer_path(diff_id).is_dir()
    }

    /// A fresh path under `tmp/` for staging; nothing is created.
    pub fn staging_path(&self, what: &str) -> PathBuf {
        self.root.join("tmp").join(durable::unique_name(what))
    }

    pub fn lease(&self) -> Lease {
        let mut l = lock(&self.leases);
        l.next += 1;
        let id = l.next;
        l.held.insert(id, HashSet::new());
        Lease { id, leases: self.leases.clone() }
    }

    /// Moves a staged file whose digest the caller computed while writing
    /// it into `blobs/`. The lease is taken first so GC cannot collect the
    /// blob between its rename and the image record that will reference it.
    pub fn commit_staged_blob(&self, staged: &Path, digest: &Digest, lease: &Lease) -> Result<(), StoreError> {
        lease.hold(digest);
        let f = File::open(staged).map_err(io("open", staged))?;
        f.sync_all().map_err(io("fsync", staged))?;
        let dest = self.blob_path(digest);
        std::fs::rename(staged, &dest).map_err(io("rename", &dest))?;
        durable::fsync_dir(&self.blob_dir()).map_err(io("fsync", &self.blob_dir()))
    }

    /// Stores bytes as a blob (verified against `expected` when given).
    pub fn put_blob(&self, bytes: &[u8], expected: Option<&Digest>, lease: &Lease) -> Result<Digest, StoreError> {
        let digest = Digest::from_hasher(Sha256::new_with_prefix(bytes));
        if let Some(e) = expected
            && *e != digest
        {
            return Err(StoreError::DigestMismatch { expected: e.clone(), actual: digest });
        }
        lease.hold(&digest);
        if self.has_blob(&digest) {
            return Ok(digest);
        }
        let staged = self.staging_path("blob");
        let written = File::create(&staged).and_then(|mut f| f.write_all(bytes));
        if let Err(e) = written {
            let _ = std::fs::remove_file(&staged);
            return Err(StoreError::Io { op: "write", path: staged, source: e });
        }
        self.commit_staged_blob(&staged, &digest, lease)?;
        Ok(digest)
    }

    /// Unpacks a stored layer blob into `layers/` (unless already there),
    /// checking its diffID. Blocking: call from `spawn_blocking`.
    pub fn unpack_blob(&self, blob: &Digest, diff_id: &Digest, lease: &Lease) -> Result<Option<Unpacked>, StoreError> {
        lease.hold(diff_id);
        if self.has_layer(diff_id) {
            return Ok(None);
        }
        let path = self.blob_path(blob);
        let f = File::open(&path).map_err(io("open", &path))?;
        let staging = self.staging_path("layer");
        // The blob's own digest was verified when it was stored.
        let expect = Expect { compressed: None, diff_id: Some(diff_id.clone()) };
        unpack::unpack_layer(f, &staging, &self.layer_path(diff_id), &expect, self.whiteouts)
            .map(Some)
            .map_err(|source| StoreError::Unpack { blob: blob.clone(), source })
    }

    /// Unpacks a stored layer blob whose diffID nobody told us (an import):
    /// the tree is unpacked to staging, named by the digest the unpack
    /// computed, and moved into `layers/` unless that layer already exists.
    pub fn unpack_blob_computing_diff_id(&self, blob: &Digest, lease: &Lease) -> Result<Digest, StoreError> {
        let path = self.blob_path(blob);
        let f = File::open(&path).map_err(io("open", &path))?;
        let (staging, unpacked) = (self.staging_path("layer"), self.staging_path("layer-done"));
        let expect = Expect { compressed: None, diff_id: None };
        let u = unpack::unpack_layer(f, &staging, &unpacked, &expect, self.whiteouts)
            .map_err(|source| StoreError::Unpack { blob: blob.clone(), source })?;
        lease.hold(&u.diff_id);
        let dest = self.layer_path(&u.diff_id);
        if dest.is_dir() {
            fsutil::remove_any(&unpacked).map_err(io("remove", &unpacked))?;
        } else {
            std::fs::rename(&unpacked, &dest).map_err(io("rename", &dest))?;
            durable::fsync_dir(&self.layer_dir()).map_err(io("fsync", &self.layer_dir()))?;
        }
        Ok(u.diff_id)
    }

    /// Makes an image visible, with its references, in one atomic step.
    /// Everything the record names must already be stored.
    pub fn commit_image(&self, record: ImageRecord, refs: &[String]) -> Result<(), StoreError> {
        let missing =
            |what, digest: &Digest| StoreError::Missing { image: record.id.clone(), what, digest: digest.clone() };
        for (what, d) in [("manifest", &record.manifest), ("config", &record.id)] {
            if !self.has_blob(d) {
                return Err(missing(what, d));
            }
        }
        for l in &record.layers {
            if !self.has_blob(&l.digest) {
                return Err(missing("layer blob", &l.digest));
            }
            if !self.has_layer(&l.diff_id) {
                return Err(missing("unpacked layer", &l.diff_id));
            }
        }
        let mut index = lock(&self.index);
        let mut next = index.clone();
        for r in refs {
            next.refs.insert(r.clone(), record.id.clone());
        }
        next.images.insert(record.id.clone(), record);
        self.save_index(&next)?;
        *index = next;
        Ok(())
    }

    /// Points `reference` (a tag or a repo digest) at an existing image.
    pub fn tag(&self, reference: &ImageRef, id: &Digest) -> Result<(), StoreError> {
        let key = reference.tagged_key().or_else(|| reference.digest_key());
        let Some(key) = key else { return Ok(()) };
        self.update_index(|ix| {
            if !ix.images.contains_key(id) {
                return Err(StoreError::NotFound(id.to_string()));
            }
            ix.refs.insert(key, id.clone());
            Ok(())
        })
    }

    /// Removes one reference; the image stays (dangling if it was the last).
    pub fn untag(&self, reference: &ImageRef) -> Result<Digest, StoreError> {
        let key = reference.tagged_key().or_else(|| reference.digest_key()).unwrap_or_default();
        self.update_index(|ix| ix.refs.remove(&key).ok_or_else(|| StoreError::NotFound(reference.to_string())))
    }

    /// Removes an image record and every reference to it. Its content goes
    /// at the next GC unless another image shares it.
    pub fn delete_image(&self, id: &Digest) -> Result<ImageRecord, StoreError> {
        self.update_index(|ix| {
            let rec = ix.images.remove(id).ok_or_else(|| StoreError::NotFound(id.to_string()))?;
            ix.refs.retain(|_, v| v != id);
            Ok(rec)
        })
    }

    /// Finds an image by reference (`busybox`, `localhost:5000/x@sha256:…`),
    /// full ID or unique ID prefix (`sha256:` optional), as Docker does.
    pub fn resolve(&self, s: &str) -> Result<ImageRecord, StoreError> {
        let index = lock(&self.index);
        if let Ok(r) = ImageRef::parse(s) {
            let key = r.digest_key().or_else(|| r.tagged_key());
            if let Some(id) = key.and_then(|k| index.refs.get(&k))
                && let Some(rec) = index.images.get(id)
            {
                return Ok(rec.clone());
            }
        }
        let hex = s.strip_prefix("sha256:").unwrap_or(s);
        if hex.is_empty() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(StoreError::NotFound(s.to_string()));
        }
        let mut found = index.images.values().filter(|r| r.id.hex().starts_with(hex));
        match (found.next(), found.next()) {
            (Some(r), None) => Ok(r.clone()),
            (Some(_), Some(_)) => Err(StoreError::Ambiguous(s.to_string())),
            _ => Err(StoreError::NotFound(s.to_string())),
        }
    }

    pub fn contains(&self, id: &Digest) -> bool {
        lock(&self.index).images.contains_key(id)
    }

    pub fn list(&self) -> Vec<ImageSummary> {
        let index = lock(&self.index);
        index
            .images
            .values()
            .map(|rec| {
                let keys = index.refs.iter().filter(|(_, id)| **id == rec.id).map(|(k, _)| k.clone());
                let (repo_digests, tags): (Vec<_>, Vec<_>) = keys.partition(|k| k.contains('@'));
                ImageSummary { record: rec.clone(), tags, repo_digests }
            })
            .collect()
    }

    /// Lowerdirs for overlayfs, top-most layer first (overlay's order).
    pub fn lower_dirs(&self, rec: &ImageRecord) -> Vec<PathBuf> {
        rec.layers.iter().rev().map(|l| self.layer_path(&l.diff_id)).collect()
    }

    fn update_index<T>(&self, f: impl FnOnce(&mut Index) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let mut index = lock(&self.index);
        let mut next = index.clone();
        let out = f(&mut next)?;
        self.save_index(&next)?;
        *index = next;
        Ok(out)
    }

    fn save_index(&self, ix: &Index) -> Result<(), StoreError> {
        let path = self.root.join("index.json");
        let bytes = serde_json::to_vec_pretty(ix)
            .map_err(|e| StoreError::Corrupt { path: path.clone(), reason: e.to_string() })?;
        durable::write_atomic(&path, &bytes).map_err(io("write", &path))
    }
}

fn load_index(path: &Path) -> Result<Index, StoreError> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map_err(|e| StoreError::Corrupt { path: path.to_path_buf(), reason: e.to_string() }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Index::default()),
        Err(e) => Err(StoreError::Io { op: "read", path: path.to_path_buf(), source: e }),
    }
}

pub fn now_secs() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

#[cfg(test)]
#[path = "tests/store.rs"]
mod tests;
