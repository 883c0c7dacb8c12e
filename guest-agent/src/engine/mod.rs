//! The engine's own state: its root directory and identity. Containers,
//! images, volumes and networks hang off this as they arrive.
//!
//! Everything the engine keeps on disk lives under `root` and is written
//! atomically (temp file, fsync, rename): a crash leaves the old state or
//! the new one, never half of either.

pub mod host;

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("engine root {path}: {source}")]
    Root {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Images(#[from] crate::image::store::StoreError),
    #[error(transparent)]
    Containers(#[from] crate::container::error::ContainerError),
    #[error(transparent)]
    Networks(#[from] crate::network::NetworkError),
}

pub struct Engine {
    pub root: PathBuf,
    /// Stable across restarts; Docker reports it as the daemon's ID.
    pub id: String,
    /// True when this engine is PID 1 of a berth micro-VM.
    pub in_vm: bool,
    /// Images: blobs, unpacked layers, tags (see `crate::image::store`).
    pub images: std::sync::Arc<crate::image::store::Store>,
    /// Shells in the VM (`berth machine shell`); refused in process mode.
    pub shells: crate::shell::Sessions,
    /// Containers: records, shims, events (see `crate::container`).
    pub containers: std::sync::Arc<crate::container::Containers>,
    /// Networks: records and membership (see `crate::network`).
    pub networks: std::sync::Arc<crate::network::Networks>,
    /// Set by a shutdown request (`/berth/v1/shutdown`); the server drains
    /// and returns, and PID 1 then powers the VM off.
    shutdown: tokio::sync::watch::Sender<bool>,
}

impl Engine {
    pub fn open(root: &Path, in_vm: bool) -> Result<Self, EngineError> {
        let err = |source| EngineError::Root { path: root.to_path_buf(), source };
        std::fs::create_dir_all(root).map_err(err)?;
        let id = load_or_create_id(root).map_err(err)?;
        let images = crate::image::store::Store::open(root)?;
        let containers = crate::container::Containers::open(root, images.clone())?;
        let networks = std::sync::Arc::new(crate::network::Networks::open(root)?);
        let weak = std::sync::Arc::downgrade(&containers);
        networks.set_liveness(Box::new(move |id| weak.upgrade().is_some_and(|c| c.get(id).is_ok())));
        Ok(Engine {
            root: root.to_path_buf(),
            id,
            in_vm,
            images,
            shells: Default::default(),
            containers,
            networks,
            shutdown: tokio::sync::watch::Sender::new(false),
        })
    }
}

impl Engine {
    pub fn request_shutdown(&self) {
        self.shutdown.send_replace(true);
    }

    /// Resolves once a shutdown has been requested.
    pub async fn shutdown_requested(&self) {
        let mut rx = self.shutdown.subscribe();
        let _ = rx.wait_for(|requested| *requested).await;
    }
}

fn load_or_create_id(root: &Path) -> std::io::Result<String> {
    let path = root.join("engine-id");
    if let Ok(id) = std::fs::read_to_string(&path) {
        let id = id.trim();
        if id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(id.to_string());
        }
    }
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom").and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes))?;
    let id: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    crate::durable::write_atomic(&path, id.as_bytes())?;
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_survives_reopen_and_corruption_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        // One engine at a time per root: the image store holds a lock.
        let a = Engine::open(dir.path(), false).unwrap().id;
        let b = Engine::open(dir.path(), false).unwrap().id;
        assert_eq!(a, b);
        assert_eq!(a.len(), 32);
        std::fs::write(dir.path().join("engine-id"), "garbage").unwrap();
        let c = Engine::open(dir.path(), false).unwrap();
        assert_ne!(c.id, "garbage");
        assert_eq!(c.id.len(), 32);
    }

    #[test]
    fn unusable_root_is_an_error() {
        let e = Engine::open(Path::new("/proc/berth-root"), false).err().unwrap();
        assert!(e.to_string().contains("/proc/berth-root"), "{e}");
    }
}
