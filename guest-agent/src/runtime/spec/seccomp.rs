//! Docker's default seccomp profile, as data, and its rendering into the
//! OCI spec's `linux.seccomp` for one container.
//!
//! The profile is Docker's (moby `profiles/seccomp/default.json`): deny with
//! EPERM by default; allow a fixed list; allow more syscalls when the
//! container holds the capability that makes them safe; restrict `clone`
//! to non-namespace flags without CAP_SYS_ADMIN and answer `clone3` with
//! ENOSYS so libc falls back to `clone`, whose flags can be checked.
//! As Docker ≥ 25, no `io_uring_*` (its ring does socket operations no
//! seccomp rule sees, so it would bypass the AF_VSOCK rule).
//! Only x86_64 (with its x86/x32 sub-architectures) is rendered: the agent
//! is built for x86_64 only.

use oci_spec::runtime::{
    Arch, Capability, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompArgBuilder, LinuxSeccompBuilder,
    LinuxSeccompOperator, LinuxSyscall, LinuxSyscallBuilder, Spec,
};

use super::base;
use super::seccomp_profile::running_kernel;
use super::security::{SeccompChoice, SecurityOpts};
use crate::runtime::RuntimeError;

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
const BY_CAPABILITY: &[(Capability, &[&str])] = &[
    (Capability::DacReadSearch, &["open_by_handle_at"]),
    (
        Capability::SysAdmin,
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
    (Capability::SysBoot, &["reboot"]),
    (Capability::SysChroot, &["chroot"]),
    (Capability::SysModule, &["delete_module", "init_module", "finit_module"]),
    (Capability::SysPacct, &["acct"]),
    (
        Capability::SysPtrace,
        &["kcmp", "pidfd_getfd", "process_madvise", "process_vm_readv", "process_vm_writev", "ptrace"],
    ),
    (Capability::SysRawio, &["iopl", "ioperm"]),
    (Capability::SysTime, &["settimeofday", "stime", "clock_settime", "clock_settime64"]),
    (Capability::SysTtyConfig, &["vhangup"]),
    (Capability::SysNice, &["get_mempolicy", "mbind", "set_mempolicy", "set_mempolicy_home_node"]),
    (Capability::Syslog, &["syslog"]),
    (Capability::Bpf, &["bpf"]),
    (Capability::Perfmon, &["perf_event_open"]),
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

/// `socket(2)` allowed unless its family is AF_VSOCK. The family is an
/// `int`: the kernel reads only the low 32 bits of the register, while a
/// seccomp comparison sees all 64, so Docker's `arg0 != 40` lets
/// `0x1_0000_0028` through and the kernel makes an AF_VSOCK socket. The
/// low 32 bits differ from 40 exactly when one of them does: one masked
/// comparison per bit, any of which allows the call.
fn socket_rules() -> Result<Vec<LinuxSyscall>, RuntimeError> {
    use LinuxSeccompAction::ScmpActAllow as Allow;
    (0..32)
        .map(|bit| {
            let mask = 1u64 << bit;
            rule(&["socket"], Allow, vec![masked_eq(0, mask, !AF_VSOCK & mask)?])
        })
        .collect()
}

const ENOSYS: u32 = 38;
const EPERM: u32 = 1;

/// The condition `(arg[index] & mask) == value`, in the order youki's
/// libcontainer 0.7 reads it: `valueTwo` is the mask and `value` the datum
/// (runc and Docker's profile put the mask in `value`). Written runc's way,
/// libcontainer masked with 0 and the condition held for every argument:
/// Docker's clone rule let namespace flags (CLONE_NEWUSER) through, and a
/// rule meant to allow only FIFOs allowed every mknod.
fn masked_eq(index: usize, mask: u64, value: u64) -> Result<LinuxSeccompArg, RuntimeError> {
    LinuxSeccompArgBuilder::default()
        .index(index)
        .value(value)
        .value_two(mask)
        .op(LinuxSeccompOperator::ScmpCmpMaskedEq)
        .build()
        .map_err(RuntimeError::spec("linux.seccomp"))
}

/// The condition `arg[index] <op> value`.
fn compare(index: usize, op: LinuxSeccompOperator, value: u64) -> Result<LinuxSeccompArg, RuntimeError> {
    LinuxSeccompArgBuilder::default()
        .index(index)
        .value(value)
        .op(op)
        .build()
        .map_err(RuntimeError::spec("linux.seccomp"))
}

/// `action` for the syscalls `names`, when every one of `args` holds.
fn rule(names: &[&str], action: LinuxSeccompAction, args: Vec<LinuxSeccompArg>) -> Result<LinuxSyscall, RuntimeError> {
    let mut b =
        LinuxSyscallBuilder::default().names(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).action(action);
    if !args.is_empty() {
        b = b.args(args);
    }
    b.build().map_err(RuntimeError::spec("linux.seccomp"))
}

/// Refuse the syscalls `names` with `errno`, when every one of `args` holds.
fn refuse(names: &[&str], errno: u32, args: Vec<LinuxSeccompArg>) -> Result<LinuxSyscall, RuntimeError> {
    let mut r = rule(names, LinuxSeccompAction::ScmpActErrno, args)?;
    r.set_errno_ret(Some(errno));
    Ok(r)
}

const ARCHITECTURES: [Arch; 3] = [Arch::ScmpArchX86_64, Arch::ScmpArchX86, Arch::ScmpArchX32];

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
pub fn default_profile(caps: &[Capability], refuse_device_nodes: bool) -> Result<LinuxSeccomp, RuntimeError> {
    use LinuxSeccompAction::ScmpActAllow as Allow;
    use LinuxSeccompOperator::ScmpCmpEq;
    let mut names: Vec<&str> = ALLOWED.to_vec();
    if refuse_device_nodes {
        names.retain(|n| *n != "mknod" && *n != "mknodat");
    }
    for (cap, calls) in BY_CAPABILITY {
        if caps.contains(cap) {
            names.extend_from_slice(calls);
        }
    }
    names.sort_unstable();
    names.dedup();
    let mut syscalls = vec![rule(&names, Allow, vec![])?];
    syscalls.extend(socket_rules()?);
    if refuse_device_nodes {
        for (call, mode_arg) in [("mknod", 1), ("mknodat", 2)] {
            for t in NON_DEVICE_TYPES {
                syscalls.push(rule(&[call], Allow, vec![masked_eq(mode_arg, S_IFMT, t)?])?);
            }
        }
    }
    for p in PERSONALITIES {
        syscalls.push(rule(&["personality"], Allow, vec![compare(0, ScmpCmpEq, *p)?])?);
    }
    if !caps.contains(&Capability::SysAdmin) {
        syscalls.push(rule(&["clone"], Allow, vec![masked_eq(0, CLONE_NS_MASK, 0)?])?);
        syscalls.push(refuse(&["clone3"], ENOSYS, vec![])?);
    }
    LinuxSeccompBuilder::default()
        .default_action(LinuxSeccompAction::ScmpActErrno)
        .default_errno_ret(EPERM)
        .architectures(ARCHITECTURES.to_vec())
        .syscalls(syscalls)
        .build()
        .map_err(RuntimeError::spec("linux.seccomp"))
}

/// Everything allowed except making a character or block device node: for
/// `seccomp=unconfined` where no device cgroup exists (cgroup v2).
pub fn device_node_guard() -> Result<LinuxSeccomp, RuntimeError> {
    let mut syscalls = Vec::new();
    for (call, mode_arg) in [("mknod", 1), ("mknodat", 2)] {
        for t in [S_IFCHR, S_IFBLK] {
            syscalls.push(refuse(&[call], EPERM, vec![masked_eq(mode_arg, S_IFMT, t)?])?);
        }
    }
    LinuxSeccompBuilder::default()
        .default_action(LinuxSeccompAction::ScmpActAllow)
        .architectures(ARCHITECTURES.to_vec())
        .syscalls(syscalls)
        .build()
        .map_err(RuntimeError::spec("linux.seccomp"))
}

/// A custom profile on cgroup v2, where no device cgroup stops a device
/// node from being opened: `mknod`/`mknodat` lose whatever the profile
/// gave them and may make only regular files, FIFOs and sockets (allowed
/// explicitly under a refusing default action, the device types refused
/// under an allowing one), as Docker's profile does here.
pub fn without_device_nodes(mut profile: LinuxSeccomp) -> Result<LinuxSeccomp, RuntimeError> {
    use LinuxSeccompAction::ScmpActAllow as Allow;
    let is_node_call = |n: &String| n == "mknod" || n == "mknodat";
    let mut syscalls: Vec<LinuxSyscall> = profile.syscalls().clone().unwrap_or_default();
    for rule in &mut syscalls {
        let mut names = rule.names().clone();
        names.retain(|n| !is_node_call(n));
        rule.set_names(names);
    }
    syscalls.retain(|r| !r.names().is_empty());
    for (call, mode_arg) in [("mknod", 1), ("mknodat", 2)] {
        if profile.default_action() == Allow {
            for t in [S_IFCHR, S_IFBLK] {
                syscalls.push(refuse(&[call], EPERM, vec![masked_eq(mode_arg, S_IFMT, t)?])?);
            }
        } else {
            for t in NON_DEVICE_TYPES {
                syscalls.push(rule(&[call], Allow, vec![masked_eq(mode_arg, S_IFMT, t)?])?);
            }
        }
    }
    profile.set_syscalls(Some(syscalls));
    Ok(profile)
}

/// `linux.seccomp`: Docker's profile, a custom one or none (`unconfined`,
/// `--privileged`); on cgroup v2 (`cgroup_v2`) no profile lets a device
/// node be made, and even "unconfined" keeps that one rule, since there its
/// /dev is a tmpfs where a node would open and no device cgroup stops it.
pub fn with_seccomp(
    spec: &mut Spec,
    opts: &SecurityOpts,
    caps: &[Capability],
    privileged: bool,
    cgroup_v2: bool,
) -> Result<(), RuntimeError> {
    let unconfined = || if cgroup_v2 { device_node_guard().map(Some) } else { Ok(None) };
    let profile = match &opts.seccomp {
        _ if privileged => None,
        SeccompChoice::Default => Some(default_profile(caps, cgroup_v2)?),
        SeccompChoice::Unconfined => unconfined()?,
        SeccompChoice::Custom(p) => match p.render(caps, running_kernel()?)? {
            Some(p) if cgroup_v2 => Some(without_device_nodes(p)?),
            Some(p) => Some(p),
            None => unconfined()?,
        },
    };
    base::linux_mut(spec)?.set_seccomp(profile);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::defaults::DEFAULT_CAPS;
    use super::*;

    fn allowed(profile: &LinuxSeccomp) -> Vec<String> {
        profile.syscalls().as_ref().and_then(|s| s.first()).map(|r| r.names().clone()).unwrap_or_default()
    }

    fn rules_for<'a>(profile: &'a LinuxSeccomp, name: &str) -> Vec<&'a LinuxSyscall> {
        profile.syscalls().as_deref().unwrap_or_default().iter().filter(|r| r.names() == &[name.to_string()]).collect()
    }

    #[test]
    fn default_caps_keep_mount_and_modules_out() {
        let p = default_profile(DEFAULT_CAPS, false).expect("profile");
        let names = allowed(&p);
        for denied in ["mount", "umount2", "init_module", "finit_module", "sethostname", "unshare", "setns", "reboot"] {
            assert!(!names.iter().any(|n| n == denied), "{denied} must not be allowed by default");
        }
        assert!(names.iter().any(|n| n == "chroot"), "CAP_SYS_CHROOT is a default cap");
        assert!(names.iter().any(|n| n == "read"));
        assert_eq!((p.default_action(), p.default_errno_ret()), (LinuxSeccompAction::ScmpActErrno, Some(EPERM)));
        // clone only without namespace flags (the mask in valueTwo, for
        // libcontainer); clone3 answered with ENOSYS.
        let clone = rules_for(&p, "clone");
        let arg = clone[0].args().as_ref().map(|a| a[0]).expect("clone's condition");
        assert_eq!((arg.index(), arg.value(), arg.value_two()), (0, 0, Some(CLONE_NS_MASK)));
        let clone3 = rules_for(&p, "clone3");
        assert_eq!((clone3[0].action(), clone3[0].errno_ret()), (LinuxSeccompAction::ScmpActErrno, Some(ENOSYS)));
        assert!(!names.iter().any(|n| n.starts_with("io_uring")), "Docker >= 25 has no io_uring");
    }

    /// The socket rule reads the family's low 32 bits only: every family but
    /// 40 passes some rule, and no rule passes a value whose low 32 bits are
    /// 40 (the old `arg0 != 40` passed `0x1_0000_0028`).
    #[test]
    fn the_socket_rule_compares_the_low_32_bits_of_the_family() {
        let p = default_profile(DEFAULT_CAPS, false).expect("profile");
        let conds: Vec<(u64, u64)> = rules_for(&p, "socket")
            .iter()
            .map(|r| {
                let args = r.args().as_ref().expect("a condition");
                assert_eq!(args.len(), 1);
                assert_eq!((args[0].index(), args[0].op()), (0, LinuxSeccompOperator::ScmpCmpMaskedEq));
                (args[0].value_two().expect("mask in valueTwo"), args[0].value())
            })
            .collect();
        let allowed = |family: u64| conds.iter().any(|&(mask, value)| family & mask == value);
        for family in [0, 1, 2, 10, 16, 17, 39, 41, 44, 0x1_0000_0001, 0xffff_ffff] {
            assert!(allowed(family), "family {family:#x}");
        }
        for vsock in [40, 0x1_0000_0028, 0xffff_ffff_0000_0028] {
            assert!(!allowed(vsock), "family {vsock:#x} is AF_VSOCK to the kernel");
        }
    }

    #[test]
    fn sys_admin_opens_mount_and_lifts_the_clone_rule() {
        let p = default_profile(&[Capability::SysAdmin], false).expect("profile");
        let names = allowed(&p);
        assert!(names.iter().any(|n| n == "mount") && names.iter().any(|n| n == "clone"));
        assert!(rules_for(&p, "clone3").is_empty());
        assert!(names.windows(2).all(|w| w[0] < w[1]), "sorted, no repeats");
    }

    #[test]
    fn device_nodes_refused_only_when_asked() {
        let docker = default_profile(DEFAULT_CAPS, false).expect("profile");
        assert!(allowed(&docker).iter().any(|n| n == "mknod"), "Docker's profile allows mknod");
        let v2 = default_profile(DEFAULT_CAPS, true).expect("profile");
        assert!(!allowed(&v2).iter().any(|n| n == "mknod" || n == "mknodat"));
        let types: Vec<u64> =
            rules_for(&v2, "mknodat").iter().filter_map(|r| r.args().as_ref().map(|a| a[0].value())).collect();
        // Regular files, FIFOs and sockets only: no 0o020000 (char) or 0o060000 (block).
        assert_eq!(types, vec![0, 0o100000, 0o010000, 0o140000]);
        for r in rules_for(&v2, "mknod") {
            let a = r.args().as_ref().map(|a| a[0]).expect("condition");
            assert_eq!((a.index(), a.value_two()), (1, Some(S_IFMT)));
        }
    }

    #[test]
    fn the_guard_allows_all_but_device_nodes() {
        let g = device_node_guard().expect("guard");
        assert_eq!((g.default_action(), g.default_errno_ret()), (LinuxSeccompAction::ScmpActAllow, None));
        let rules = g.syscalls().clone().unwrap_or_default();
        assert_eq!(rules.len(), 4);
        assert!(rules.iter().all(|r| r.action() == LinuxSeccompAction::ScmpActErrno && r.errno_ret() == Some(EPERM)));
        let values: Vec<u64> = rules.iter().filter_map(|r| r.args().as_ref().map(|a| a[0].value())).collect();
        assert_eq!(values, vec![S_IFCHR, S_IFBLK, S_IFCHR, S_IFBLK]);
    }

    #[test]
    fn which_profile_a_container_gets() {
        let which = |opts: SecurityOpts, privileged: bool, v2: bool| {
            let mut spec = base::base("c", std::path::Path::new("/r")).expect("base");
            with_seccomp(&mut spec, &opts, DEFAULT_CAPS, privileged, v2).expect("seccomp");
            spec.linux().as_ref().and_then(|l| l.seccomp().clone()).map(|p| p.default_action())
        };
        let unconfined = || SecurityOpts { seccomp: SeccompChoice::Unconfined, ..Default::default() };
        assert_eq!(which(SecurityOpts::default(), false, false), Some(LinuxSeccompAction::ScmpActErrno));
        assert_eq!(which(SecurityOpts::default(), true, true), None, "privileged: no filter");
        assert_eq!(which(unconfined(), false, false), None);
        assert_eq!(which(unconfined(), false, true), Some(LinuxSeccompAction::ScmpActAllow), "the v2 guard");
        let custom = |json: &str| SecurityOpts {
            seccomp: SeccompChoice::Custom(Box::new(
                super::super::seccomp_profile::DockerProfile::parse(json).expect("profile"),
            )),
            ..Default::default()
        };
        let log_all = r#"{"defaultAction":"SCMP_ACT_LOG"}"#;
        assert_eq!(which(custom(log_all), false, false), Some(LinuxSeccompAction::ScmpActLog));
        assert_eq!(which(custom(log_all), true, false), None, "privileged: no filter");
        assert_eq!(which(custom("{}"), false, false), None, "a profile that filters nothing");
        assert_eq!(which(custom("{}"), false, true), Some(LinuxSeccompAction::ScmpActAllow), "the v2 guard");
    }

    #[test]
    fn a_custom_profile_on_v2_makes_no_device_nodes() {
        let allow_all = LinuxSeccompBuilder::default()
            .default_action(LinuxSeccompAction::ScmpActAllow)
            .syscalls(vec![rule(&["mknod", "read"], LinuxSeccompAction::ScmpActAllow, vec![]).expect("rule")])
            .build()
            .expect("profile");
        let p = without_device_nodes(allow_all).expect("guarded");
        let rules = p.syscalls().clone().expect("rules");
        assert_eq!(rules[0].names(), &["read".to_string()], "mknod is no longer allowed whole");
        let refused: Vec<(String, u64)> = rules[1..]
            .iter()
            .map(|r| (r.names()[0].clone(), r.args().as_ref().expect("condition")[0].value()))
            .collect();
        assert_eq!(
            refused,
            [("mknod", S_IFCHR), ("mknod", S_IFBLK), ("mknodat", S_IFCHR), ("mknodat", S_IFBLK)]
                .map(|(n, t)| (n.to_string(), t))
        );
        assert!(rules[1..].iter().all(|r| r.action() == LinuxSeccompAction::ScmpActErrno));
        // Under a refusing default, only the harmless file types are allowed.
        let deny_all = LinuxSeccompBuilder::default()
            .default_action(LinuxSeccompAction::ScmpActErrno)
            .syscalls(vec![rule(&["mknodat"], LinuxSeccompAction::ScmpActAllow, vec![]).expect("rule")])
            .build()
            .expect("profile");
        let p = without_device_nodes(deny_all).expect("guarded");
        let rules = p.syscalls().clone().expect("rules");
        assert_eq!(rules.len(), 8);
        assert!(rules.iter().all(|r| r.action() == LinuxSeccompAction::ScmpActAllow && r.args().is_some()));
    }
}
