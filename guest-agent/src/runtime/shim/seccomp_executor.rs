//! The executor of every container process (the init and `docker exec`'s):
//! loads the container's compiled seccomp filter in the new process just
//! before it execs the command, and gives the command the signal state a
//! process of Docker's starts with.
//!
//! Signals: the shim is a Rust program, whose runtime ignores SIGPIPE, and
//! an ignored signal stays ignored across execve, as does the signal mask.
//! Left so, a container's `yes | head -1` would see EPIPE instead of dying
//! of SIGPIPE (128+13), and a shell could not trap a signal it was started
//! ignoring (`sh -c 'trap "exit 0" INT; ...'` under a SIGINT stop signal
//! would end with SIGKILL's 137). So every signal goes back to its default
//! action and none stays blocked, as runc's init leaves them.
//!
//! Why here and not in libcontainer: its tenant builder rebuilds an exec's
//! `linux` section without the profile (an exec would run unconfined), and
//! for the init it compiles the profile with libseccomp inside every new
//! container (see [`super::seccomp_filter`] for what that cost). So the spec
//! libcontainer runs has no `linux.seccomp`, and this executor loads the
//! precompiled program instead.
//!
//! The executor runs after libcontainer has dropped capabilities, and
//! without `no_new_privileges` loading a filter needs CAP_SYS_ADMIN: so the
//! process is given CAP_SYS_ADMIN in its effective and permitted sets only
//! (never the bounding, inheritable or ambient ones, so no execve can keep
//! or regain it), loads the filter here, drops the capability again, and
//! only then execs.
//!
//! Must never: exec the command when the filter failed to load, or leave
//! the borrowed capability in place.

use caps::{CapSet, Capability};
use libcontainer::oci_spec::runtime::Spec;
use libcontainer::workload::{Executor, ExecutorError, ExecutorValidationError};

use super::seccomp_filter::Filter;

/// The capability that a process with dropped capabilities needs to load a
/// seccomp filter without `no_new_privileges`, as the OCI name the process
/// spec uses.
pub const BORROWED_CAPABILITY: &str = "CAP_SYS_ADMIN";

#[derive(Clone)]
pub struct SeccompExecutor {
    /// The container's filter; None when it runs unconfined.
    pub filter: Option<Filter>,
    /// The process holds [`BORROWED_CAPABILITY`] only to load `filter`.
    pub drop_borrowed: bool,
}

impl Executor for SeccompExecutor {
    fn exec(&self, spec: &Spec) -> Result<(), ExecutorError> {
        default_signal_state().map_err(|e| ExecutorError::Other(format!("resetting the signal mask: {e}")))?;
        if let Some(filter) = &self.filter {
            filter.load().map_err(|e| ExecutorError::Other(format!("loading the container's seccomp filter: {e}")))?;
        }
        if self.drop_borrowed {
            for set in [CapSet::Effective, CapSet::Permitted] {
                caps::drop(None, set, Capability::CAP_SYS_ADMIN)
                    .map_err(|e| ExecutorError::Other(format!("dropping CAP_SYS_ADMIN after seccomp: {e}")))?;
            }
        }
        libcontainer::workload::default::get_executor().exec(spec)
    }

    fn validate(&self, spec: &Spec) -> Result<(), ExecutorValidationError> {
        libcontainer::workload::default::get_executor().validate(spec)
    }
}

/// Every signal's action back to the default and an empty signal mask (see
/// the module comment). Handlers need no reset (execve does that); ignored
/// signals and blocked ones do.
pub fn default_signal_state() -> std::io::Result<()> {
    for sig in 1..=libc::SIGRTMAX() {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        // SAFETY: signal(2) with SIG_DFL installs no handler and touches no
        // memory; a number the C library reserves for itself (its own
        // real-time signals) answers EINVAL and is left as it is.
        unsafe { libc::signal(sig, libc::SIG_DFL) };
    }
    nix::sys::signal::sigprocmask(
        nix::sys::signal::SigmaskHow::SIG_SETMASK,
        Some(&nix::sys::signal::SigSet::empty()),
        None,
    )
    .map_err(std::io::Error::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// In a forked child (the test process's own state stays as it is):
    /// an ignored SIGPIPE and a blocked SIGINT are both undone.
    #[test]
    fn ignored_and_blocked_signals_are_reset() {
        // SAFETY: the child only makes async-signal-safe calls (signal,
        // sigprocmask, sigaction queries) and leaves with _exit.
        match unsafe { nix::unistd::fork() }.expect("fork") {
            nix::unistd::ForkResult::Child => {
                let ok = (|| {
                    // SAFETY: as above.
                    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
                    let mut int = nix::sys::signal::SigSet::empty();
                    int.add(nix::sys::signal::Signal::SIGINT);
                    nix::sys::signal::sigprocmask(nix::sys::signal::SigmaskHow::SIG_BLOCK, Some(&int), None).ok()?;
                    default_signal_state().ok()?;
                    // SAFETY: sigaction is plain data; all zeroes is a valid value.
                    let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
                    // SAFETY: a query (the new action is null) into `old`.
                    let rc = unsafe { libc::sigaction(libc::SIGPIPE, std::ptr::null(), &mut old) };
                    let mut mask = nix::sys::signal::SigSet::empty();
                    nix::sys::signal::sigprocmask(nix::sys::signal::SigmaskHow::SIG_BLOCK, None, Some(&mut mask))
                        .ok()?;
                    Some(
                        rc == 0
                            && old.sa_sigaction == libc::SIG_DFL
                            && !mask.contains(nix::sys::signal::Signal::SIGINT),
                    )
                })();
                // SAFETY: leaves the forked child without running the test
                // harness's exit handlers.
                unsafe { libc::_exit(if ok == Some(true) { 0 } else { 1 }) }
            }
            nix::unistd::ForkResult::Parent { child } => {
                let status = nix::sys::wait::waitpid(child, None).expect("wait");
                assert_eq!(status, nix::sys::wait::WaitStatus::Exited(child, 0));
            }
        }
    }
}
