//! A container's seccomp profile as a compiled BPF program, cached beside
//! the containers' state directories and loaded with seccomp(2) directly.
//!
//! Why: libcontainer compiles the profile with libseccomp inside every new
//! container process, and for Docker's default profile (some 370 syscall
//! names resolved one by one, then the BPF generated) that was a quarter of
//! a container start's CPU. The profile is the same for nearly every
//! container, so the shim compiles it once per distinct profile (as crun
//! caches its filters) and the new process only loads the program.
//!
//! Must never: hand out a program filed under another profile's name (the
//! file is named by the SHA-256 of the profile's JSON and written under a
//! temporary name, then renamed), or a file that is not a whole number of
//! BPF instructions.

use std::path::{Path, PathBuf};

use libseccomp::{ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall};
use oci_spec::runtime::{Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompFilterFlag, LinuxSeccompOperator};
use sha2::{Digest, Sha256};

#[derive(Debug, thiserror::Error)]
pub enum FilterError {
    #[error("seccomp profile: {0}")]
    Profile(String),
    #[error("compiling the seccomp profile: {0}")]
    Compile(#[from] libseccomp::error::SeccompError),
    #[error("seccomp filter cache: {op} {path}: {source}")]
    Cache { op: &'static str, path: PathBuf, source: std::io::Error },
}

/// seccomp(2)'s SECCOMP_SET_MODE_FILTER.
const SET_MODE_FILTER: libc::c_ulong = 1;
/// The kernel's BPF_MAXINSNS.
const MAX_INSTRUCTIONS: usize = 4096;
const INSTRUCTION_SIZE: usize = std::mem::size_of::<libc::sock_filter>();

/// A compiled profile: the BPF program and the flags to load it with.
#[derive(Clone)]
pub struct Filter {
    program: Vec<libc::sock_filter>,
    flags: libc::c_ulong,
}

impl Filter {
    /// The profile's program from `cache_dir`, compiled and filed there
    /// first if it is not yet.
    pub fn for_profile(profile: &LinuxSeccomp, cache_dir: &Path) -> Result<Filter, FilterError> {
        let flags = load_flags(profile)?;
        let json = serde_json::to_vec(profile).map_err(|e| FilterError::Profile(e.to_string()))?;
        let path = cache_dir.join(format!("{}.bpf", hex::encode(Sha256::digest(&json))));
        if let Ok(bytes) = std::fs::read(&path)
            && let Some(program) = parse(&bytes)
        {
            return Ok(Filter { program, flags });
        }
        let bytes = compile(profile)?;
        let program = parse(&bytes)
            .ok_or_else(|| FilterError::Profile(format!("libseccomp produced {} bytes of BPF", bytes.len())))?;
        store(cache_dir, &path, &bytes)?;
        Ok(Filter { program, flags })
    }

    /// Installs the filter on the calling thread (and what it execs). The
    /// caller needs no_new_privs or CAP_SYS_ADMIN.
    pub fn load(&self) -> std::io::Result<()> {
        let prog =
            libc::sock_fprog { len: self.program.len() as libc::c_ushort, filter: self.program.as_ptr().cast_mut() };
        // SAFETY: `prog` points at `self.program`, a non-empty array of at
        // most BPF_MAXINSNS instructions that outlives the call; the kernel
        // copies and verifies it before returning.
        let rc =
            unsafe { libc::syscall(libc::SYS_seccomp, SET_MODE_FILTER, self.flags, &prog as *const libc::sock_fprog) };
        if rc == 0 { Ok(()) } else { Err(std::io::Error::last_os_error()) }
    }
}

/// Raw `struct sock_filter` records in the machine's byte order, as
/// seccomp_export_bpf writes them.
fn parse(bytes: &[u8]) -> Option<Vec<libc::sock_filter>> {
    if bytes.is_empty()
        || !bytes.len().is_multiple_of(INSTRUCTION_SIZE)
        || bytes.len() / INSTRUCTION_SIZE > MAX_INSTRUCTIONS
    {
        return None;
    }
    let program = bytes
        .chunks_exact(INSTRUCTION_SIZE)
        .map(|c| libc::sock_filter {
            code: u16::from_ne_bytes([c[0], c[1]]),
            jt: c[2],
            jf: c[3],
            k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
        })
        .collect();
    Some(program)
}

fn store(dir: &Path, path: &Path, bytes: &[u8]) -> Result<(), FilterError> {
    fn err(op: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> FilterError + use<> {
        let path = path.to_path_buf();
        move |source| FilterError::Cache { op, path, source }
    }
    std::fs::create_dir_all(dir).map_err(err("create", dir))?;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp-{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, bytes).map_err(err("write", &tmp))?;
    std::fs::rename(&tmp, path).map_err(err("rename", path))
}

fn load_flags(profile: &LinuxSeccomp) -> Result<libc::c_ulong, FilterError> {
    let mut flags = 0;
    for flag in profile.flags().iter().flatten() {
        flags |= match flag {
            LinuxSeccompFilterFlag::SeccompFilterFlagTsync => 1,
            LinuxSeccompFilterFlag::SeccompFilterFlagLog => 2,
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => 4,
            LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv => {
                return Err(FilterError::Profile("notify flags are not supported".into()));
            }
        };
    }
    Ok(flags)
}

/// libseccomp's reading of the profile, as libcontainer 0.7 does it
/// (berth's profiles are written for that reading: a masked comparison has
/// its mask in `valueTwo`).
fn compile(profile: &LinuxSeccomp) -> Result<Vec<u8>, FilterError> {
    let default = action(profile.default_action(), profile.default_errno_ret())?;
    let mut ctx = ScmpFilterContext::new(default)?;
    for &a in profile.architectures().iter().flatten() {
        ctx.add_arch(arch(a)?)?;
    }
    // No no_new_privs from the filter itself: the process spec decides.
    ctx.set_ctl_nnp(false)?;
    for rule in profile.syscalls().iter().flatten() {
        let act = action(rule.action(), rule.errno_ret())?;
        if act == default {
            continue;
        }
        let compares: Vec<ScmpArgCompare> = rule
            .args()
            .iter()
            .flatten()
            .map(|a| ScmpArgCompare::new(a.index() as u32, operator(a.op(), a.value_two()), a.value()))
            .collect();
        let mut indexes: Vec<u32> = rule.args().iter().flatten().map(|a| a.index() as u32).collect();
        indexes.sort_unstable();
        let repeated = indexes.windows(2).any(|w| w[0] == w[1]);
        for name in rule.names() {
            // A name this libseccomp does not know is a syscall this kernel
            // cannot have: nothing to filter.
            let Ok(syscall) = ScmpSyscall::from_name(name) else { continue };
            if compares.is_empty() {
                ctx.add_rule(act, syscall)?;
            } else if repeated {
                // One argument compared twice: libseccomp wants one rule per
                // comparison (as runc does it).
                for c in &compares {
                    ctx.add_rule_conditional(act, syscall, std::slice::from_ref(c))?;
                }
            } else {
                ctx.add_rule_conditional(act, syscall, &compares)?;
            }
        }
    }
    let mut out = tempfile_in_memory()?;
    ctx.export_bpf(&out)?;
    use std::io::{Read, Seek};
    let mut bytes = Vec::new();
    let read = |e| FilterError::Cache { op: "read back", path: PathBuf::from("memfd"), source: e };
    out.rewind().map_err(read)?;
    out.read_to_end(&mut bytes).map_err(read)?;
    Ok(bytes)
}

/// An anonymous file for libseccomp to export into (it writes to an fd).
fn tempfile_in_memory() -> Result<std::fs::File, FilterError> {
    nix::sys::memfd::memfd_create(c"berth-seccomp", nix::sys::memfd::MFdFlags::MFD_CLOEXEC)
        .map(std::fs::File::from)
        .map_err(|e| FilterError::Cache { op: "create", path: PathBuf::from("memfd"), source: e.into() })
}

fn action(a: LinuxSeccompAction, errno: Option<u32>) -> Result<ScmpAction, FilterError> {
    let errno = errno.map(|e| e as i32).unwrap_or(libc::EPERM);
    Ok(match a {
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => ScmpAction::KillThread,
        LinuxSeccompAction::ScmpActKillProcess => ScmpAction::KillProcess,
        LinuxSeccompAction::ScmpActTrap => ScmpAction::Trap,
        LinuxSeccompAction::ScmpActErrno => ScmpAction::Errno(errno),
        LinuxSeccompAction::ScmpActTrace => ScmpAction::Trace(errno as u16),
        LinuxSeccompAction::ScmpActAllow => ScmpAction::Allow,
        LinuxSeccompAction::ScmpActLog => ScmpAction::Log,
        LinuxSeccompAction::ScmpActNotify => {
            return Err(FilterError::Profile("SCMP_ACT_NOTIFY needs a listener; berth has none".into()));
        }
    })
}

fn operator(op: LinuxSeccompOperator, value_two: Option<u64>) -> ScmpCompareOp {
    match op {
        LinuxSeccompOperator::ScmpCmpNe => ScmpCompareOp::NotEqual,
        LinuxSeccompOperator::ScmpCmpLt => ScmpCompareOp::Less,
        LinuxSeccompOperator::ScmpCmpLe => ScmpCompareOp::LessOrEqual,
        LinuxSeccompOperator::ScmpCmpEq => ScmpCompareOp::Equal,
        LinuxSeccompOperator::ScmpCmpGe => ScmpCompareOp::GreaterEqual,
        LinuxSeccompOperator::ScmpCmpGt => ScmpCompareOp::Greater,
        LinuxSeccompOperator::ScmpCmpMaskedEq => ScmpCompareOp::MaskedEqual(value_two.unwrap_or(0)),
    }
}

fn arch(a: Arch) -> Result<ScmpArch, FilterError> {
    Ok(match a {
        Arch::ScmpArchNative => ScmpArch::Native,
        Arch::ScmpArchX86 => ScmpArch::X86,
        Arch::ScmpArchX86_64 => ScmpArch::X8664,
        Arch::ScmpArchX32 => ScmpArch::X32,
        Arch::ScmpArchArm => ScmpArch::Arm,
        Arch::ScmpArchAarch64 => ScmpArch::Aarch64,
        other => return Err(FilterError::Profile(format!("architecture {other:?} is not one berth runs on"))),
    })
}

#[cfg(test)]
mod tests {
    use oci_spec::runtime::Capability;

    use super::*;

    fn default_profile() -> LinuxSeccomp {
        let caps = [Capability::Chown, Capability::NetRaw];
        crate::runtime::spec::seccomp::default_profile(&caps, true).expect("a valid profile")
    }

    #[test]
    fn a_profile_is_compiled_once_and_read_back_from_the_cache() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = dir.path().join("cache");
        let first = Filter::for_profile(&default_profile(), &cache).expect("compile");
        let files: Vec<_> = std::fs::read_dir(&cache).expect("cache dir").flatten().map(|e| e.path()).collect();
        assert_eq!(files.len(), 1, "one program, no temporary left: {files:?}");
        let bytes = std::fs::read(&files[0]).expect("read");
        assert_eq!(bytes.len(), first.program.len() * INSTRUCTION_SIZE);
        assert!(first.program.len() > 100, "Docker's profile is a long program: {}", first.program.len());

        // A damaged cache entry (not whole instructions) is compiled again.
        std::fs::write(&files[0], &bytes[..bytes.len() - 3]).expect("truncate");
        let again = Filter::for_profile(&default_profile(), &cache).expect("recompile");
        assert_eq!(again.program.len(), first.program.len());
        assert_eq!(std::fs::read(&files[0]).expect("read").len(), bytes.len(), "the entry was rewritten");
    }

    #[test]
    fn different_profiles_get_different_entries_and_notify_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        Filter::for_profile(&default_profile(), dir.path()).expect("default");
        let guard = crate::runtime::spec::seccomp::device_node_guard().expect("guard profile");
        Filter::for_profile(&guard, dir.path()).expect("guard");
        assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 2);

        let mut notify = guard.clone();
        notify.set_default_action(LinuxSeccompAction::ScmpActNotify);
        let err = Filter::for_profile(&notify, dir.path()).err().expect("refused");
        assert!(err.to_string().contains("SCMP_ACT_NOTIFY"), "{err}");
    }

