//! Taking local content into the store — layer files from an archive or an
//! import body, and image configs — and committing an image over them:
//! what `load` and `import` share.
//!
//! Owns detecting a layer file's compression, computing the digests the
//! store is keyed by, and writing the OCI manifest for an image that came
//! without one. Layers are kept as they arrived (gzip, zstd or plain tar):
//! recompressing would cost more than it saves on a local disk, and push
//! sends any of them. It must never trust a digest it did not compute: a
//! layer's diffID is checked by unpacking it, and an archive's file names
//! are compared against the hashes of their bytes by the caller.
//! Blocking: call from `spawn_blocking`.

use std::fs::File;
use std::io::{BufReader, Read, Write};
use std::path::Path;

use sha2::{Digest as _, Sha256};

use super::digest::Digest;
use super::manifest;
use super::store::{ImageRecord, LayerRecord, Lease, Store, StoreError, now_secs};

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{what} is {format}-compressed, which berth cannot read; use gzip, zstd or a plain tar")]
    Compression { what: String, format: &'static str },
    #[error("reading {what}: {source}")]
    Read {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("image config: {0}")]
    Config(String),
    #[error("encoding image metadata: {0}")]
    Json(#[from] serde_json::Error),
}

impl IngestError {
    /// Content a client sent that cannot be taken in is its fault (400);
    /// a store that cannot be written is ours.
    pub fn kind(&self) -> crate::error_kind::ErrorKind {
        use crate::error_kind::ErrorKind;
        match self {
            IngestError::Store(StoreError::Io { .. } | StoreError::Locked { .. } | StoreError::Corrupt { .. }) => {
                ErrorKind::Internal
            }
            _ => ErrorKind::Invalid,
        }
    }
}

/// How a layer file is compressed, from its first bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LayerFormat {
    Tar,
    Gzip,
    Zstd,
}

impl LayerFormat {
    pub fn sniff(head: &[u8], what: &str) -> Result<Self, IngestError> {
        let refuse = |format| Err(IngestError::Compression { what: what.to_string(), format });
        if head.starts_with(&[0x1f, 0x8b]) {
            Ok(LayerFormat::Gzip)
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Ok(LayerFormat::Zstd)
        } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
            refuse("xz")
        } else if head.starts_with(b"BZh") {
            refuse("bzip2")
        } else {
            Ok(LayerFormat::Tar)
        }
    }

    pub fn media_type(self) -> &'static str {
        match self {
            LayerFormat::Tar => manifest::OCI_LAYER,
            LayerFormat::Gzip => manifest::OCI_LAYER_GZIP,
            LayerFormat::Zstd => manifest::OCI_LAYER_ZSTD,
        }
    }
}

/// Copies `src` into a new staging file while hashing it; returns the
/// staged path, its digest and size. On error nothing is left behind.
pub fn stage_stream(
    store: &Store,
    mut src: impl Read,
    what: &str,
) -> Result<(std::path::PathBuf, Digest, u64), IngestError> {
    let staged = store.staging_path("ingest");
    let result = (|| {
        let mut out = File::create(&staged)?;
        let mut h = Sha256::new();
        let mut buf = vec![0u8; 256 * 1024];
        let mut n_total = 0u64;
        loop {
            let n = src.read(&mut buf)?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
            out.write_all(&buf[..n])?;
            n_total += n as u64;
        }
        out.flush()?;
        Ok((Digest::from_hasher(h), n_total))
    })();
    match result {
        Ok((d, n)) => Ok((staged, d, n)),
        Err(source) => {
            let _ = std::fs::remove_file(&staged);
            Err(IngestError::Read { what: what.to_string(), source })
        }
    }
}

