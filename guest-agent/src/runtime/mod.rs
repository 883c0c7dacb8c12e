//! The container runtime: turns a Docker create request into a running
//! container under its own shim, and gives the engine a handle to it.
//!
//! Owns: per-container runtime state under `state_root/<id>/` (OCI bundle,
//! overlay rootfs mount point and upper/work dirs, /etc/hosts and friends,
//! the shim's control socket and `exit.json`), the OCI spec with Docker's
//! defaults (see [`spec`]), and the shim process (see [`shim`]), which is
//! the agent forked single-threaded by the shim [`launcher`] (or re-executed)
//! and is the only caller of youki's `libcontainer`.
//!
//! Must never: call `libcontainer` from the engine process (it clones from
//! its caller, which must be single-threaded), wait for "any child" (PID 1's
//! reaper owns that in the guest), or keep container state the engine also
//! keeps (names, labels, restart policy are the engine's; this module only
//! knows ids).

pub mod bench;
mod cgroup_update;
mod client;
mod error;
pub mod frames;
pub mod launcher;
mod leftovers;
pub mod log_rotation;
mod overlay;
mod pivotable_root;
mod process;
mod protocol;
pub mod shim;
mod spawn;
pub mod spec;
mod state_file;
mod types;

#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::sync::Arc;

pub use cgroup_update::Limits;
pub use client::{AttachIo, ExecHandle, Shim};
pub use error::RuntimeError;
pub use overlay::LayerView;
pub use pivotable_root::make_root_pivotable;
pub use types::{AttachStreams, BlkioEntry, CgroupStats, ContainerState, ExecRequest, ExitInfo, ResolvedProcess};

/// Everything the runtime needs to create one container.
#[derive(Clone, Debug)]
pub struct ContainerRequest {
    /// The 64-hex Docker id; also the shim's and libcontainer's id.
    pub id: String,
    /// Docker's name without the leading slash (only for logs).
    pub name: String,
    /// The create body's `Config` (Cmd, Entrypoint, Env, User, WorkingDir,
    /// Tty, OpenStdin, StdinOnce, Hostname, Domainname…).
    pub config: bollard_stubs::models::ContainerConfig,
    /// The create body's `HostConfig` (ReadonlyRootfs, Privileged, Memory,
    /// MemorySwap, NanoCpus, CpuQuota, CpuPeriod, CpuShares, PidsLimit,
    /// CapAdd, CapDrop, SecurityOpt, Ulimits, Tmpfs, NetworkMode, ExtraHosts, Dns, ShmSize…).
    pub host_config: bollard_stubs::models::HostConfig,
    /// The image's config (Entrypoint, Cmd, Env, WorkingDir, User).
    pub image: bollard_stubs::models::ImageConfig,
    /// Unpacked layer directories, LOWEST first. (`Store::lower_dirs`
    /// returns them top-most first: reverse it.) Empty is allowed for a
    /// rootfs given as a single layer.
    pub layers: Vec<PathBuf>,
    /// The shim appends Docker json-file lines `{"log","stream","time"}`
    /// here for every chunk the container writes (not for execs); None for
    /// the `none` log driver: nothing is written.
    pub log_path: Option<PathBuf>,
    /// The container's writable layer, owned by the engine: `upper/` and
    /// `work/` under it are kept across runs of the container (stop/start,
    /// restart policies) and removed with it, as Docker does. None keeps
    /// them in the runtime state dir, gone when the shim is deleted.
    pub rw_dir: Option<PathBuf>,
    /// A network namespace (a file) the container joins instead of getting
    /// a new one; the engine configured it. Ignored with `--network host`.
    pub netns: Option<PathBuf>,
    /// The container resolves through the embedded DNS server: its
    /// resolv.conf names 127.0.0.11 (user networks, as Docker's).
    pub embedded_dns: bool,
    /// The container's own addresses: each gets a line with its hostname
    /// in `/etc/hosts`, as Docker writes it.
    pub own_addresses: Vec<std::net::Ipv4Addr>,
    /// The container's binds and tmpfs mounts (volumes already resolved
    /// to their directories by the engine); `HostConfig.Tmpfs` is added.
    pub mounts: Vec<spec::UserMount>,
}

/// The runtime: where container state lives and how shims are started.
/// Cheap to clone.
#[derive(Clone, Debug)]
pub struct Runtime {
    state_root: PathBuf,
    /// The binary re-executed as the shim (the agent itself) when the
    /// launcher cannot fork one.
    shim_exe: PathBuf,
    /// Forks shims without an exec; shared by the clones of this runtime.
    launcher: Arc<launcher::Launcher>,
}

impl Runtime {
    /// `state_root` holds one directory per container (the engine passes
    /// e.g. `<engine root>/runtime`). The shim is `std::env::current_exe()`.
    pub fn new(state_root: PathBuf) -> Result<Self, RuntimeError> {
        let exe = std::env::current_exe().map_err(RuntimeError::io("find", "/proc/self/exe"))?;
        Self::with_shim_exe(state_root, exe)
    }

    /// Like [`Runtime::new`] with an explicit agent binary to run as the
    /// shim (tests, whose own executable is the test harness).
    pub fn with_shim_exe(state_root: PathBuf, shim_exe: PathBuf) -> Result<Self, RuntimeError> {
        std::fs::create_dir_all(&state_root).map_err(RuntimeError::io("create", &state_root))?;
        leftovers::sweep_retired(&state_root);
        let launcher = Arc::new(launcher::Launcher::start(&shim_exe));
        Ok(Runtime { state_root, shim_exe, launcher })
    }

    #[cfg(test)]
    pub fn state_root(&self) -> &std::path::Path {
        &self.state_root
    }

    /// The process Docker would run for this config and image (inspect's
    /// Path/Args and the merged Env/WorkingDir/User).
    pub fn resolve_process(
        config: &bollard_stubs::models::ContainerConfig,
        image: &bollard_stubs::models::ImageConfig,
    ) -> Result<ResolvedProcess, RuntimeError> {
        process::resolve(config, image)
    }

    #[cfg(test)]
    pub(crate) fn launcher(&self) -> &launcher::Launcher {
        &self.launcher
    }

    /// `docker update` of a container that runs: writes `limits` into its
    /// cgroup. False when it has none (not running: the record's new
    /// HostConfig takes effect at its next start).
    pub fn update_limits(&self, id: &str, limits: &Limits) -> Result<bool, RuntimeError> {
        cgroup_update::write(id, limits)
    }

    /// Whether `BlkioWeight` can be honoured on this kernel.
    pub fn blkio_weight_supported() -> bool {
        cgroup_update::blkio_weight_supported()
    }

    pub(crate) fn container_dir(&self, id: &str) -> PathBuf {
        self.state_root.join(id)
    }
}