    /// Runs `body` in a forked child under `filter` (a filter cannot be
    /// removed) and returns the child's exit code; `body` may make only
    /// async-signal-safe calls.
    fn exit_code_under(filter: &Filter, body: impl FnOnce() -> i32) -> i32 {
        // SAFETY: the child only makes async-signal-safe calls (prctl,
        // seccomp, what `body` does, _exit) before it exits.
        match unsafe { libc::fork() } {
            0 => {
                // SAFETY: plain syscalls on valid arguments in the child.
                unsafe {
                    libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
                    let code = match filter.load() {
                        Err(_) => 100,
                        Ok(()) => body(),
                    };
                    libc::_exit(code);
                }
            }
            pid if pid > 0 => {
                let mut status = 0;
                // SAFETY: waits for the child forked above.
                unsafe { libc::waitpid(pid, &mut status, 0) };
                assert!(libc::WIFEXITED(status), "child status {status}");
                let code = libc::WEXITSTATUS(status);
                assert_ne!(code, 100, "the filter did not load");
                code
            }
            _ => panic!("fork failed"),
        }
    }

    /// The errno of a failed raw syscall, or 0 if it succeeded.
    fn errno_of(rc: libc::c_long) -> i32 {
        // SAFETY: reads this thread's errno.
        if rc < 0 { unsafe { *libc::__errno_location() } } else { 0 }
    }

