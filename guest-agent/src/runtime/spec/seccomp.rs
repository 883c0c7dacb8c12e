//! Docker's default seccomp profile, as data, and its rendering into the
//! OCI spec's `linux.seccomp` for one container.
//!
//! The profile is Docker's (moby `profiles/seccomp/default.json`): deny with
//! EPERM by default; allow a fixed list; allow more syscalls when the
//! container holds the capability that makes them safe; restrict `clone`
//! to non-namespace flags without CAP_SYS_ADMIN and answer `clone3` with
//! ENOSYS so libc falls back to `clone`, whose flags can be checked.
//! Only x86_64 (with its x86/x32 sub-architectures) is rendered: the agent
//! is built for x86_64 only.

use serde_json::{Value, json};

/// Always allowed.
const ALLOWED: &[&str] = &[
    "accept",
    "accept4",
    "access",
    "adjtimex",
    "alarm",
    "bind",
    "brk",
    "capget",
    "capset",
    "chdir",
    "chmod",
    "chown",
    "chown32",
    "clock_adjtime",
    "clock_adjtime64",
    "clock_getres",
    "clock_getres_time64",
    "clock_gettime",
    "clock_gettime64",
    "clock_nanosleep",
    "clock_nanosleep_time64",
    "close",
    "close_range",
    "connect",
    "copy_file_range",
    "creat",
    "dup",
    "dup2",
    "dup3",
    "epoll_create",
    "epoll_create1",
    "epoll_ctl",
    "epoll_ctl_old",
    "epoll_pwait",
    "epoll_pwait2",
    "epoll_wait",
    "epoll_wait_old",
    "eventfd",
    "eventfd2",
    "execve",
    "execveat",
    "exit",
    "exit_group",
    "faccessat",
    "faccessat2",
    "fadvise64",
    "fadvise64_64",
    "fallocate",
    "fanotify_mark",
    "fchdir",
    "fchmod",
    "fchmodat",
    "fchown",
    "fchown32",
    "fchownat",
    "fcntl",
    "fcntl64",
    "fdatasync",
    "fgetxattr",
    "flistxattr",
    "flock",
    "fork",
    "fremovexattr",
    "fsetxattr",
    "fstat",
    "fstat64",
    "fstatat64",
    "fstatfs",
    "fstatfs64",
    "fsync",
    "ftruncate",
    "ftruncate64",
    "futex",
    "futex_time64",
    "futex_waitv",
    "futimesat",
    "getcpu",
    "getcwd",
    "getdents",
    "getdents64",
    "getegid",
    "getegid32",
    "geteuid",
    "geteuid32",
    "getgid",
    "getgid32",
    "getgroups",
    "getgroups32",
    "getitimer",
    "getpeername",
    "getpgid",
    "getpgrp",
    "getpid",
    "getppid",
    "getpriority",
    "getrandom",
    "getresgid",
    "getresgid32",
    "getresuid",
    "getresuid32",
    "getrlimit",
    "get_robust_list",
    "getrusage",
    "getsid",
    "getsockname",
    "getsockopt",
    "get_thread_area",
    "gettid",
    "gettimeofday",
    "getuid",
    "getuid32",
    "getxattr",
    "inotify_add_watch",
    "inotify_init",
    "inotify_init1",
    "inotify_rm_watch",
    "io_cancel",
    "ioctl",
    "io_destroy",
    "io_getevents",
    "io_pgetevents",
    "io_pgetevents_time64",
    "ioprio_get",
    "ioprio_set",
    "io_setup",
    "io_submit",
    "io_uring_enter",
    "io_uring_register",
    "io_uring_setup",
    "ipc",
    "kill",
    "landlock_add_rule",
    "landlock_create_ruleset",
    "landlock_restrict_self",
    "lchown",
    "lchown32",
    "lgetxattr",
    "link",
    "linkat",
    "listen",
    "listxattr",
    "llistxattr",
    "_llseek",
    "lremovexattr",
    "lseek",
    "lsetxattr",
    "lstat",
    "lstat64",
    "madvise",
    "membarrier",
    "memfd_create",
    "memfd_secret",
    "mincore",
    "mkdir",
    "mkdirat",
    "mknod",
    "mknodat",
    "mlock",
    "mlock2",
    "mlockall",
    "mmap",
    "mmap2",
    "mprotect",
    "mq_getsetattr",
    "mq_notify",
    "mq_open",
    "mq_timedreceive",
    "mq_timedreceive_time64",
    "mq_timedsend",
    "mq_timedsend_time64",
    "mq_unlink",
    "mremap",
    "msgctl",
    "msgget",
    "msgrcv",
    "msgsnd",
    "msync",
    "munlock",
    "munlockall",
    "munmap",
    "name_to_handle_at",
    "nanosleep",
    "newfstatat",
    "_newselect",
    "open",
    "openat",
    "openat2",
    "pause",
    "pidfd_open",
    "pidfd_send_signal",
    "pipe",
    "pipe2",
    "pkey_alloc",
    "pkey_free",
    "pkey_mprotect",
    "poll",
    "ppoll",
    "ppoll_time64",
    "prctl",
    "pread64",
    "preadv",
    "preadv2",
    "prlimit64",
    "process_mrelease",
    "pselect6",
    "pselect6_time64",
    "pwrite64",
    "pwritev",
    "pwritev2",
    "read",
    "readahead",
    "readlink",
    "readlinkat",
    "readv",
    "recv",
    "recvfrom",
    "recvmmsg",
    "recvmmsg_time64",
    "recvmsg",
    "remap_file_pages",
    "removexattr",
    "rename",
    "renameat",
    "renameat2",
    "restart_syscall",
    "rmdir",
    "rseq",
    "rt_sigaction",
    "rt_sigpending",
    "rt_sigprocmask",
    "rt_sigqueueinfo",
    "rt_sigreturn",
    "rt_sigsuspend",
    "rt_sigtimedwait",
    "rt_sigtimedwait_time64",
    "rt_tgsigqueueinfo",
    "sched_getaffinity",
    "sched_getattr",
    "sched_getparam",
    "sched_get_priority_max",
    "sched_get_priority_min",
    "sched_getscheduler",
    "sched_rr_get_interval",
    "sched_rr_get_interval_time64",
    "sched_setaffinity",
    "sched_setattr",
    "sched_setparam",
    "sched_setscheduler",
    "sched_yield",
    "seccomp",
    "select",
    "semctl",
    "semget",
    "semop",
    "semtimedop",
    "semtimedop_time64",
    "send",
    "sendfile",
    "sendfile64",
    "sendmmsg",
    "sendmsg",
    "sendto",
    "setfsgid",
    "setfsgid32",
    "setfsuid",
    "setfsuid32",
    "setgid",
    "setgid32",
    "setgroups",
    "setgroups32",
    "setitimer",
    "setpgid",
    "setpriority",
    "setregid",
    "setregid32",
    "setresgid",
    "setresgid32",
    "setresuid",
    "setresuid32",
    "setreuid",
    "setreuid32",
    "setrlimit",
    "set_robust_list",
    "setsid",
    "setsockopt",
    "set_thread_area",
    "set_tid_address",
    "setuid",
    "setuid32",
    "setxattr",
    "shmat",
    "shmctl",
    "shmdt",
    "shmget",
    "shutdown",
    "sigaltstack",
    "signalfd",
    "signalfd4",
    "sigprocmask",
    "sigreturn",
    "socketcall",
    "socketpair",
    "splice",
    "stat",
    "stat64",
    "statfs",
    "statfs64",
    "statx",
    "symlink",
    "symlinkat",
    "sync",
    "sync_file_range",
    "syncfs",
    "sysinfo",
    "tee",
    "tgkill",
    "time",
    "timer_create",
    "timer_delete",
    "timer_getoverrun",
    "timer_gettime",
    "timer_gettime64",
    "timer_settime",
    "timer_settime64",
    "timerfd_create",
    "timerfd_gettime",
    "timerfd_gettime64",
    "timerfd_settime",
    "timerfd_settime64",
    "times",
    "tkill",
    "truncate",
    "truncate64",
    "ugetrlimit",
    "umask",
    "uname",
    "unlink",
    "unlinkat",
    "utime",
    "utimensat",
    "utimensat_time64",
    "utimes",
    "vfork",
    "vmsplice",
    "wait4",
    "waitid",
    "waitpid",
    "write",
    "writev",
    // Kernels ≥ 4.8 check ptrace against seccomp properly (Docker's minKernel rule).
    "process_vm_readv",
    "process_vm_writev",
    "ptrace",
    // x86_64-only entries of the profile.
    "arch_prctl",
    "modify_ldt",
];

