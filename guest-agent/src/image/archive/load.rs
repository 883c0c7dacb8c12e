//! `POST /images/load`'s work: a docker-archive tar (`docker save`'s, old or
//! new layout) or an OCI image layout tar into the store.
//!
//! Owns reading the archive safely. Entries are extracted as plain files
//! into one staging directory under numbered names (never under the
//! archive's own names, so `..` or a planted symlink cannot reach outside
//! it), each hashed on the way; symlinks between entries (old `docker save`
//! uses them for repeated layers) are resolved inside the archive's own
//! namespace. An image becomes visible only after its config and every
//! layer are stored and verified (each layer's diffID by unpacking it,
//! each OCI blob against its name), and the staging directory is removed
//! however the load ends. Blocking: call from `spawn_blocking`.

use std::collections::HashMap;
use std::fs::File;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

use super::{ANNOTATION_IMAGE_NAME, ANNOTATION_REF_NAME, ArchiveManifestEntry};
use crate::image::digest::Digest;
use crate::image::fsutil;
use crate::image::ingest::{self, IngestError};
use crate::image::manifest::{self, Fetched};
use crate::image::reference::ImageRef;
use crate::image::store::{ImageRecord, LayerRecord, Store};

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("reading the archive: {0}")]
    Archive(#[source] std::io::Error),
    #[error("the archive has neither manifest.json (docker save) nor index.json (OCI layout)")]
    Unrecognised,
    #[error("the archive names {0:?}, which it does not contain")]
    MissingEntry(String),
    #[error("{file} in the archive: {reason}")]
    Invalid { file: String, reason: String },
    #[error("blob {name} in the archive does not match its digest (got {actual})")]
    DigestMismatch { name: String, actual: Digest },
    #[error(transparent)]
    Ingest(#[from] IngestError),
}

impl LoadError {
    /// A bad archive is the client's fault (400); a store failure is ours.
    pub fn kind(&self) -> crate::error_kind::ErrorKind {
        match self {
            LoadError::Ingest(e) => e.kind(),
            _ => crate::error_kind::ErrorKind::Invalid,
        }
    }
}

/// One image the load made visible.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub record: ImageRecord,
    /// Familiar names it was tagged with (`busybox:latest`); empty when the
    /// archive named none.
    pub tags: Vec<String>,
}

/// A regular file of the archive, staged and hashed.
#[derive(Clone)]
struct Staged {
    path: PathBuf,
    digest: Digest,
    size: u64,
}

struct Extracted {
    files: HashMap<String, Staged>,
    dir: PathBuf,
}

impl Drop for Extracted {
    fn drop(&mut self) {
        if let Err(e) = fsutil::remove_any(&self.dir) {
            tracing::warn!(dir = %self.dir.display(), error = %e, "cannot remove a load's staging");
        }
    }
}

impl Extracted {
    fn get(&self, name: &str) -> Result<&Staged, LoadError> {
        let key = normalise(name).ok_or_else(|| LoadError::MissingEntry(name.to_string()))?;
        self.files.get(&key).ok_or_else(|| LoadError::MissingEntry(name.to_string()))
    }

    fn read(&self, name: &str) -> Result<Vec<u8>, LoadError> {
        Ok(ingest::read_small(&self.get(name)?.path, name)?)
    }
}

/// Loads every image in the archive `src`; `on_loaded` is told about each
/// as it becomes visible (for the streamed reply).
pub fn load(store: &Store, src: impl Read, on_loaded: impl FnMut(&Loaded)) -> Result<Vec<Loaded>, LoadError> {
    let result = load_inner(store, src, on_loaded);
    if let Err(e) = &result {
        tracing::warn!(error = %e, "load failed; removing what it stored");
        if let Err(gc) = store.gc() {
            tracing::warn!(error = %gc, "cleanup after a failed load");
        }
    }
    result
}

fn load_inner(store: &Store, src: impl Read, mut on_loaded: impl FnMut(&Loaded)) -> Result<Vec<Loaded>, LoadError> {
    let ex = extract(store, src)?;
    let lease = store.lease();
    let mut out = Vec::new();
    if ex.files.contains_key("manifest.json") {
        let entries: Vec<ArchiveManifestEntry> = serde_json::from_slice(&ex.read("manifest.json")?)
            .map_err(|e| LoadError::Invalid { file: "manifest.json".into(), reason: e.to_string() })?;
        for entry in entries {
            let config = ex.read(&entry.config)?;
            let summary = manifest::parse_config(&config, entry.layers.len())
                .map_err(|e| LoadError::Invalid { file: entry.config.clone(), reason: e.to_string() })?;
            let mut layers = Vec::new();
            for (name, diff_id) in entry.layers.iter().zip(&summary.rootfs.diff_ids) {
                layers.push(ingest_layer(store, &ex, name, None, Some(diff_id), &lease)?);
            }
            let tags = entry.repo_tags.unwrap_or_default();
            let refs = ref_keys(&tags, &entry.config)?;
            let record = ingest::commit(store, &config, layers, &refs, None, &lease)?;
            let loaded = Loaded { record, tags };
            on_loaded(&loaded);
            out.push(loaded);
        }
    } else if ex.files.contains_key("index.json") {
        let index = ex.read("index.json")?;
        load_oci_index(store, &ex, &index, Nesting::default(), &lease, &mut out, &mut on_loaded)?;
    } else {
        return Err(LoadError::Unrecognised);
    }
    Ok(out)
}

