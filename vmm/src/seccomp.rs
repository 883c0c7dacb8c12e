//! Seccomp filters for the threads that handle guest input.
//!
//! A vCPU thread and the device thread each install their own filter just
//! before entering their loop, after every file, socket and mapping they
//! need at start-up exists. What is left is the short list below; anything
//! else ends the process, so a guest that finds a bug in a device cannot
//! turn it into arbitrary system calls. The end is `SECCOMP_RET_TRAP` with
//! a SIGSYS handler that names the syscall on stderr in one line and exits
//! with status 1 (Firecracker does the same), rather than a bare "Bad
//! system call". The main
//! thread, which only waits for the VM to end, stays unfiltered.
//!
//! - vCPU threads: `ioctl(KVM_RUN)` only among ioctls, and
//!   `KVM_GET_REGS`/`KVM_GET_SREGS` for a crash report; `write` (console,
//!   irqfd and exit eventfds), `futex` (device locks), memory management
//!   for the allocator, `rt_sigreturn` for the kick signal, thread exit.
//! - the device thread: `epoll_wait`/`epoll_ctl`; reads and writes on
//!   eventfds, images (`pread64`/`pwrite64`/`fdatasync`), the TAP fd and
//!   sockets; `accept4`, `socket` (AF_UNIX only), `connect`, `shutdown`,
//!   `close` and `ioctl(FIONBIO)` for vsock streams; `getrandom` for
//!   virtio-rng; `tgkill` on both kinds of thread only within this process;
//!   `unlink` for the vsock socket at shutdown; the same memory and thread
//!   basics.
//!
//! Opening files is refused with `EACCES` rather than fatal: glibc's malloc
//! reads `/proc/sys/vm/overcommit_memory` lazily, the first time a thread's
//! heap shrinks, and copes when it cannot. A second, stacked filter does
//! that, since one filter has one action for every syscall it matches; the
//! kernel applies the stricter of the two.
//!
//! `SeccompMode::Log` logs instead of killing (the kernel's audit log names
//! each syscall), for finding what a new code path needs.

use std::collections::BTreeMap;

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter, SeccompRule, TargetArch,
};
use serde::{Deserialize, Serialize};

/// `KVM_RUN`: `_IO(KVMIO, 0x80)`.
const KVM_RUN: u64 = 0xae80;
/// `KVM_GET_REGS`: `_IOR(KVMIO, 0x81, struct kvm_regs)`, for a crash report.
const KVM_GET_REGS: u64 = 0x8090_ae81;
/// `KVM_GET_SREGS`: `_IOR(KVMIO, 0x83, struct kvm_sregs)`, likewise.
const KVM_GET_SREGS: u64 = 0x8138_ae83;

/// Whether filters are installed, and what a violation does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SeccompMode {
    /// A syscall outside the list ends the process.
    #[default]
    Enforce,
    /// A syscall outside the list is allowed and logged by the kernel.
    Log,
    /// No filters.
    Off,
}

impl SeccompMode {
    pub fn parse_flag(s: &str) -> Result<Self, String> {
        match s {
            "enforce" => Ok(SeccompMode::Enforce),
            "log" => Ok(SeccompMode::Log),
            "off" => Ok(SeccompMode::Off),
            _ => Err(format!("expected enforce, log or off, got {s:?}")),
        }
    }
}

/// Which thread a filter is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThreadRole {
    Vcpu,
    Devices,
}

#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    #[error("building the {role:?} seccomp filter: {source}")]
    Build { role: ThreadRole, source: seccompiler::BackendError },
    #[error("compiling the {role:?} seccomp filter: {source}")]
    Compile { role: ThreadRole, source: seccompiler::BackendError },
    #[error("installing the seccomp filter: {0}")]
    Install(seccompiler::Error),
}