/// Allowed when the container holds the capability.
const BY_CAPABILITY: &[(&str, &[&str])] = &[
    ("CAP_DAC_READ_SEARCH", &["open_by_handle_at"]),
    (
        "CAP_SYS_ADMIN",
        &[
            "bpf",
            "clone",
            "clone3",
            "fanotify_init",
            "fsconfig",
            "fsmount",
            "fsopen",
            "fspick",
            "lookup_dcookie",
            "mount",
            "mount_setattr",
            "move_mount",
            "open_tree",
            "perf_event_open",
            "quotactl",
            "quotactl_fd",
            "setdomainname",
            "sethostname",
            "setns",
            "syslog",
            "umount",
            "umount2",
            "unshare",
        ],
    ),
    ("CAP_SYS_BOOT", &["reboot"]),
    ("CAP_SYS_CHROOT", &["chroot"]),
    ("CAP_SYS_MODULE", &["delete_module", "init_module", "finit_module"]),
    ("CAP_SYS_PACCT", &["acct"]),
    ("CAP_SYS_PTRACE", &["kcmp", "pidfd_getfd", "process_madvise", "process_vm_readv", "process_vm_writev", "ptrace"]),
    ("CAP_SYS_RAWIO", &["iopl", "ioperm"]),
    ("CAP_SYS_TIME", &["settimeofday", "stime", "clock_settime", "clock_settime64"]),
    ("CAP_SYS_TTY_CONFIG", &["vhangup"]),
    ("CAP_SYS_NICE", &["get_mempolicy", "mbind", "set_mempolicy", "set_mempolicy_home_node"]),
    ("CAP_SYSLOG", &["syslog"]),
    ("CAP_BPF", &["bpf"]),
    ("CAP_PERFMON", &["perf_event_open"]),
];