/// Indexes nested in an OCI layout's index, at most (real ones nest one).
const MAX_INDEX_DEPTH: usize = 8;

/// Where an index sits: the name its parent gave, and how deep it is.
#[derive(Default)]
struct Nesting {
    inherited_name: Option<String>,
    depth: usize,
}

/// An OCI layout's index: each manifest it lists (an index within it is
/// resolved to linux/amd64, at most [`MAX_INDEX_DEPTH`] deep), named by
/// its annotations.
fn load_oci_index(
    store: &Store,
    ex: &Extracted,
    index_bytes: &[u8],
    Nesting { inherited_name, depth }: Nesting,
    lease: &crate::image::store::Lease,
    out: &mut Vec<Loaded>,
    on_loaded: &mut impl FnMut(&Loaded),
) -> Result<(), LoadError> {
    let invalid = |reason: String| LoadError::Invalid { file: "index.json".into(), reason };
    let index: oci_spec::image::ImageIndex = serde_json::from_slice(index_bytes).map_err(|e| invalid(e.to_string()))?;
    for desc in index.manifests() {
        let digest = manifest::descriptor_digest(desc).map_err(|e| invalid(e.to_string()))?;
        let annotations = desc.annotations().clone().unwrap_or_default();
        let name = annotations
            .get(ANNOTATION_IMAGE_NAME)
            .cloned()
            .or_else(|| annotations.get(ANNOTATION_REF_NAME).filter(|n| n.contains(':') || n.contains('/')).cloned())
            .or_else(|| inherited_name.clone());
        let bytes = blob(ex, &digest)?;
        match manifest::parse(&bytes).map_err(|e| invalid(e.to_string()))? {
            Fetched::Index(_) if depth >= MAX_INDEX_DEPTH => {
                return Err(invalid(format!("indexes nested more than {MAX_INDEX_DEPTH} deep")));
            }
            Fetched::Index(inner) => {
                let entry = manifest::select_platform(&inner).map_err(|e| invalid(e.to_string()))?;
                let wrapped = serde_json::json!({"schemaVersion": 2, "manifests": [entry]});
                load_oci_index(
                    store,
                    ex,
                    &serde_json::to_vec(&wrapped).map_err(IngestError::from)?,
                    Nesting { inherited_name: name, depth: depth + 1 },
                    lease,
                    out,
                    on_loaded,
                )?;
            }
            Fetched::Image { manifest: m, .. } => {
                let config_digest = manifest::descriptor_digest(m.config()).map_err(|e| invalid(e.to_string()))?;
                let config = blob(ex, &config_digest)?;
                let summary = manifest::parse_config(&config, m.layers().len())
                    .map_err(|e| invalid(format!("config {config_digest}: {e}")))?;
                let mut layers = Vec::new();
                for (desc, diff_id) in m.layers().iter().zip(&summary.rootfs.diff_ids) {
                    let d = manifest::descriptor_digest(desc).map_err(|e| invalid(e.to_string()))?;
                    layers.push(ingest_layer(store, ex, &blob_name(&d), Some(&d), Some(diff_id), lease)?);
                }
                let tags: Vec<String> = name.into_iter().collect();
                let refs = ref_keys(&tags, "index.json")?;
                let record = ingest::commit(store, &config, layers, &refs, None, lease)?;
                let loaded = Loaded { record, tags: tags.iter().map(|t| familiar(t)).collect() };
                on_loaded(&loaded);
                out.push(loaded);
            }
        }
    }
    Ok(())
}

fn blob_name(d: &Digest) -> String {
    format!("blobs/sha256/{}", d.hex())
}

/// An OCI blob, checked against its name.
fn blob(ex: &Extracted, d: &Digest) -> Result<Vec<u8>, LoadError> {
    let name = blob_name(d);
    let staged = ex.get(&name)?;
    if staged.digest != *d {
        return Err(LoadError::DigestMismatch { name, actual: staged.digest.clone() });
    }
    ex.read(&name)
}

