//! Facts about the machine the engine runs on, as `/info` and `/version`
//! report them. Read fresh on each call: they are cheap, and a VM's memory
//! or CPUs can change between boots.

use std::path::Path;

pub fn kernel_version() -> String {
    nix::sys::utsname::uname().map(|u| u.release().to_string_lossy().into_owned()).unwrap_or_else(|_| "unknown".into())
}

pub fn hostname() -> String {
    nix::unistd::gethostname().map(|h| h.to_string_lossy().into_owned()).unwrap_or_else(|_| "berth".into())
}

pub fn cpus() -> i64 {
    std::thread::available_parallelism().map_or(1, |n| n.get() as i64)
}

/// MemTotal from /proc/meminfo, in bytes.
pub fn memory_bytes() -> i64 {
    std::fs::read_to_string("/proc/meminfo").ok().and_then(|s| parse_memtotal(&s)).unwrap_or(0)
}

fn parse_memtotal(meminfo: &str) -> Option<i64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: i64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// PRETTY_NAME from os-release, or what the VM is when there is none.
pub fn operating_system(in_vm: bool) -> String {
    if in_vm {
        return "berth micro-VM".into();
    }
    std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("PRETTY_NAME=")).map(|v| v.trim_matches('"').to_string()))
        .unwrap_or_else(|| "Linux".into())
}

/// "2" when /sys/fs/cgroup is the unified hierarchy, "1" otherwise.
pub fn cgroup_version() -> &'static str {
    match nix::sys::statfs::statfs(Path::new("/sys/fs/cgroup")) {
        Ok(s) if s.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC => "2",
        _ => "1",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memtotal_is_parsed_in_bytes() {
        assert_eq!(parse_memtotal("MemTotal:       2048 kB\nMemFree: 1 kB\n"), Some(2048 * 1024));
        assert_eq!(parse_memtotal("nothing"), None);
    }

    #[test]
    fn facts_are_plausible_here() {
        assert!(cpus() >= 1);
        assert!(memory_bytes() > 0);
        assert!(!kernel_version().is_empty());
    }
}