/// `personality(2)` values allowed: PER_LINUX, UNAME26, PER_LINUX32,
/// UNAME26|PER_LINUX32, and the query 0xffffffff.
const PERSONALITIES: &[u64] = &[0x0, 0x0008, 0x20000, 0x20008, 0xffff_ffff];

/// The namespace flags of `clone(2)` (CLONE_NEWNS, NEWCGROUP, NEWUTS,
/// NEWIPC, NEWUSER, NEWPID, NEWNET), which a container without
/// CAP_SYS_ADMIN may not pass.
const CLONE_NS_MASK: u64 = 0x7E02_0000;

/// AF_VSOCK (40): Docker denies creating vsock sockets in containers.
const AF_VSOCK: u64 = 40;

const ENOSYS: u32 = 38;
const EPERM: u32 = 1;

/// The `linux.seccomp` object for a container holding `caps`.
/// `S_IFMT` and the file types `mknod` may still create when device nodes
/// are refused (0 means a regular file, as for S_IFREG).
const S_IFMT: u64 = 0o170000;
const NON_DEVICE_TYPES: [u64; 4] = [0, 0o100000, 0o010000, 0o140000];
const S_IFCHR: u64 = 0o020000;
const S_IFBLK: u64 = 0o060000;

/// Docker's profile for a container holding `caps`. With
/// `refuse_device_nodes`, `mknod`/`mknodat` may create only regular files,
/// FIFOs and sockets: on cgroup v2 no device controller polices which
/// devices a container opens (libcontainer's BPF device filter needs
/// libbpf, see ANCHORS.md), so a container holding CAP_MKNOD could make
/// and open the VM's disk or serial console; on v1 the devices cgroup does
/// that and Docker's behaviour is kept.
pub fn default_profile(caps: &[String], refuse_device_nodes: bool) -> Value {
    let has = |c: &str| caps.iter().any(|x| x == c);
    let mut names: Vec<&str> = ALLOWED.to_vec();
    if refuse_device_nodes {
        names.retain(|n| *n != "mknod" && *n != "mknodat");
    }
    for (cap, calls) in BY_CAPABILITY {
        if has(cap) {
            names.extend_from_slice(calls);
        }
    }
    names.sort_unstable();
    names.dedup();
    let mut syscalls = vec![json!({ "names": names, "action": "SCMP_ACT_ALLOW" })];
    syscalls.push(json!({
        "names": ["socket"], "action": "SCMP_ACT_ALLOW",
        "args": [{ "index": 0, "value": AF_VSOCK, "op": "SCMP_CMP_NE" }],
    }));
    if refuse_device_nodes {
        for (call, mode_arg) in [("mknod", 1), ("mknodat", 2)] {
            for t in NON_DEVICE_TYPES {
                syscalls.push(json!({
                    "names": [call], "action": "SCMP_ACT_ALLOW",
                    "args": [{ "index": mode_arg, "value": S_IFMT, "valueTwo": t, "op": "SCMP_CMP_MASKED_EQ" }],
                }));
            }
        }
    }
    for p in PERSONALITIES {
        syscalls.push(json!({
            "names": ["personality"], "action": "SCMP_ACT_ALLOW",
            "args": [{ "index": 0, "value": p, "op": "SCMP_CMP_EQ" }],
        }));
    }
    if !has("CAP_SYS_ADMIN") {
        syscalls.push(json!({
            "names": ["clone"], "action": "SCMP_ACT_ALLOW",
            "args": [{ "index": 0, "value": CLONE_NS_MASK, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ" }],
        }));
        syscalls.push(json!({ "names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": ENOSYS }));
    }
    json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": EPERM,
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": syscalls,
    })
}

