//! Garbage collection: removes blobs and unpacked layers that no image
//! record references and no operation in flight holds.
//!
//! Owns the mark-and-sweep over the store's directories. It must never
//! remove content that an image record names, nor content held by a
//! [`Lease`](super::store::Lease): a pull commits blobs and layers before the
//! record that references them, and the lease is what keeps them alive in
//! between. It holds the index lock for the whole sweep, so no image can be
//! committed half-way through it.

use std::collections::HashSet;
use std::path::PathBuf;

use super::digest::Digest;
use super::fsutil;
use super::store::{Store, StoreError};
use crate::unpoisoned::lock;

#[derive(Debug, Default)]
pub struct GcReport {
    pub blobs: Vec<Digest>,
    pub layers: Vec<Digest>,
    /// Entries that are not digests at all (foreign files); removed too.
    pub junk: Vec<PathBuf>,
    /// Disk space the removed blobs and layers took (prune's SpaceReclaimed).
    pub bytes: u64,
}

impl GcReport {
    pub fn is_empty(&self) -> bool {
        self.blobs.is_empty() && self.layers.is_empty() && self.junk.is_empty()
    }
}

impl Store {
    /// Note: an image a container uses cannot lose its record (deletes
    /// refuse it, see `super::users`), so its content stays live here.
    pub fn gc(&self) -> Result<GcReport, StoreError> {
        let index = lock(&self.index);
        let leases = lock(&self.leases);
        let mut live_blobs = HashSet::new();
        let mut live_layers = HashSet::new();
        for rec in index.images.values() {
            live_blobs.insert(rec.id.clone());
            live_blobs.insert(rec.manifest.clone());
            for l in &rec.layers {
                live_blobs.insert(l.digest.clone());
                live_layers.insert(l.diff_id.clone());
            }
        }
        // A lease holds digests without saying what they are: keep either kind.
        let held: HashSet<&Digest> = leases.held.values().flatten().collect();

        let mut report = GcReport::default();
        for (dir, live, out) in [(self.blob_dir(), &live_blobs, 0), (self.layer_dir(), &live_layers, 1)] {
            let entries =
                fsutil::list_dir(&dir).map_err(|source| StoreError::Io { op: "list", path: dir.clone(), source })?;
            for path in entries {
                let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
                let Ok(d) = Digest::parse(&format!("sha256:{name}")) else {
                    tracing::warn!(path = %path.display(), "removing a foreign file from the image store");
                    fsutil::remove_any(&path).map_err(|source| StoreError::Io {
                        op: "remove",
                        path: path.clone(),
                        source,
                    })?;
                    report.junk.push(path);
                    continue;
                };
                if live.contains(&d) || held.contains(&d) {
                    continue;
                }
                tracing::debug!(digest = %d, "collecting unreferenced image content");
                report.bytes += fsutil::disk_usage(&path);
                fsutil::remove_any(&path).map_err(|source| StoreError::Io {
                    op: "remove",
                    path: path.clone(),
                    source,
                })?;
                if out == 0 { report.blobs.push(d) } else { report.layers.push(d) }
            }
        }
        Ok(report)
    }
}
