//! `docker commit`: a container's writable layer, written as a layer tar
//! by the caller, becomes a child image of the container's image, with the
//! config and history Docker writes for it (moby's `NewChildImage`): the
//! parent's rootfs with the new layer on top (none when the layer is
//! empty, marked `empty_layer` in the history), the parent's history plus
//! one entry (`created_by` the container's command, the author and
//! comment), `container` and `container_config`, and the parent kept as
//! the image's `Parent`.
//!
//! Owns that config and the staging of the layer; the layer goes through
//! the same ingest and unpack checks as any other and nothing is visible
//! until the commit. It must never read a container's files itself (the
//! caller writes the tar). Blocking: call from `spawn_blocking`.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

use serde_json::{Map, Value, json};
use sha2::{Digest as _, Sha256};

use super::digest::Digest;
use super::ingest::{self, IngestError};
use super::manifest;
use super::store::{ImageRecord, LayerRecord, Lease, Store, StoreError};

/// A commit that could not be stored: the engine's failure (500), but for
/// a parent image gone meanwhile.
#[derive(Debug, thiserror::Error)]
#[error("committing the container: {0}")]
pub struct CommitError(#[from] IngestError);

impl From<StoreError> for CommitError {
    fn from(e: StoreError) -> Self {
        CommitError(IngestError::Store(e))
    }
}

impl From<serde_json::Error> for CommitError {
    fn from(e: serde_json::Error) -> Self {
        CommitError(IngestError::Json(e))
    }
}

impl CommitError {
    pub fn kind(&self) -> crate::error_kind::ErrorKind {
        match &self.0 {
            IngestError::Store(e) => e.kind(),
            _ => crate::error_kind::ErrorKind::Internal,
        }
    }
}

/// The diffID of a tar with no entry (two zero blocks): Docker's empty layer.
const EMPTY_TAR: &str = "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef";

/// A layer tar being written into the store's staging area, hashed as it
/// goes. Dropped unfinished, it removes its file.
pub struct LayerWriter {
    out: Option<BufWriter<File>>,
    path: PathBuf,
    hash: Sha256,
    size: u64,
}

/// A finished layer tar in staging, with its digest (= its diffID: it is
/// not compressed) and size.
pub struct StagedLayer {
    path: PathBuf,
    digest: Digest,
    size: u64,
}

impl StagedLayer {
    /// The file, its digest and size, handed over: the guard no longer
    /// removes it.
    fn take(mut self) -> (PathBuf, Digest, u64) {
        (std::mem::take(&mut self.path), self.digest.clone(), self.size)
    }
}

impl Drop for StagedLayer {
    fn drop(&mut self) {
        if !self.path.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

impl LayerWriter {
    pub fn create(store: &Store) -> Result<LayerWriter, CommitError> {
        let path = store.staging_path("commit");
        let f = File::create(&path).map_err(|source| IngestError::Read { what: "the commit layer".into(), source })?;
        Ok(LayerWriter { out: Some(BufWriter::new(f)), path, hash: Sha256::new(), size: 0 })
    }

    pub fn finish(mut self) -> Result<StagedLayer, CommitError> {
        let read = |source| IngestError::Read { what: "the commit layer".into(), source };
        if let Some(out) = self.out.take() {
            out.into_inner().map_err(|e| read(e.into_error()))?.sync_all().map_err(read)?;
        }
        let staged = StagedLayer {
            path: std::mem::take(&mut self.path),
            digest: Digest::from_hasher(self.hash.clone()),
            size: self.size,
        };
        Ok(staged)
    }
}

impl Write for LayerWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let out = self.out.as_mut().ok_or_else(|| std::io::Error::other("layer already finished"))?;
        let n = out.write(buf)?;
        self.hash.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.as_mut().map_or(Ok(()), |o| o.flush())
    }
}

impl Drop for LayerWriter {
    fn drop(&mut self) {
        if !self.path.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// What the child image says about where it came from.
pub struct CommitOptions {
    /// The container's image (the new image's parent); `None` for a
    /// build's first step on `FROM scratch`.
    pub parent: Option<Digest>,
    /// The new image's `config` (the container's, with the changes applied).
    pub config: Value,
    /// The container's config as it was (`container_config`); its `Cmd`
    /// is the history's `created_by`.
    pub container_config: Value,
    pub container_id: String,
    pub author: String,
    pub comment: String,
    /// Canonical reference keys to point at the new image.
    pub refs: Vec<String>,
    /// The time of the commit, RFC 3339 with nanoseconds, UTC.
    pub created: String,
}

/// A child image's own layer: one just written (an empty tar makes none),
/// or one the store already has (a `--cache-from` image's, reused as is).
pub enum ChildLayer {
    Staged(StagedLayer),
    Stored(LayerRecord),
    /// No layer: the history entry is marked `empty_layer`.
    Empty,
}

pub fn commit(store: &Store, layer: StagedLayer, opts: &CommitOptions) -> Result<ImageRecord, CommitError> {
    commit_child(store, ChildLayer::Staged(layer), opts)
}

/// [`commit`] with a layer that may be one the store has.
pub fn commit_child(store: &Store, layer: ChildLayer, opts: &CommitOptions) -> Result<ImageRecord, CommitError> {
    let result = commit_inner(store, layer, opts);
    if result.is_err()
        && let Err(gc) = store.gc()
    {
        tracing::warn!(error = %gc, "cleanup after a failed commit");
    }
    result
}

fn commit_inner(store: &Store, layer: ChildLayer, opts: &CommitOptions) -> Result<ImageRecord, CommitError> {
    let (parent, parent_config) = match &opts.parent {
        Some(p) => {
            let parent = store.resolve(&p.to_string())?;
            let config: Value = serde_json::from_slice(&store.read_blob(&parent.id)?)?;
            (Some(parent), config)
        }
        None => (None, json!({})),
    };
    let lease = store.lease();
    let parent_layers = parent.as_ref().map(|p| p.layers.clone()).unwrap_or_default();
    for l in &parent_layers {
        lease.hold(&l.digest);
    }
    let mut layers: Vec<LayerRecord> = parent_layers.iter().map(oci_layer).collect();
    let empty = match layer {
        ChildLayer::Staged(l) if l.digest.to_string() == EMPTY_TAR => true,
        ChildLayer::Staged(l) => {
            layers.push(store_layer(store, l.take(), &lease)?);
            false
        }
        ChildLayer::Stored(l) => {
            lease.hold(&l.digest);
            layers.push(oci_layer(&l));
            false
        }
        ChildLayer::Empty => true,
    };
    let config = child_config(&parent_config, &layers, opts, empty);
    let bytes = serde_json::to_vec(&config)?;
    let refs = opts.refs.clone();
    Ok(ingest::commit(store, &bytes, layers, &refs, parent.map(|p| p.id), &lease)?)
}

/// The staged tar as a blob (uncompressed, as Docker keeps a committed
/// layer: its digest is its diffID) and unpacked.
fn store_layer(
    store: &Store,
    (path, digest, size): (PathBuf, Digest, u64),
    lease: &Lease,
) -> Result<LayerRecord, CommitError> {
    lease.hold(&digest);
    if store.has_blob(&digest) {
        let _ = std::fs::remove_file(&path);
    } else if let Err(e) = store.commit_staged_blob(&path, &digest, lease) {
        let _ = std::fs::remove_file(&path);
        return Err(e.into());
    }
    store.unpack_blob(&digest, &digest, lease)?;
    Ok(LayerRecord { digest: digest.clone(), diff_id: digest, size, media_type: manifest::OCI_LAYER.to_string() })
}

/// Docker schema 2 layers keep their bytes but take the OCI name, as the
/// new image's manifest is OCI's.
fn oci_layer(l: &LayerRecord) -> LayerRecord {
    let media_type = match l.media_type.as_str() {
        manifest::DOCKER_LAYER_GZIP => manifest::OCI_LAYER_GZIP.to_string(),
        other => other.to_string(),
    };
    LayerRecord { media_type, ..l.clone() }
}

/// moby's `NewChildImage`, field for field.
fn child_config(parent: &Value, layers: &[LayerRecord], opts: &CommitOptions, empty: bool) -> Value {
    let text = |key: &str| parent.get(key).and_then(Value::as_str).filter(|s| !s.is_empty());
    let created_by = opts
        .container_config
        .get("Cmd")
        .and_then(Value::as_array)
        .map(|c| c.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(" "))
        .unwrap_or_default();
    let mut entry = Map::new();
    entry.insert("created".into(), json!(opts.created));
    for (key, v) in [("author", &opts.author), ("created_by", &created_by), ("comment", &opts.comment)] {
        if !v.is_empty() {
            entry.insert(key.into(), json!(v));
        }
    }
    if empty {
        entry.insert("empty_layer".into(), json!(true));
    }
    let mut history = parent.get("history").and_then(Value::as_array).cloned().unwrap_or_default();
    history.push(Value::Object(entry));
    let mut c = Map::new();
    c.insert("created".into(), json!(opts.created));
    c.insert("container".into(), json!(opts.container_id));
    c.insert("container_config".into(), opts.container_config.clone());
    if !opts.author.is_empty() {
        c.insert("author".into(), json!(opts.author));
    }
    if !opts.comment.is_empty() {
        c.insert("comment".into(), json!(opts.comment));
    }
    c.insert("config".into(), opts.config.clone());
    c.insert("architecture".into(), json!(text("architecture").unwrap_or(manifest::PLATFORM_ARCH)));
    if let Some(v) = text("variant") {
        c.insert("variant".into(), json!(v));
    }
    c.insert("os".into(), json!(text("os").unwrap_or(manifest::PLATFORM_OS)));
    c.insert(
        "rootfs".into(),
        json!({"type": "layers", "diff_ids": layers.iter().map(|l| l.diff_id.to_string()).collect::<Vec<_>>()}),
    );
    c.insert("history".into(), Value::Array(history));
    for key in ["os.version", "os.features"] {
        if let Some(v) = parent.get(key).filter(|v| !v.is_null()) {
            c.insert(key.into(), v.clone());
        }
    }
    Value::Object(c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::build::{NewImage, create_image};
    use crate::image::reference::ImageRef;

    fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, data) in files {
            let mut h = tar::Header::new_gnu();
            h.set_uid(0);
            h.set_gid(0);
            h.set_mode(0o644);
            h.set_size(data.len() as u64);
            h.set_mtime(1_700_000_000);
            b.append_data(&mut h, name, *data).expect("append");
        }
        b.into_inner().expect("tar")
    }

    fn staged(store: &Store, tar: &[u8]) -> StagedLayer {
        let mut w = LayerWriter::create(store).expect("writer");
        w.write_all(tar).expect("write");
        w.finish().expect("finish")
    }

    fn opts(parent: &Digest, refs: Vec<String>) -> CommitOptions {
        CommitOptions {
            parent: Some(parent.clone()),
            config: json!({"Cmd": ["sh"], "ExposedPorts": {"8000/tcp": {}}}),
            container_config: json!({"Cmd": ["touch", "/test"]}),
            container_id: "c".repeat(64),
            author: "Ann".into(),
            comment: "a change".into(),
            refs,
            created: "2026-12-01T00:00:00.123456789Z".into(),
        }
    }

    #[test]
    fn a_child_image_stacks_the_layer_and_names_its_parent() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("store");
        let base = create_image(
            &store,
            NewImage::new(vec![tar_of(&[("etc/base", b"1")])]),
            &[ImageRef::parse("base:1").expect("ref")],
        )
        .expect("base");
        let tag = ImageRef::parse("child:v1").expect("ref").tagged_key().expect("key");
        let child =
            commit(&store, staged(&store, &tar_of(&[("test", b"")])), &opts(&base.id, vec![tag])).expect("commit");
        assert_eq!(child.parent.as_ref(), Some(&base.id));
        assert_eq!(child.layers.len(), 2);
        assert_eq!(child.layers[0].diff_id, base.layers[0].diff_id);
        assert!(store.has_layer(&child.layers[1].diff_id), "the new layer is unpacked");
        assert!(store.layer_path(&child.layers[1].diff_id).join("test").exists());
        let config: Value = serde_json::from_slice(&store.read_blob(&child.id).expect("config")).expect("json");
        assert_eq!(config["config"]["ExposedPorts"], json!({"8000/tcp": {}}));
        assert_eq!(config["container"], json!("c".repeat(64)));
        assert_eq!((config["author"].clone(), config["comment"].clone()), (json!("Ann"), json!("a change")));
        let history = config["history"].as_array().expect("history");
        assert_eq!(history.len(), 2, "the parent's entry, then the commit's");
        assert_eq!(history[1]["created_by"], json!("touch /test"));
        assert!(history[1].get("empty_layer").is_none());
        assert_eq!(store.resolve("child:v1").expect("tagged").id, child.id);
    }

    #[test]
    fn an_empty_layer_adds_history_but_no_layer() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("store");
        let base = create_image(&store, NewImage::new(vec![tar_of(&[("a", b"1")])]), &[]).expect("base");
        let empty = tar::Builder::new(Vec::new()).into_inner().expect("empty tar");
        let child = commit(&store, staged(&store, &empty), &opts(&base.id, vec![])).expect("commit");
        assert_eq!(child.layers, base.layers);
        let config: Value = serde_json::from_slice(&store.read_blob(&child.id).expect("config")).expect("json");
        assert_eq!(config["history"][1]["empty_layer"], json!(true));
        assert_ne!(child.id, base.id);
    }

    #[test]
    fn a_missing_parent_fails_and_leaves_no_staging_behind() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("store");
        let missing = Digest::parse(&format!("sha256:{}", "0".repeat(64))).expect("digest");
        let e = commit(&store, staged(&store, &tar_of(&[("x", b"x")])), &opts(&missing, vec![]));
        assert!(e.is_err());
        let left = std::fs::read_dir(store.root().join("tmp")).map(|d| d.count()).unwrap_or(0);
        assert_eq!(left, 0, "the staged layer is gone");
    }
}
