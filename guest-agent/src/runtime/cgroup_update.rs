//! `docker update` on a live container: new CPU, memory, pids and block-I/O
//! limits written into the cgroup the container already runs in, v2
//! (`/sys/fs/cgroup/berth/<id>`) or v1 (one directory per controller), the
//! values converted as runc converts them.
//!
//! Why not libcgroups' `apply`: it rewrites every controller, the device
//! rules included, from one `LinuxResources`; an update must touch only
//! the limits it changes. Owns the file names, value formats and write
//! order; it must never create or remove a cgroup, and never decide what
//! a request may change (the container domain checks that first).

use std::path::{Path, PathBuf};

use bollard_stubs::models::HostConfig;

use super::RuntimeError;
use super::spec::{cgroup_path, cgroup_v2};

const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// The limits to write, each `None` when the file is left as it is. `-1`
/// means unlimited wherever the kernel knows "max".
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Limits {
    pub cpu_shares: Option<u64>,
    pub cpu_quota: Option<i64>,
    pub cpu_period: Option<u64>,
    pub cpuset_cpus: Option<String>,
    pub cpuset_mems: Option<String>,
    pub memory: Option<i64>,
    /// Memory plus swap, as Docker and cgroup v1 count it.
    pub memory_swap: Option<i64>,
    pub memory_reservation: Option<i64>,
    pub pids: Option<i64>,
    /// 10..=1000, Docker's (and v1's) scale.
    pub blkio_weight: Option<u16>,
}

impl Limits {
    /// What a container with `hc` (its whole HostConfig, the update merged
    /// in) runs with, as the spec would give it at its next start. The
    /// checks are the spec's (so a bad value fails here as at create).
    pub fn from_host_config(hc: &HostConfig) -> Result<Limits, RuntimeError> {
        let memory = super::spec::resources::memory(hc)?;
        let cpu = super::spec::resources::cpu(hc)?;
        Ok(Limits {
            cpu_shares: cpu.as_ref().and_then(|c| c.shares()),
            cpu_quota: cpu.as_ref().and_then(|c| c.quota()),
            cpu_period: cpu.as_ref().and_then(|c| c.period()),
            cpuset_cpus: cpu.as_ref().and_then(|c| c.cpus().clone()),
            cpuset_mems: cpu.as_ref().and_then(|c| c.mems().clone()),
            memory: memory.as_ref().and_then(|m| m.limit()),
            memory_swap: memory.as_ref().and_then(|m| m.swap()),
            memory_reservation: memory.as_ref().and_then(|m| m.reservation()),
            // 0 and below lift the limit (Docker sends runc -1 for them).
            pids: hc.pids_limit.map(|p| if p > 0 { p } else { -1 }),
            blkio_weight: hc.blkio_weight.filter(|w| *w > 0),
        })
    }
}

/// Whether this kernel's cgroups can weigh block I/O (Docker warns and
/// drops `BlkioWeight` otherwise).
pub fn blkio_weight_supported() -> bool {
    if cgroup_v2() {
        std::fs::read_to_string(Path::new(CGROUP_ROOT).join("cgroup.controllers"))
            .is_ok_and(|c| c.split_whitespace().any(|c| c == "io"))
    } else {
        let dir = Path::new(CGROUP_ROOT).join("blkio");
        dir.join("blkio.weight").exists() || dir.join("blkio.bfq.weight").exists()
    }
}

/// Writes `limits` into container `id`'s cgroup. Returns false, writing
/// nothing, when the container has no cgroup (it does not run).
pub fn write(id: &str, limits: &Limits) -> Result<bool, RuntimeError> {
    let rel = cgroup_path(id);
    let rel = rel.trim_start_matches('/');
    if cgroup_v2() {
        let dir = Path::new(CGROUP_ROOT).join(rel);
        if !dir.is_dir() {
            return Ok(false);
        }
        write_v2(&dir, limits)?;
    } else {
        let dir = |controller: &str| Path::new(CGROUP_ROOT).join(controller).join(rel);
        if !dir("memory").is_dir() && !dir("pids").is_dir() {
            return Ok(false);
        }
        write_v1(&dir, limits)?;
    }
    Ok(true)
}

