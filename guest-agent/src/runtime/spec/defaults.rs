//! Docker's defaults, as data: the capability set, masked and read-only
//! paths, the device cgroup's allow list and the size of /dev/shm, typed as
//! oci-spec's values. Must never decide anything per container: the
//! concerns' modules apply these.

use oci_spec::runtime::{Capability, LinuxDeviceType};

/// Docker's default capabilities (the 14 of moby's `oci/caps/defaults.go`).
pub const DEFAULT_CAPS: &[Capability] = &[
    Capability::Chown,
    Capability::DacOverride,
    Capability::Fsetid,
    Capability::Fowner,
    Capability::Mknod,
    Capability::NetRaw,
    Capability::Setgid,
    Capability::Setuid,
    Capability::Setfcap,
    Capability::Setpcap,
    Capability::NetBindService,
    Capability::SysChroot,
    Capability::Kill,
    Capability::AuditWrite,
];

/// Every capability the kernel knows (for `--privileged`, `--cap-add ALL`),
/// limited at build time to those this kernel has (`cap_last_cap`).
pub const ALL_CAPS: &[Capability] = &[
    Capability::Chown,
    Capability::DacOverride,
    Capability::DacReadSearch,
    Capability::Fowner,
    Capability::Fsetid,
    Capability::Kill,
    Capability::Setgid,
    Capability::Setuid,
    Capability::Setpcap,
    Capability::LinuxImmutable,
    Capability::NetBindService,
    Capability::NetBroadcast,
    Capability::NetAdmin,
    Capability::NetRaw,
    Capability::IpcLock,
    Capability::IpcOwner,
    Capability::SysModule,
    Capability::SysRawio,
    Capability::SysChroot,
    Capability::SysPtrace,
    Capability::SysPacct,
    Capability::SysAdmin,
    Capability::SysBoot,
    Capability::SysNice,
    Capability::SysResource,
    Capability::SysTime,
    Capability::SysTtyConfig,
    Capability::Mknod,
    Capability::Lease,
    Capability::AuditWrite,
    Capability::AuditControl,
    Capability::Setfcap,
    Capability::MacOverride,
    Capability::MacAdmin,
    Capability::Syslog,
    Capability::WakeAlarm,
    Capability::BlockSuspend,
    Capability::AuditRead,
    Capability::Perfmon,
    Capability::Bpf,
    Capability::CheckpointRestore,
];

/// Paths hidden from the container (Docker's `oci.DefaultSpec` list):
/// files are covered by /dev/null, directories by an empty read-only tmpfs.
pub const MASKED_PATHS: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// Paths remounted read-only inside the container.
pub const READONLY_PATHS: &[&str] = &["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];

/// The device cgroup: deny everything, then allow mknod of any node and
/// use of the standard character devices (as Docker's default allow list).
/// (type, major, minor, access); None is "any".
pub const ALLOWED_DEVICES: &[(LinuxDeviceType, Option<i64>, Option<i64>, &str)] = &[
    (C, None, None, "m"),
    (B, None, None, "m"),
    (C, Some(1), Some(3), "rwm"),    // /dev/null
    (C, Some(1), Some(8), "rwm"),    // /dev/random
    (C, Some(1), Some(7), "rwm"),    // /dev/full
    (C, Some(5), Some(0), "rwm"),    // /dev/tty
    (C, Some(1), Some(5), "rwm"),    // /dev/zero
    (C, Some(1), Some(9), "rwm"),    // /dev/urandom
    (C, Some(136), None, "rwm"),     // /dev/pts/*
    (C, Some(5), Some(2), "rwm"),    // /dev/ptmx
    (C, Some(10), Some(200), "rwm"), // /dev/net/tun
    (C, Some(5), Some(1), "rwm"),    // /dev/console
];
const B: LinuxDeviceType = LinuxDeviceType::B;
const C: LinuxDeviceType = LinuxDeviceType::C;

/// Docker's default `/dev/shm` size (64 MiB).
pub const DEFAULT_SHM_SIZE: i64 = 64 * 1024 * 1024;

/// The highest capability number this kernel knows.
pub fn cap_last_cap() -> usize {
    std::fs::read_to_string("/proc/sys/kernel/cap_last_cap").ok().and_then(|s| s.trim().parse().ok()).unwrap_or(40)
}

/// ALL_CAPS (in bit order) limited to what the running kernel has.
///
/// Limited also to this process's bounding set: a sandboxed host may lack
/// some (CAP_SYS_RESOURCE here), and asking for one fails the whole capset.
pub fn all_caps() -> Vec<Capability> {
    let bounding = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| l.strip_prefix("CapBnd:")).and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .unwrap_or(u64::MAX);
    ALL_CAPS
        .iter()
        .take(cap_last_cap() + 1)
        .enumerate()
        .filter(|(bit, _)| bounding & (1u64 << bit) != 0)
        .map(|(_, c)| *c)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ALL_CAPS must be in the kernel's bit order: `all_caps` counts bits
    /// by position. CAP_CHOWN is 0, CAP_SYS_ADMIN 21, CAP_CHECKPOINT_RESTORE 40.
    #[test]
    fn all_caps_are_in_bit_order() {
        assert_eq!(ALL_CAPS.len(), 41);
        assert_eq!(ALL_CAPS[0], Capability::Chown);
        assert_eq!(ALL_CAPS[21], Capability::SysAdmin);
        assert_eq!(ALL_CAPS[24], Capability::SysResource);
        assert_eq!(ALL_CAPS[40], Capability::CheckpointRestore);
        assert!(DEFAULT_CAPS.iter().all(|c| ALL_CAPS.contains(c)));
    }

    #[test]
    fn all_caps_stay_within_the_kernel_and_the_bounding_set() {
        let caps = all_caps();
        assert!(caps.len() <= cap_last_cap() + 1);
        // Root in the test bed holds CAP_CHOWN and CAP_SYS_ADMIN.
        assert!(caps.contains(&Capability::Chown) && caps.contains(&Capability::SysAdmin), "{caps:?}");
    }
}
