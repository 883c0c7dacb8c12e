//! Plain data the runtime hands to the engine: container states, exit
//! information, exec requests, cgroup statistics. Serializable, because the
//! shim sends them over its control socket and keeps `exit.json` on disk.

use std::time::SystemTime;

use serde::{Deserialize, Serialize};

/// Where a container is in its life, as the shim sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ContainerState {
    /// Rootfs and bundle ready, the shim waits for `start`.
    Created,
    /// The container's init runs with this host pid.
    Running { pid: i32, started_at: SystemTime },
    /// Frozen through the cgroup freezer.
    Paused { pid: i32, started_at: SystemTime },
    /// Its init is gone; the shim keeps this until `delete`.
    Exited(ExitInfo),
}

impl ContainerState {
    /// Docker's word for the state (`State.Status`).
    pub fn docker_status(&self) -> &'static str {
        match self {
            ContainerState::Created => "created",
            ContainerState::Running { .. } => "running",
            ContainerState::Paused { .. } => "paused",
            ContainerState::Exited(_) => "exited",
        }
    }

    pub fn pid(&self) -> Option<i32> {
        match self {
            ContainerState::Running { pid, .. } | ContainerState::Paused { pid, .. } => Some(*pid),
            _ => None,
        }
    }
}

/// How a container (or an exec) ended. Kept in `exit.json` by the shim.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitInfo {
    /// The process's exit code, 128+N for a signal N, 126/127 when the
    /// entrypoint could not be executed.
    pub code: i32,
    /// The cgroup's OOM killer killed a process of this container.
    pub oom_killed: bool,
    /// Docker's `State.Error`: set when the container could not run at all.
    pub error: Option<String>,
    /// None when it never started.
    pub started_at: Option<SystemTime>,
    pub finished_at: SystemTime,
}

/// Which of the container's streams an attach wants.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachStreams {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
}

/// A process to run inside a running container (`docker exec`).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ExecRequest {
    /// argv; looked up in the container's PATH when it has no slash.
    pub cmd: Vec<String>,
    /// `KEY=VALUE` added to (and overriding) the container's environment.
    pub env: Vec<String>,
    /// `user[:group]`, names or numbers; empty means the container's user.
    pub user: String,
    /// Empty means the container's working directory.
    pub workdir: String,
    pub tty: bool,
    /// Which streams the caller attaches. stdout/stderr not attached are
    /// discarded; without stdin the process reads /dev/null.
    pub attach: AttachStreams,
    /// All capabilities, no seccomp filter (`docker exec --privileged`).
    pub privileged: bool,
    /// Initial terminal size (columns, rows), when `tty`.
    pub console_size: Option<(u16, u16)>,
}

/// The process a container runs, as Docker merges the create request with
/// the image's config. `docker inspect` shows these (Path, Args, Config).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolvedProcess {
    /// argv[0] as given (Docker's `Path`), before any PATH lookup.
    pub path: String,
    /// The rest of argv (Docker's `Args`).
    pub args: Vec<String>,
    /// Image env overridden by the request's env; PATH defaulted.
    pub env: Vec<String>,
    /// Absolute working directory ("/" by default).
    pub cwd: String,
    /// `user[:group]` as configured (names resolved inside the rootfs at
    /// start); empty for root.
    pub user: String,
}

/// Resource usage of a container's cgroup, in the units Docker's stats use.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CgroupStats {
    pub read_at: Option<SystemTime>,
    /// CPU time of the cgroup, nanoseconds.
    pub cpu_total_ns: u64,
    pub cpu_user_ns: u64,
    pub cpu_system_ns: u64,
    /// Per CPU, nanoseconds (cgroup v1 only; empty on v2, as in Docker).
    pub cpu_percpu_ns: Vec<u64>,
    /// The host's CPU time since boot, nanoseconds (`system_cpu_usage`).
    pub system_cpu_ns: u64,
    pub online_cpus: u32,
    pub throttling_periods: u64,
    pub throttled_periods: u64,
    pub throttled_time_ns: u64,
    pub memory_usage: u64,
    /// The limit, or the host's memory when unlimited (as Docker reports).
    pub memory_limit: u64,
    pub memory_max_usage: u64,
    /// Raw `memory.stat` (includes `inactive_file`, which `docker stats`
    /// subtracts from usage; v1's `total_inactive_file` too).
    pub memory_stats: std::collections::BTreeMap<String, u64>,
    pub pids_current: u64,
    /// 0 when unlimited.
    pub pids_limit: u64,
    /// Bytes read and written per device, (major, minor, op, value) with op
    /// `read`/`write`, as Docker's `io_service_bytes_recursive`.
    pub blkio_service_bytes: Vec<BlkioEntry>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlkioEntry {
    pub major: u64,
    pub minor: u64,
    pub op: String,
    pub value: u64,
}

/// Formats a time as Docker does in JSON (RFC 3339 with nanoseconds, UTC).
pub fn rfc3339_nano(t: SystemTime) -> String {
    let dt: chrono::DateTime<chrono::Utc> = t.into();
    dt.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}