fn put(dir: &Path, file: &str, value: impl std::fmt::Display) -> Result<(), RuntimeError> {
    let path = dir.join(file);
    std::fs::write(&path, value.to_string()).map_err(RuntimeError::io("write", path))
}

/// `-1` (or any negative) as the kernel's "max".
fn max_or(v: i64) -> String {
    if v < 0 { "max".into() } else { v.to_string() }
}

/// runc's shares → `cpu.weight` (2..262144 onto 1..10000).
fn cpu_weight(shares: u64) -> u64 {
    let shares = shares.clamp(2, 262_144);
    1 + ((shares - 2) * 9999) / 262_142
}

/// Docker's 10..1000 block-I/O weight onto `io.weight`'s 1..10000.
fn io_weight(weight: u16) -> u64 {
    1 + (u64::from(weight).saturating_sub(10) * 9999) / 990
}

fn write_v2(dir: &Path, l: &Limits) -> Result<(), RuntimeError> {
    if let Some(s) = l.cpu_shares {
        put(dir, "cpu.weight", cpu_weight(s))?;
    }
    match (l.cpu_quota, l.cpu_period) {
        (Some(q), p) => put(dir, "cpu.max", format!("{} {}", max_or(q), p.unwrap_or(100_000)))?,
        (None, Some(p)) => put(dir, "cpu.max", format!("max {p}"))?,
        (None, None) => {}
    }
    if let Some(c) = &l.cpuset_cpus {
        put(dir, "cpuset.cpus", c)?;
    }
    if let Some(m) = &l.cpuset_mems {
        put(dir, "cpuset.mems", m)?;
    }
    if let Some(r) = l.memory_reservation {
        put(dir, "memory.low", max_or(r))?;
    }
    if let Some(m) = l.memory {
        put(dir, "memory.max", max_or(m))?;
        // v2 counts swap alone: the total less the memory.
        if let Some(total) = l.memory_swap
            && dir.join("memory.swap.max").exists()
        {
            let swap = if total < 0 || m < 0 { "max".to_string() } else { total.saturating_sub(m).to_string() };
            put(dir, "memory.swap.max", swap)?;
        }
    }
    if let Some(p) = l.pids {
        put(dir, "pids.max", max_or(p))?;
    }
    if let Some(w) = l.blkio_weight {
        if dir.join("io.bfq.weight").exists() {
            put(dir, "io.bfq.weight", w)?;
        } else {
            put(dir, "io.weight", io_weight(w))?;
        }
    }
    Ok(())
}

fn write_v1(dir: &dyn Fn(&str) -> PathBuf, l: &Limits) -> Result<(), RuntimeError> {
    let cpu = dir("cpu");
    if let Some(s) = l.cpu_shares {
        put(&cpu, "cpu.shares", s)?;
    }
    if let Some(p) = l.cpu_period {
        put(&cpu, "cpu.cfs_period_us", p)?;
    }
    if let Some(q) = l.cpu_quota {
        put(&cpu, "cpu.cfs_quota_us", if q < 0 { -1 } else { q })?;
    }
    let cpuset = dir("cpuset");
    if let Some(c) = &l.cpuset_cpus {
        put(&cpuset, "cpuset.cpus", c)?;
    }
    if let Some(m) = &l.cpuset_mems {
        put(&cpuset, "cpuset.mems", m)?;
    }
    write_v1_memory(&dir("memory"), l)?;
    if let Some(p) = l.pids {
        put(&dir("pids"), "pids.max", max_or(p))?;
    }
    if let Some(w) = l.blkio_weight {
        let blkio = dir("blkio");
        if blkio.join("blkio.weight").exists() {
            put(&blkio, "blkio.weight", w)?;
        } else {
            put(&blkio, "blkio.bfq.weight", w)?;
        }
    }
    Ok(())
}

