//! Creating an image in the store from uncompressed layer tars and a
//! config: the core that import, load, commit and build share, and how the
//! tests make images without a network.
//!
//! Owns compressing layers, writing the config and manifest (OCI or Docker
//! schema 2) and committing the result through the same unpack and commit
//! path a pull uses. It must never produce a manifest whose digests it did
//! not compute itself. Blocking: run it from `spawn_blocking`.

use std::io::Write;

use super::digest::Digest;
use super::manifest;
use super::reference::ImageRef;
use super::store::{ImageRecord, LayerRecord, Store, StoreError, now_secs};

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("compressing a layer: {0}")]
    Compress(#[source] std::io::Error),
    #[error("Docker schema 2 manifests have no media type for {0:?} layers; use OCI")]
    Unsupported(Compression),
    #[error("encoding image metadata: {0}")]
    Json(#[from] serde_json::Error),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ManifestFormat {
    Oci,
    Docker,
}

pub struct NewImage {
    /// Uncompressed layer tars, bottom first.
    pub layers: Vec<Vec<u8>>,
    pub compression: Compression,
    pub format: ManifestFormat,
    pub architecture: String,
    /// The config's `config` section (Env, Cmd, Labels, …).
    pub config: serde_json::Value,
    /// History lines, one per layer (`created_by`).
    pub created_by: Vec<String>,
}

impl NewImage {
    pub fn new(layers: Vec<Vec<u8>>) -> Self {
        NewImage {
            layers,
            compression: Compression::Gzip,
            format: ManifestFormat::Oci,
            architecture: manifest::PLATFORM_ARCH.to_string(),
            config: serde_json::json!({}),
            created_by: Vec::new(),
        }
    }
}

/// Stores the image and points `refs` at it, atomically.
pub fn create_image(store: &Store, img: NewImage, refs: &[ImageRef]) -> Result<ImageRecord, BuildError> {
    let lease = store.lease();
    let layer_type = match (img.format, img.compression) {
        (ManifestFormat::Oci, Compression::None) => manifest::OCI_LAYER,
        (ManifestFormat::Oci, Compression::Gzip) => manifest::OCI_LAYER_GZIP,
        (ManifestFormat::Oci, Compression::Zstd) => manifest::OCI_LAYER_ZSTD,
        (ManifestFormat::Docker, Compression::Gzip) => manifest::DOCKER_LAYER_GZIP,
        (ManifestFormat::Docker, c) => return Err(BuildError::Unsupported(c)),
    };
    let mut layers = Vec::new();
    for tar in &img.layers {
        let diff_id = Digest::of(tar);
        let blob = compress(tar, img.compression)?;
        let digest = store.put_blob(&blob, None, &lease)?;
        store.unpack_blob(&digest, &diff_id, &lease)?;
        layers.push(LayerRecord { digest, diff_id, size: blob.len() as u64, media_type: layer_type.to_string() });
    }
    let created = "1970-01-01T00:00:00Z";
    let history: Vec<_> = (0..layers.len())
        .map(|i| serde_json::json!({"created": created, "created_by": img.created_by.get(i).cloned().unwrap_or_default()}))
        .collect();
    let config = serde_json::json!({
        "architecture": img.architecture,
        "os": manifest::PLATFORM_OS,
        "created": created,
        "config": img.config,
        "rootfs": {"type": "layers", "diff_ids": layers.iter().map(|l| l.diff_id.to_string()).collect::<Vec<_>>()},
        "history": history,
    });
    let config_bytes = serde_json::to_vec(&config)?;
    let config_digest = store.put_blob(&config_bytes, None, &lease)?;
    let (manifest_type, config_type) = match img.format {
        ManifestFormat::Oci => (manifest::OCI_MANIFEST, manifest::OCI_CONFIG),
        ManifestFormat::Docker => (manifest::DOCKER_MANIFEST, manifest::DOCKER_CONFIG),
    };
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": manifest_type,
        "config": {"mediaType": config_type, "digest": config_digest.to_string(), "size": config_bytes.len()},
        "layers": layers.iter().map(|l| serde_json::json!({
            "mediaType": l.media_type, "digest": l.digest.to_string(), "size": l.size,
        })).collect::<Vec<_>>(),
    });
    let manifest_bytes = serde_json::to_vec(&manifest)?;
    let manifest_digest = store.put_blob(&manifest_bytes, None, &lease)?;
    let record = ImageRecord {
        id: config_digest,
        manifest: manifest_digest,
        manifest_media_type: manifest_type.to_string(),
        config_media_type: config_type.to_string(),
        layers,
        stored_at: now_secs(),
        parent: None,
    };
    let keys: Vec<String> = refs.iter().filter_map(|r| r.tagged_key().or_else(|| r.digest_key())).collect();
    store.commit_image(record.clone(), &keys)?;
    Ok(record)
}

pub fn compress(tar: &[u8], c: Compression) -> Result<Vec<u8>, BuildError> {
    match c {
        Compression::None => Ok(tar.to_vec()),
        Compression::Gzip => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(tar).map_err(BuildError::Compress)?;
            e.finish().map_err(BuildError::Compress)
        }
        Compression::Zstd => zstd::encode_all(tar, 3).map_err(BuildError::Compress),
    }
}
