//! The engine as a service layer: the one owner of every operation that
//! spans resources (a container's image and networks, an image's users, a
//! network's endpoints), one file per resource — `containers.rs`,
//! `images.rs`, `networks.rs`, `volumes.rs` (with `mounts.rs`, where
//! containers meet volumes), `exec.rs`, `system.rs`, `commit.rs` — over
//! the domain modules (`crate::container`, `crate::image`,
//! `crate::network`, `crate::volume`), which own their records and rules and know nothing
//! of each other.
//!
//! The API calls exactly one engine method per request and never reaches
//! past it into a domain module's state: `Engine`'s fields are private.
//! Everything the engine keeps on disk lives under `root` and is written
//! atomically (temp file, fsync, rename): a crash leaves the old state or
//! the new one, never half of either.

pub mod archive;
pub mod build;
mod build_cache;
mod build_steps;
mod cache_sources;
pub mod commit;
pub mod containers;
pub mod error;
pub mod exec;
pub mod host;
pub mod images;
pub mod machine;
pub mod mounts;
mod net_plumbing;
mod net_ports;
pub mod networks;
mod plumbing;
pub mod system;
pub mod transfer;
pub mod volumes;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use error::EngineError;

use crate::container::Containers;
use crate::image::endpoints::RegistryConfig;
use crate::image::store::Store;
use crate::network::Networks;
use crate::volume::Volumes;

pub struct Engine {
    root: PathBuf,
    /// Stable across restarts; Docker reports it as the daemon's ID.
    id: String,
    /// True when this engine is PID 1 of a berth micro-VM.
    in_vm: bool,
    /// Images: blobs, unpacked layers, tags (see `crate::image::store`).
    images: Arc<Store>,
    /// How registries are reached: mirrors, insecure registries (daemon.json's settings).
    registries: RegistryConfig,
    /// Shells in the VM (`berth machine shell`); refused in process mode.
    shells: crate::shell::Sessions,
    /// Containers: records, shims, events (see `crate::container`).
    containers: Arc<Containers>,
    /// Networks: records and membership (see `crate::network`).
    networks: Arc<Networks>,
    /// Networks in the kernel, when the engine configures them
    /// (see `net_plumbing`).
    plumbing: Option<Arc<plumbing::Plumbing>>,
    /// Volumes: records and the local driver (see `crate::volume`).
    volumes: Arc<Volumes>,
    /// Set by a shutdown request (`/berth/v1/shutdown`); the server drains
    /// and returns, and PID 1 then powers the VM off.
    shutdown: tokio::sync::watch::Sender<bool>,
    /// The classic builder's cache index (see `crate::build::cache`).
    build_cache: crate::build::cache::Cache,
    /// A machine's host folders, which its binds must lie in.
    host_shares: crate::host_shares::HostShares,
}

impl Engine {
    pub fn open(root: &Path, in_vm: bool) -> Result<Self, EngineError> {
        let err = |source| EngineError::Root { path: root.to_path_buf(), source };
        std::fs::create_dir_all(root).map_err(err)?;
        let id = load_or_create_id(root).map_err(err)?;
        let images = Store::open(root)?;
        let containers = Containers::open(root, images.clone())?;
        let networks = Arc::new(Networks::open(root)?);
        let volumes = Arc::new(Volumes::open(root)?);
        let engine = Engine {
            root: root.to_path_buf(),
            id,
            in_vm,
            images,
            registries: RegistryConfig::default(),
            shells: Default::default(),
            containers,
            networks,
            plumbing: None,
            volumes,
            shutdown: tokio::sync::watch::Sender::new(false),
            build_cache: crate::build::cache::Cache::open(root),
            host_shares: Default::default(),
        };
        engine.drop_anonymous_volumes_of_auto_removed();
        Ok(engine)
    }

    /// The engine with these registry settings (`--registry-mirror`,
    /// `--insecure-registry`, daemon.json) instead of Docker's defaults.
    pub fn with_registries(mut self, registries: RegistryConfig) -> Self {
        self.registries = registries;
        self
    }

    /// The engine of a machine with these host folders (mounted by init).
    pub fn with_host_shares(mut self, shares: crate::host_shares::HostShares) -> Self {
        self.host_shares = shares;
        self
    }

    /// `host-gateway` names `ip` (a machine's uplink gateway: the user's
    /// host) instead of the default bridge's gateway.
    pub fn with_host_gateway(self, ip: Option<std::net::Ipv4Addr>) -> Self {
        if let Some(ip) = ip {
            let _ = self.containers.host_gateway.set(ip);
        }
        self
    }

    pub fn in_vm(&self) -> bool {
        self.in_vm
    }

    /// Brings back what ran before the engine (re)started: shims still
    /// alive are re-adopted, restart policies applied.
    pub async fn recover(&self) {
        self.follow_removals();
        self.mount_volumes_in_use();
        self.restore_plumbing().await;
        self.containers.recover().await;
        self.restore_ports();
    }

    /// Stops every container before the VM powers off; how many it stopped.
    pub async fn stop_all_for_shutdown(&self, limit: std::time::Duration) -> usize {
        self.containers.stop_all_for_shutdown(limit).await
    }

    /// Does this container exist? (The networks' view of their endpoints.)
    fn container_exists(&self, id: &str) -> bool {
        self.containers.get(id).is_ok()
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