/// Syscalls every filtered thread makes: memory for the allocator, locks,
/// time, signals, logging, and exiting (cleanly or by panic/abort).
const COMMON: &[i64] = &[
    libc::SYS_brk,
    libc::SYS_mmap,
    libc::SYS_munmap,
    libc::SYS_mremap,
    libc::SYS_mprotect,
    libc::SYS_madvise,
    libc::SYS_futex,
    libc::SYS_sched_yield,
    libc::SYS_clock_gettime,
    libc::SYS_clock_nanosleep,
    libc::SYS_nanosleep,
    libc::SYS_rt_sigreturn,
    libc::SYS_rt_sigprocmask,
    libc::SYS_sigaltstack,
    libc::SYS_getrandom,
    libc::SYS_write,
    libc::SYS_writev,
    libc::SYS_close,
    // Debug builds check an fd is open (F_GETFD) before closing it.
    libc::SYS_fcntl,
    libc::SYS_gettid,
    libc::SYS_getpid,
    libc::SYS_exit,
    libc::SYS_exit_group,
    libc::SYS_restart_syscall,
];

const VCPU: &[i64] = &[];

const DEVICES: &[i64] = &[
    libc::SYS_epoll_wait,
    libc::SYS_epoll_pwait,
    libc::SYS_epoll_ctl,
    libc::SYS_read,
    libc::SYS_readv,
    libc::SYS_pread64,
    libc::SYS_pwrite64,
    libc::SYS_fdatasync,
    libc::SYS_fsync,
    libc::SYS_recvfrom,
    libc::SYS_sendto,
    libc::SYS_recvmsg,
    libc::SYS_sendmsg,
    libc::SYS_accept4,
    libc::SYS_connect,
    libc::SYS_shutdown,
    libc::SYS_unlink,
];

fn ioctl_rule(role: ThreadRole, request: u64) -> Result<SeccompRule, SeccompError> {
    arg_rule(role, 1, request)
}

/// A rule that allows a syscall only when argument `arg` equals `value`.
fn arg_rule(role: ThreadRole, arg: u8, value: u64) -> Result<SeccompRule, SeccompError> {
    let build = |source| SeccompError::Build { role, source };
    let cond = SeccompCondition::new(arg, SeccompCmpArgLen::Dword, SeccompCmpOp::Eq, value).map_err(build)?;
    SeccompRule::new(vec![cond]).map_err(build)
}

/// Syscalls allowed only with one argument fixed, per role: the device
/// thread makes UNIX sockets only (vsock's host side, vhost-user, passt),
/// so a device bug cannot open a socket of another family (and `connect`
/// then has nothing but UNIX sockets to use); a signal goes only to this
/// process's own threads (`tgkill`'s tgid), never to another process.
fn narrowed(role: ThreadRole, pid: u32) -> Result<Vec<(i64, SeccompRule)>, SeccompError> {
    let mut out = vec![(libc::SYS_tgkill, arg_rule(role, 0, u64::from(pid))?)];
    if role == ThreadRole::Devices {
        out.push((libc::SYS_socket, arg_rule(role, 0, libc::AF_UNIX as u64)?));
    }
    Ok(out)
}

/// Syscalls that fail with `EACCES` instead of ending the process.
const REFUSED: &[i64] = &[libc::SYS_open, libc::SYS_openat];

/// The filters a thread installs, in order.
pub type ThreadFilters = Vec<BpfProgram>;