/// Moves a staged layer file (whose digest the caller computed) into the
/// store and unpacks it. `diff_id` is checked when given (an archive's
/// config names it) and computed otherwise (an import).
pub fn layer(
    store: &Store,
    staged: &Path,
    digest: &Digest,
    size: u64,
    diff_id: Option<&Digest>,
    lease: &Lease,
    what: &str,
) -> Result<LayerRecord, IngestError> {
    let mut head = [0u8; 6];
    let n = File::open(staged)
        .and_then(|f| f.take(6).read(&mut head))
        .map_err(|source| IngestError::Read { what: what.to_string(), source })?;
    let format = match LayerFormat::sniff(&head[..n], what) {
        Ok(f) => f,
        Err(e) => {
            let _ = std::fs::remove_file(staged);
            return Err(e);
        }
    };
    lease.hold(digest);
    if store.has_blob(digest) {
        let _ = std::fs::remove_file(staged);
    } else {
        store.commit_staged_blob(staged, digest, lease)?;
    }
    let diff_id = match (diff_id, format) {
        (Some(d), _) => {
            store.unpack_blob(digest, d, lease)?;
            d.clone()
        }
        (None, LayerFormat::Tar) => {
            store.unpack_blob(digest, digest, lease)?;
            digest.clone()
        }
        (None, _) => store.unpack_blob_computing_diff_id(digest, lease)?,
    };
    Ok(LayerRecord { digest: digest.clone(), diff_id, size, media_type: format.media_type().to_string() })
}

/// Stores `config` and an OCI manifest over `layers` (already stored and
/// unpacked), then makes the image visible with `refs`, atomically. The
/// config's diffIDs must be the layers', in order. `parent`: the image it
/// was committed from (Docker's `Parent`; none for a load or an import).
pub fn commit(
    store: &Store,
    config: &[u8],
    layers: Vec<LayerRecord>,
    refs: &[String],
    parent: Option<Digest>,
    lease: &Lease,
) -> Result<ImageRecord, IngestError> {
    let summary = manifest::parse_config(config, layers.len()).map_err(|e| IngestError::Config(e.to_string()))?;
    for (i, (want, l)) in summary.rootfs.diff_ids.iter().zip(&layers).enumerate() {
        if *want != l.diff_id {
            return Err(IngestError::Config(format!("layer {i} unpacks to {} but the config names {want}", l.diff_id)));
        }
    }
    let config_digest = store.put_blob(config, None, lease)?;
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": manifest::OCI_MANIFEST,
        "config": {"mediaType": manifest::OCI_CONFIG, "digest": config_digest.to_string(), "size": config.len()},
        "layers": layers.iter().map(|l| serde_json::json!({
            "mediaType": l.media_type, "digest": l.digest.to_string(), "size": l.size,
        })).collect::<Vec<_>>(),
    });
    let manifest_bytes = serde_json::to_vec(&manifest)?;
    let manifest_digest = store.put_blob(&manifest_bytes, None, lease)?;
    let record = ImageRecord {
        id: config_digest,
        manifest: manifest_digest,
        manifest_media_type: manifest::OCI_MANIFEST.to_string(),
        config_media_type: manifest::OCI_CONFIG.to_string(),
        layers,
        stored_at: now_secs(),
        parent,
    };
    store.commit_image(record.clone(), refs)?;
    Ok(record)
}

/// Reads a whole small file (a config, a manifest), refusing big ones so a
/// hostile archive cannot make the engine hold gigabytes in memory.
pub fn read_small(path: &Path, what: &str) -> Result<Vec<u8>, IngestError> {
    const LIMIT: u64 = 16 << 20;
    let read = |source| IngestError::Read { what: what.to_string(), source };
    let f = File::open(path).map_err(read)?;
    if f.metadata().map_err(read)?.len() > LIMIT {
        return Err(IngestError::Config(format!("{what} is larger than {LIMIT} bytes")));
    }
    let mut out = Vec::new();
    BufReader::new(f).read_to_end(&mut out).map_err(read)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compression_is_sniffed_and_unreadable_formats_named() {
        assert_eq!(LayerFormat::sniff(&[0x1f, 0x8b, 8], "l").unwrap(), LayerFormat::Gzip);
        assert_eq!(LayerFormat::sniff(&[0x28, 0xb5, 0x2f, 0xfd], "l").unwrap(), LayerFormat::Zstd);
        assert_eq!(LayerFormat::sniff(b"etc/\0", "l").unwrap(), LayerFormat::Tar);
        let e = LayerFormat::sniff(&[0xfd, b'7', b'z', b'X', b'Z', 0], "rootfs").unwrap_err().to_string();
        assert!(e.contains("xz") && e.contains("rootfs"), "{e}");
        assert!(LayerFormat::sniff(b"BZh91AY", "l").is_err());
    }
}