/// Everything allowed except making a character or block device node: for
/// `seccomp=unconfined` where no device cgroup exists (cgroup v2).
pub fn device_node_guard() -> Value {
    let mut syscalls = Vec::new();
    for (call, mode_arg) in [("mknod", 1), ("mknodat", 2)] {
        for t in [S_IFCHR, S_IFBLK] {
            syscalls.push(json!({
                "names": [call], "action": "SCMP_ACT_ERRNO", "errnoRet": EPERM,
                "args": [{ "index": mode_arg, "value": S_IFMT, "valueTwo": t, "op": "SCMP_CMP_MASKED_EQ" }],
            }));
        }
    }
    json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": syscalls,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(profile: &Value) -> Vec<String> {
        profile["syscalls"][0]["names"]
            .as_array()
            .map(|a| a.iter().filter_map(|v| v.as_str().map(String::from)).collect())
            .unwrap_or_default()
    }

    #[test]
    fn default_caps_keep_mount_and_modules_out() {
        let caps: Vec<String> = super::super::defaults::DEFAULT_CAPS.iter().map(|c| c.to_string()).collect();
        let p = default_profile(&caps, false);
        let names = allowed(&p);
        for denied in ["mount", "umount2", "init_module", "finit_module", "sethostname", "unshare", "setns", "reboot"] {
            assert!(!names.iter().any(|n| n == denied), "{denied} must not be allowed by default");
        }
        assert!(names.iter().any(|n| n == "chroot"), "CAP_SYS_CHROOT is a default cap");
        assert!(names.iter().any(|n| n == "read"));
        // clone is allowed only with the namespace mask; clone3 gets ENOSYS.
        assert!(p["syscalls"].as_array().is_some_and(|s| s.iter().any(|r| r["names"][0] == "clone3")));
    }

    #[test]
    fn parses_as_oci_seccomp() {
        let p = default_profile(&["CAP_SYS_ADMIN".to_string()], false);
        let parsed: Result<oci_spec::runtime::LinuxSeccomp, _> = serde_json::from_value(p);
        assert!(parsed.is_ok(), "{parsed:?}");
    }

    #[test]
    fn device_nodes_refused_only_when_asked() {
        let caps: Vec<String> = super::super::defaults::DEFAULT_CAPS.iter().map(|c| c.to_string()).collect();
        let docker = default_profile(&caps, false);
        assert!(allowed(&docker).iter().any(|n| n == "mknod"), "Docker's profile allows mknod");
        let v2 = default_profile(&caps, true);
        assert!(!allowed(&v2).iter().any(|n| n == "mknod" || n == "mknodat"));
        let rules = v2["syscalls"].as_array().cloned().unwrap_or_default();
        let types: Vec<u64> = rules
            .iter()
            .filter(|r| r["names"][0] == "mknodat")
            .filter_map(|r| r["args"][0]["valueTwo"].as_u64())
            .collect();
        // Regular files, FIFOs and sockets only: no 0o020000 (char) or 0o060000 (block).
        assert_eq!(types, vec![0, 0o100000, 0o010000, 0o140000]);
        assert!(rules.iter().filter(|r| r["names"][0] == "mknod").all(|r| r["args"][0]["index"] == 1));
    }
}