/// Compiles the filters for `role`; empty when seccomp is off.
pub fn filter_for(role: ThreadRole, mode: SeccompMode) -> Result<ThreadFilters, SeccompError> {
    let (mismatch, refuse) = match mode {
        SeccompMode::Off => return Ok(Vec::new()),
        SeccompMode::Enforce => (SeccompAction::Trap, SeccompAction::Errno(libc::EACCES as u32)),
        SeccompMode::Log => (SeccompAction::Log, SeccompAction::Log),
    };
    let (own, ioctls): (_, &[u64]) = match role {
        ThreadRole::Vcpu => (VCPU, &[KVM_RUN, KVM_GET_REGS, KVM_GET_SREGS]),
        ThreadRole::Devices => (DEVICES, &[libc::FIONBIO]),
    };
    let compile = |rules: BTreeMap<i64, Vec<SeccompRule>>, mismatch, matched| {
        let filter = SeccompFilter::new(rules, mismatch, matched, TargetArch::x86_64)
            .map_err(|source| SeccompError::Build { role, source })?;
        BpfProgram::try_from(filter).map_err(|source| SeccompError::Compile { role, source })
    };
    let mut allowed: BTreeMap<i64, Vec<SeccompRule>> =
        COMMON.iter().chain(own).chain(REFUSED).map(|&nr| (nr, Vec::new())).collect();
    let ioctl_rules = ioctls.iter().map(|&r| ioctl_rule(role, r)).collect::<Result<_, _>>()?;
    allowed.insert(libc::SYS_ioctl, ioctl_rules);
    for (nr, rule) in narrowed(role, std::process::id())? {
        allowed.insert(nr, vec![rule]);
    }
    let refused = REFUSED.iter().map(|&nr| (nr, Vec::new())).collect();
    // The allowlist goes last: once it is in place, installing another
    // filter (prctl, seccomp) is no longer allowed.
    Ok(vec![compile(refused, SeccompAction::Allow, refuse)?, compile(allowed, mismatch, SeccompAction::Allow)?])
}

/// Where x86_64's `siginfo_t` keeps `_sigsys._syscall`: after si_signo,
/// si_errno, si_code, padding and the 8-byte `_call_addr`.
const SIGINFO_SYSCALL_OFFSET: usize = 24;

/// The SIGSYS handler: one line naming the syscall, then exit 1. Only
/// async-signal-safe calls (`write`, `_exit`), both on every allowlist.
extern "C" fn on_sigsys(_sig: libc::c_int, info: *mut libc::siginfo_t, _ctx: *mut libc::c_void) {
    let nr = if info.is_null() {
        -1
    } else {
        // SAFETY: the kernel hands a SIGSYS handler a valid siginfo whose
        // `_sigsys` member is filled; the offset is x86_64's layout.
        unsafe { (info as *const u8).add(SIGINFO_SYSCALL_OFFSET).cast::<i32>().read_unaligned() }
    };
    let mut line = [0u8; 128];
    let mut len = 0;
    let mut put = |bytes: &[u8]| {
        for &b in bytes {
            if len < line.len() {
                line[len] = b;
                len += 1;
            }
        }
    };
    put(b"berth-vmm: seccomp: a vCPU or device thread made syscall ");
    let mut digits = [0u8; 12];
    let mut n = i64::from(nr).unsigned_abs();
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if nr < 0 {
        put(b"-");
    }
    put(&digits[i..]);
    put(b", which its allowlist does not have; stopping\n");
    // SAFETY: write(2) of a stack buffer and _exit: async-signal-safe.
    unsafe {
        libc::write(2, line.as_ptr().cast(), len);
        libc::_exit(1);
    }
}

/// Installs the SIGSYS handler once per process.
fn install_sigsys_handler() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: a zeroed sigaction is valid; the handler is an
        // `extern "C"` function with the SA_SIGINFO signature, and the mask
        // is emptied before use.
        unsafe {
            let mut act: libc::sigaction = std::mem::zeroed();
            act.sa_sigaction = on_sigsys as *const () as usize;
            act.sa_flags = libc::SA_SIGINFO;
            libc::sigemptyset(&mut act.sa_mask);
            if libc::sigaction(libc::SIGSYS, &act, std::ptr::null_mut()) != 0 {
                tracing::warn!(
                    error = %std::io::Error::last_os_error(),
                    "cannot install the SIGSYS handler; a seccomp violation will read \"Bad system call\""
                );
            }
        }
    });
}

