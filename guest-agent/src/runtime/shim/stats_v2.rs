//! A container's resource usage read straight from its cgroup v2 files.
//!
//! libcgroups 0.7's v2 stats fail as a whole when one file is missing, and
//! it reads the PSI files (`cpu.pressure`…), which a kernel without
//! CONFIG_PSI (the guest's) does not have: `docker stats` failed in the VM.
//! Here every file is optional and reads as zero when absent, as Docker's
//! own v2 reader does.
//!
//! Must never: write to the cgroup.

use std::collections::BTreeMap;
use std::path::Path;

use crate::runtime::{BlkioEntry, CgroupStats};

/// The stats of the cgroup directory `dir`; the host-wide fields (system
/// CPU time, online CPUs, memory when unlimited) come from the caller.
pub fn read(dir: &Path, host_memory: u64) -> CgroupStats {
    let cpu = keyed(&dir.join("cpu.stat"));
    let us = |k: &str| cpu.get(k).copied().unwrap_or(0).saturating_mul(1000);
    let limit = single(&dir.join("memory.max")).filter(|l| *l > 0 && *l < host_memory).unwrap_or(host_memory);
    CgroupStats {
        read_at: Some(std::time::SystemTime::now()),
        cpu_total_ns: us("usage_usec"),
        cpu_user_ns: us("user_usec"),
        cpu_system_ns: us("system_usec"),
        throttling_periods: cpu.get("nr_periods").copied().unwrap_or(0),
        throttled_periods: cpu.get("nr_throttled").copied().unwrap_or(0),
        throttled_time_ns: us("throttled_usec"),
        memory_usage: single(&dir.join("memory.current")).unwrap_or(0),
        memory_limit: limit,
        memory_max_usage: single(&dir.join("memory.peak")).unwrap_or(0),
        memory_stats: keyed(&dir.join("memory.stat")),
        pids_current: single(&dir.join("pids.current")).unwrap_or(0),
        pids_limit: single(&dir.join("pids.max")).unwrap_or(0),
        blkio_service_bytes: io_bytes(&std::fs::read_to_string(dir.join("io.stat")).unwrap_or_default()),
        ..Default::default()
    }
}

/// A one-number file; `max` (no limit) and absence are None.
fn single(path: &Path) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// `key value` lines.
fn keyed(path: &Path) -> BTreeMap<String, u64> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            Some((w.next()?.to_string(), w.next()?.parse().ok()?))
        })
        .collect()
}

/// `io.stat`: `MAJ:MIN rbytes=N wbytes=N rios=N …` per device.
fn io_bytes(text: &str) -> Vec<BlkioEntry> {
    let mut out = Vec::new();
    for line in text.lines() {
        let mut w = line.split_whitespace();
        let Some((major, minor)) = w.next().and_then(|d| d.split_once(':')) else { continue };
        let (Ok(major), Ok(minor)) = (major.parse(), minor.parse()) else { continue };
        for kv in w {
            let op = match kv.split_once('=') {
                Some(("rbytes", v)) => ("read", v),
                Some(("wbytes", v)) => ("write", v),
                _ => continue,
            };
            if let Ok(value) = op.1.parse() {
                out.push(BlkioEntry { major, minor, op: op.0.to_string(), value });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_missing_or_unlimited_read_as_docker_does() {
        let d = tempfile::tempdir().expect("tempdir");
        let p = d.path();
        std::fs::write(p.join("cpu.stat"), "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nnr_periods 3\n")
            .expect("write");
        std::fs::write(p.join("memory.current"), "4096\n").expect("write");
        std::fs::write(p.join("memory.max"), "max\n").expect("write");
        std::fs::write(p.join("memory.stat"), "anon 10\ninactive_file 20\n").expect("write");
        std::fs::write(p.join("pids.current"), "2\n").expect("write");
        std::fs::write(p.join("pids.max"), "max\n").expect("write");
        std::fs::write(p.join("io.stat"), "254:0 rbytes=512 wbytes=1024 rios=1 wios=2 dbytes=0 dios=0\n")
            .expect("write");
        // No cpu.pressure, memory.peak: not an error.
        let s = read(p, 1 << 30);
        assert_eq!((s.cpu_total_ns, s.cpu_user_ns, s.cpu_system_ns), (1_500_000, 1_000_000, 500_000));
        assert_eq!((s.memory_usage, s.memory_limit, s.memory_max_usage), (4096, 1 << 30, 0));
        assert_eq!(s.memory_stats.get("inactive_file"), Some(&20));
        assert_eq!((s.pids_current, s.pids_limit, s.throttling_periods), (2, 0, 3));
        let io: Vec<(u64, u64, &str, u64)> =
            s.blkio_service_bytes.iter().map(|e| (e.major, e.minor, e.op.as_str(), e.value)).collect();
        assert_eq!(io, vec![(254, 0, "read", 512), (254, 0, "write", 1024)]);
        std::fs::write(p.join("memory.max"), "33554432\n").expect("write");
        assert_eq!(read(p, 1 << 30).memory_limit, 32 << 20);
    }
}