/// The memory limit and memory+swap limit in the order the kernel accepts:
/// memsw may never be below the limit, so a growing limit moves memsw
/// first (runc's order). Without swap accounting there is no memsw file.
fn write_v1_memory(mem: &Path, l: &Limits) -> Result<(), RuntimeError> {
    if let Some(r) = l.memory_reservation {
        put(mem, "memory.soft_limit_in_bytes", if r < 0 { -1 } else { r })?;
    }
    let Some(limit) = l.memory else { return Ok(()) };
    let limit = if limit < 0 { -1 } else { limit };
    let swap = l.memory_swap.filter(|_| mem.join("memory.memsw.limit_in_bytes").exists());
    let set_limit = || put(mem, "memory.limit_in_bytes", limit);
    let set_swap = |s: i64| put(mem, "memory.memsw.limit_in_bytes", if s < 0 { -1 } else { s });
    match swap {
        Some(s) => {
            let current: Option<i64> = std::fs::read_to_string(mem.join("memory.limit_in_bytes"))
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(|v| i64::try_from(v).unwrap_or(i64::MAX));
            if s < 0 || current.is_some_and(|c| c < s) {
                set_swap(s)?;
                set_limit()
            } else {
                set_limit()?;
                set_swap(s)
            }
        }
        None => set_limit(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_are_runcs() {
        assert_eq!(cpu_weight(1024), 39);
        assert_eq!(cpu_weight(2), 1);
        assert_eq!(cpu_weight(262_144), 10_000);
        assert_eq!(io_weight(10), 1);
        assert_eq!(io_weight(1000), 10_000);
        assert_eq!(io_weight(500), 4950);
        assert_eq!(max_or(-1), "max");
    }

    #[test]
    fn limits_follow_the_spec_and_dockers_pids_rule() {
        let hc = HostConfig {
            memory: Some(64 << 20),
            cpu_shares: Some(512),
            nano_cpus: Some(500_000_000),
            pids_limit: Some(0),
            blkio_weight: Some(300),
            ..Default::default()
        };
        let l = Limits::from_host_config(&hc).expect("limits");
        assert_eq!((l.memory, l.memory_swap), (Some(64 << 20), Some(64 << 20)), "no swap beyond the limit");
        assert_eq!((l.cpu_quota, l.cpu_period, l.cpu_shares), (Some(50_000), Some(100_000), Some(512)));
        assert_eq!((l.pids, l.blkio_weight), (Some(-1), Some(300)), "0 lifts the pids limit");
        let none = Limits::from_host_config(&HostConfig::default()).expect("limits");
        assert_eq!(none, Limits::default(), "nothing set, nothing written");
        let small = HostConfig { memory: Some(1 << 20), ..Default::default() };
        assert_eq!(Limits::from_host_config(&small).unwrap_err().to_string(), "Minimum memory limit allowed is 6MB");
    }

    /// The v2 files as a container's cgroup directory holds them.
    #[test]
    fn v2_files_get_the_kernels_formats() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("memory.swap.max"), "0").expect("swap file");
        let l = Limits {
            cpu_shares: Some(1024),
            cpu_quota: Some(50_000),
            cpu_period: Some(100_000),
            memory: Some(64 << 20),
            memory_swap: Some(-1),
            memory_reservation: Some(32 << 20),
            pids: Some(-1),
            blkio_weight: Some(1000),
            ..Default::default()
        };
        write_v2(dir.path(), &l).expect("write");
        let read = |f: &str| std::fs::read_to_string(dir.path().join(f)).expect(f);
        assert_eq!(read("cpu.weight"), "39");
        assert_eq!(read("cpu.max"), "50000 100000");
        assert_eq!(read("memory.max"), (64u64 << 20).to_string());
        assert_eq!(read("memory.swap.max"), "max");
        assert_eq!(read("memory.low"), (32u64 << 20).to_string());
        assert_eq!(read("pids.max"), "max");
        assert_eq!(read("io.weight"), "10000");
        assert!(!dir.path().join("cpuset.cpus").exists(), "what is not asked is not written");
    }

    #[test]
    fn v1_memory_moves_memsw_first_when_growing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mem = dir.path();
        std::fs::write(mem.join("memory.limit_in_bytes"), "10485760").expect("limit");
        std::fs::write(mem.join("memory.memsw.limit_in_bytes"), "10485760").expect("memsw");
        let l = Limits { memory: Some(64 << 20), memory_swap: Some(128 << 20), ..Default::default() };
        write_v1_memory(mem, &l).expect("grow");
        let read = |f: &str| std::fs::read_to_string(mem.join(f)).expect(f);
        assert_eq!(
            (read("memory.limit_in_bytes"), read("memory.memsw.limit_in_bytes")),
            ((64u64 << 20).to_string(), (128u64 << 20).to_string())
        );
    }
}