    #[test]
    fn a_loaded_filter_applies_to_the_process_that_loaded_it() {
        // The guard profile refuses mknod of a character device with EPERM.
        let dir = tempfile::tempdir().expect("tempdir");
        let guard = crate::runtime::spec::seccomp::device_node_guard().expect("guard profile");
        let filter = Filter::for_profile(&guard, dir.path()).expect("compile");
        let node = dir.path().join("null");
        let node_c = std::ffi::CString::new(node.as_os_str().as_encoded_bytes()).expect("path");
        let code = exit_code_under(&filter, || {
            // SAFETY: mknod on a valid C string.
            let rc = unsafe { libc::mknod(node_c.as_ptr(), libc::S_IFCHR | 0o600, libc::makedev(1, 3)) };
            if errno_of(rc.into()) == libc::EPERM { 0 } else { 1 }
        });
        assert_eq!(code, 0, "mknod was not refused");
        assert!(!node.exists());
    }

    /// Docker's profile as the kernel runs it: `socket` with a family whose
    /// low 32 bits are AF_VSOCK is refused whatever the high bits (the old
    /// 64-bit `!= 40` let `0x1_0000_0028` make a vsock socket), other
    /// families still work, and `io_uring_setup` is refused.
    #[test]
    fn the_default_profile_refuses_vsock_by_the_low_32_bits_and_io_uring() {
        let dir = tempfile::tempdir().expect("tempdir");
        let filter = Filter::for_profile(&default_profile(), dir.path()).expect("compile");
        let socket = |family: u64| {
            // SAFETY: socket(2) with plain integers; the fd leaks into a
            // child that exits at once.
            errno_of(unsafe { libc::syscall(libc::SYS_socket, family, libc::SOCK_STREAM as u64, 0u64) })
        };
        // Exit codes: 0 all as expected, else which check failed.
        let code = exit_code_under(&filter, || {
            if socket(40) != libc::EPERM {
                return 1;
            }
            if socket(0x1_0000_0028) != libc::EPERM {
                return 2;
            }
            if socket(libc::AF_UNIX as u64) != 0 || socket(0x1_0000_0001) != 0 {
                return 3;
            }
            // SAFETY: io_uring_setup(2) with no params: refused before the kernel reads them.
            let rc = unsafe { libc::syscall(libc::SYS_io_uring_setup, 1u64, 0u64) };
            if errno_of(rc) != libc::EPERM {
                return 4;
            }
            0
        });
        assert_eq!(code, 0, "1/2: AF_VSOCK not refused, 3: AF_UNIX refused, 4: io_uring_setup not refused");
    }
}
