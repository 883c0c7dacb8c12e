//! `docker import`: a root filesystem tarball (plain, gzip or zstd) becomes
//! a one-layer image, its config set from `changes`.
//!
//! Owns the image config an import gets (Docker's: the platform, `created`
//! now, the message as comment and history). The layer goes through the
//! same ingest and hostile-entry checks as any other; nothing is visible
//! until the commit. Blocking: call from `spawn_blocking`.

use std::io::Read;

use serde_json::{Map, Value, json};

use super::changes::{self, ChangeError};
use super::ingest::{self, IngestError};
use super::manifest;
use super::store::{ImageRecord, Store};

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(transparent)]
    Changes(#[from] ChangeError),
    #[error(transparent)]
    Ingest(#[from] IngestError),
    #[error("the tarball is empty")]
    Empty,
}

impl ImportError {
    pub fn kind(&self) -> crate::error_kind::ErrorKind {
        match self {
            ImportError::Ingest(e) => e.kind(),
            ImportError::Changes(_) | ImportError::Empty => crate::error_kind::ErrorKind::Invalid,
        }
    }
}

pub struct ImportOptions {
    /// Dockerfile instructions for the config (`--change`).
    pub changes: Vec<String>,
    /// The commit message (`--message`); Docker's default names the source.
    pub message: Option<String>,
    /// Canonical reference keys to point at the new image.
    pub refs: Vec<String>,
}

pub fn import(store: &Store, tarball: impl Read, opts: &ImportOptions) -> Result<ImageRecord, ImportError> {
    let result = import_inner(store, tarball, opts);
    if let Err(e) = &result {
        tracing::warn!(error = %e, "import failed; removing what it stored");
        if let Err(gc) = store.gc() {
            tracing::warn!(error = %gc, "cleanup after a failed import");
        }
    }
    result
}

fn import_inner(store: &Store, tarball: impl Read, opts: &ImportOptions) -> Result<ImageRecord, ImportError> {
    // Changes first: a bad one must fail before any byte is stored.
    let mut config = Map::new();
    changes::apply(&mut config, &opts.changes)?;
    let lease = store.lease();
    let (staged, digest, size) = ingest::stage_stream(store, tarball, "the imported tarball")?;
    if size == 0 {
        let _ = std::fs::remove_file(&staged);
        return Err(ImportError::Empty);
    }
    let layer = ingest::layer(store, &staged, &digest, size, None, &lease, "the imported tarball")?;
    let created = rfc3339_now();
    let comment = opts.message.clone().unwrap_or_else(|| "Imported from -".to_string());
    let image_config = json!({
        "architecture": manifest::PLATFORM_ARCH,
        "os": manifest::PLATFORM_OS,
        "created": created,
        "comment": comment,
        "config": Value::Object(config),
        "rootfs": {"type": "layers", "diff_ids": [layer.diff_id.to_string()]},
        "history": [{"created": created, "comment": comment, "created_by": ""}],
    });
    let bytes = serde_json::to_vec(&image_config).map_err(IngestError::from)?;
    Ok(ingest::commit(store, &bytes, vec![layer], &opts.refs, None, &lease)?)
}

/// Now as RFC 3339 UTC (`2026-11-23T23:40:00Z`), without a date crate.
pub fn rfc3339_now() -> String {
    let secs = i64::try_from(super::store::now_secs()).unwrap_or(i64::MAX);
    chrono::DateTime::from_timestamp(secs, 0).unwrap_or_default().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn now_looks_like_rfc3339() {
        let s = super::rfc3339_now();
        assert_eq!(s.len(), 20, "{s}");
        assert!(s.starts_with("20") && s.ends_with('Z') && &s[10..11] == "T", "{s}");
    }
}