/// A layer file into the store. The staged copy is the archive's; copy it
/// (a hard link would do, but one file may back several entries).
fn ingest_layer(
    store: &Store,
    ex: &Extracted,
    name: &str,
    expected: Option<&Digest>,
    diff_id: Option<&Digest>,
    lease: &crate::image::store::Lease,
) -> Result<LayerRecord, LoadError> {
    let staged = ex.get(name)?.clone();
    if let Some(e) = expected
        && *e != staged.digest
    {
        return Err(LoadError::DigestMismatch { name: name.to_string(), actual: staged.digest });
    }
    let copy = store.staging_path("load-layer");
    // Usually one entry is one layer: move it; copy when it backs another.
    std::fs::hard_link(&staged.path, &copy)
        .or_else(|_| std::fs::copy(&staged.path, &copy).map(|_| ()))
        .map_err(LoadError::Archive)?;
    Ok(ingest::layer(store, &copy, &staged.digest, staged.size, diff_id, lease, name)?)
}

fn familiar(t: &str) -> String {
    ImageRef::parse(t).map_or_else(|_| t.to_string(), |r| r.familiar_string())
}

fn ref_keys(tags: &[String], file: &str) -> Result<Vec<String>, LoadError> {
    tags.iter()
        .map(|t| {
            let r = ImageRef::parse(t)
                .map_err(|e| LoadError::Invalid { file: file.to_string(), reason: format!("image name {t:?}: {e}") })?;
            Ok(r.tagged_key().or_else(|| r.digest_key()).unwrap_or_default())
        })
        .filter(|k: &Result<String, LoadError>| k.as_ref().map_or(true, |k| !k.is_empty()))
        .collect()
}

/// `./a//b/` → `a/b`; `None` for anything that climbs out or is absolute.
fn normalise(name: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for c in Path::new(name).components() {
        match c {
            Component::Normal(p) => parts.push(p.to_str()?),
            Component::CurDir => {}
            Component::ParentDir => {
                parts.pop()?;
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

/// Every regular file of the archive into `tmp/load-*/N`, hashed; symlinks
/// resolved afterwards within the archive's names. Other entry types
/// (directories, devices) carry nothing a load needs and are skipped.
fn extract(store: &Store, src: impl Read) -> Result<Extracted, LoadError> {
    let dir = store.staging_path("load");
    std::fs::create_dir(&dir).map_err(LoadError::Archive)?;
    let mut ex = Extracted { files: HashMap::new(), dir };
    let mut links: Vec<(String, String)> = Vec::new();
    let mut ar = tar::Archive::new(crate::tar_bounds::Bounded::new(src));
    for (i, entry) in ar.entries().map_err(LoadError::Archive)?.enumerate() {
        let mut entry = entry.map_err(LoadError::Archive)?;
        let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let Some(name) = normalise(&raw) else {
            return Err(LoadError::Invalid { file: raw, reason: "the name leaves the archive".into() });
        };
        match entry.header().entry_type() {
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let (path, digest, size) = stage_entry(&ex.dir, i, &mut entry, &name)?;
                ex.files.insert(name, Staged { path, digest, size });
            }
            tar::EntryType::Symlink | tar::EntryType::Link => {
                let target = entry.link_name_bytes().map(|t| String::from_utf8_lossy(&t).into_owned());
                let Some(target) = target else { continue };
                // A symlink is relative to its directory; a hard link to the root.
                let joined = if entry.header().entry_type() == tar::EntryType::Symlink {
                    let parent = name.rsplit_once('/').map_or("", |(p, _)| p);
                    format!("{parent}/{target}")
                } else {
                    target
                };
                if let Some(t) = normalise(&joined) {
                    links.push((name, t));
                }
            }
            _ => {}
        }
    }
    // Links to links: a few rounds settle any sane archive; loops stay unresolved.
    for _ in 0..8 {
        for (name, target) in &links {
            if let Some(s) = ex.files.get(target).cloned() {
                ex.files.entry(name.clone()).or_insert(s);
            }
        }
    }
    Ok(ex)
}

fn stage_entry(dir: &Path, i: usize, entry: &mut impl Read, name: &str) -> Result<(PathBuf, Digest, u64), LoadError> {
    use sha2::Digest as _;
    use std::io::Write;
    let path = dir.join(i.to_string());
    let mut out = File::create(&path).map_err(LoadError::Archive)?;
    let mut h = sha2::Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut size = 0u64;
    loop {
        let n =
            entry.read(&mut buf).map_err(|e| LoadError::Invalid { file: name.to_string(), reason: e.to_string() })?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        out.write_all(&buf[..n]).map_err(LoadError::Archive)?;
        size += n as u64;
    }
    Ok((path, Digest::from_hasher(h), size))
}

#[cfg(test)]
#[path = "../tests/archive.rs"]
mod tests;