/// Installs `filters` on the calling thread (and threads it creates later).
pub fn install(filters: &ThreadFilters) -> Result<(), SeccompError> {
    if !filters.is_empty() {
        install_sigsys_handler();
    }
    filters.iter().try_for_each(|f| seccompiler::apply_filter(f).map_err(SeccompError::Install))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The register ioctls' numbers encode their structs' sizes.
    #[test]
    fn register_ioctl_numbers_match_the_structs() {
        let ior = |nr: u64, size: usize| (2 << 30) | ((size as u64) << 16) | (0xae << 8) | nr;
        assert_eq!(KVM_GET_REGS, ior(0x81, std::mem::size_of::<kvm_bindings::kvm_regs>()));
        assert_eq!(KVM_GET_SREGS, ior(0x83, std::mem::size_of::<kvm_bindings::kvm_sregs>()));
    }

    #[test]
    fn filters_compile_for_every_role_and_mode() {
        for role in [ThreadRole::Vcpu, ThreadRole::Devices] {
            assert!(filter_for(role, SeccompMode::Off).unwrap().is_empty());
            for mode in [SeccompMode::Enforce, SeccompMode::Log] {
                let filters = filter_for(role, mode).unwrap();
                assert_eq!(filters.len(), 2);
                assert!(filters[1].len() > COMMON.len(), "{role:?}/{mode:?} has a rule per syscall");
            }
        }
    }

    /// Runs `probe` in a child process under the vCPU filters and returns
    /// its wait status, so the test runner survives what the filter does.
    fn in_filtered_child(probe: fn() -> i32) -> i32 {
        in_child_as(ThreadRole::Vcpu, probe)
    }

    /// The device thread may make UNIX sockets and no others, and signal
    /// its own process only (the filters name the parent's pid, which the
    /// child signals with 0, a probe that sends nothing). Before, both
    /// were allowed whatever their arguments.
    #[test]
    fn the_device_thread_makes_unix_sockets_only_and_signals_only_its_own() {
        static PARENT: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);
        PARENT.store(std::process::id() as i32, std::sync::atomic::Ordering::SeqCst);
        let exited = |status: i32, code| libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == code;
        let stopped =
            |status: i32| (libc::WIFSIGNALED(status) && libc::WTERMSIG(status) == libc::SIGSYS) || exited(status, 1);
        let unix = in_child_as(ThreadRole::Devices, || {
            // SAFETY: raw socket(2); the fd ends with the child.
            let fd = unsafe { libc::syscall(libc::SYS_socket, libc::AF_UNIX, libc::SOCK_STREAM, 0) };
            if fd >= 0 { 0 } else { 2 }
        });
        assert!(exited(unix, 0), "AF_UNIX allowed (status {unix:#x})");
        let inet = in_child_as(ThreadRole::Devices, || {
            // SAFETY: raw socket(2); the filter ends the child here.
            unsafe { libc::syscall(libc::SYS_socket, libc::AF_INET, libc::SOCK_STREAM, 0) };
            0
        });
        assert!(stopped(inet), "AF_INET refused (status {inet:#x})");
        let own = in_child_as(ThreadRole::Devices, || {
            let pid = PARENT.load(std::sync::atomic::Ordering::SeqCst);
            // SAFETY: signal 0 checks only; it sends nothing.
            unsafe { libc::syscall(libc::SYS_tgkill, pid, pid, 0) };
            0
        });
        assert!(exited(own, 0), "tgkill of the filter's own process allowed (status {own:#x})");
        let other = in_child_as(ThreadRole::Devices, || {
            // SAFETY: signal 0 to init checks only; the filter ends the
            // child before it.
            unsafe { libc::syscall(libc::SYS_tgkill, 1, 1, 0) };
            0
        });
        assert!(stopped(other), "tgkill of another process refused (status {other:#x})");
    }

    /// Runs `probe` in a child process under `role`'s filters.
    fn in_child_as(role: ThreadRole, probe: fn() -> i32) -> i32 {
        let filters = filter_for(role, SeccompMode::Enforce).unwrap();
        // SAFETY: fork in a test; the child only installs the filters and
        // makes raw syscalls before `_exit`, touching no locks and not
        // allocating.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0);
        if pid == 0 {
            // `apply_filter` does not allocate, which a forked child of a
            // multi-threaded process must not.
            let installed = filters.iter().all(|f| seccompiler::apply_filter(f).is_ok());
            let code = if installed { probe() } else { 100 };
            // SAFETY: ends the child without running the parent's atexit
            // handlers or destructors.
            unsafe { libc::_exit(code) };
        }
        let mut status = 0;
        // SAFETY: waits for the child created above; `status` is ours.
        assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
        status
    }

    #[test]
    fn an_installed_filter_kills_what_it_does_not_allow() {
        let status = in_filtered_child(|| {
            // SAFETY: a raw syscall with no arguments; the filter ends the
            // process here.
            unsafe { libc::syscall(libc::SYS_getppid) };
            0
        });
        // Killed by SIGSYS, or ended by the handler if another test in this
        // process installed it first.
        let by_signal = libc::WIFSIGNALED(status) && libc::WTERMSIG(status) == libc::SIGSYS;
        let by_handler = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 1;
        assert!(by_signal || by_handler, "child was not stopped (status {status:#x})");
    }

    #[test]
    fn opening_files_is_refused_not_fatal() {
        let status = in_filtered_child(|| {
            let path = c"/proc/sys/vm/overcommit_memory";
            // SAFETY: a raw openat of a NUL-terminated path; the filter
            // refuses it, so no fd is leaked.
            let rc = unsafe { libc::syscall(libc::SYS_openat, libc::AT_FDCWD, path.as_ptr(), libc::O_RDONLY) };
            // SAFETY: reads this thread's errno.
            let errno = unsafe { *libc::__errno_location() };
            if rc == -1 && errno == libc::EACCES { 0 } else { 1 }
        });
        assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "status {status:#x}");
    }

    #[test]
    fn a_violation_names_the_syscall_and_exits_1() {
        let mut pipe = [0i32; 2];
        // SAFETY: pipe(2) into a two-int array.
        assert_eq!(unsafe { libc::pipe(pipe.as_mut_ptr()) }, 0);
        // The handler must be in place before the child forks (installing
        // it allocates nothing, but keep the child minimal).
        install_sigsys_handler();
        let filters = filter_for(ThreadRole::Vcpu, SeccompMode::Enforce).unwrap();
        // SAFETY: fork in a test; the child redirects stderr, installs the
        // filters and makes one raw syscall; the handler ends it.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0);
        if pid == 0 {
            // SAFETY: dup2 of fds this process owns.
            unsafe { libc::dup2(pipe[1], 2) };
            if filters.iter().all(|f| seccompiler::apply_filter(f).is_ok()) {
                // SAFETY: a raw syscall with no arguments.
                unsafe { libc::syscall(libc::SYS_getppid) };
            }
            // SAFETY: ends the child.
            unsafe { libc::_exit(100) };
        }
        // SAFETY: closing our copy of the write end.
        unsafe { libc::close(pipe[1]) };
        let mut status = 0;
        // SAFETY: waits for the child created above.
        assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
        let mut buf = [0u8; 256];
        // SAFETY: reads into a stack buffer from our pipe.
        let n = unsafe { libc::read(pipe[0], buf.as_mut_ptr().cast(), buf.len()) };
        // SAFETY: closing our read end.
        unsafe { libc::close(pipe[0]) };
        let text = String::from_utf8_lossy(&buf[..n.max(0) as usize]).into_owned();
        assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 1, "status {status:#x}, stderr {text:?}");
        assert_eq!(
            text,
            format!(
                "berth-vmm: seccomp: a vCPU or device thread made syscall {}, which its allowlist does not have; stopping\n",
                libc::SYS_getppid
            )
        );
    }
}
