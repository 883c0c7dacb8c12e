//! The shim: the agent forked by the [`super::launcher`] (or, without one,
//! re-executed as `berth-agent shim --dir DIR`) to own one container for
//! its whole life, as containerd-shim and conmon do.
//!
//! Owns: the container's stdio (pipes, or the pty for a TTY), its
//! json-file log, its exit status (`exit.json`), its exec'd processes, and
//! the control socket `DIR/shim.sock` that the engine's [`super::Shim`]
//! talks to. It detaches from the engine (new session, double fork) so the
//! container keeps running when the engine restarts, and is a child
//! subreaper so the container's init and execs are reaped here.
//!
//! Must never: start a second thread (libcontainer clones from it; the
//! tokio runtime here is current-thread and nothing uses spawn_blocking),
//! or outlive `delete`.

pub mod config;
mod fdio;
mod hub;
mod lc;
mod seccomp_executor;
mod seccomp_filter;
mod server;
mod stats_v2;
pub mod teardown;
mod watchdog;

use std::os::fd::{FromRawFd, OwnedFd};
use std::path::PathBuf;
use std::process::ExitCode;

/// Entry point of `berth-agent shim --dir DIR`. Must be called before any
/// thread or async runtime exists in the process.
pub fn main(args: Vec<std::ffi::OsString>) -> ExitCode {
    let dir = match args.as_slice() {
        [flag, dir] if flag == "--dir" => PathBuf::from(dir),
        _ => {
            eprintln!("usage: berth-agent shim --dir DIR (started by the engine, not by hand)");
            return ExitCode::from(2);
        }
    };
    // fd 3 is the pipe on which the engine waits for "ok" (see spawn.rs).
    // SAFETY: F_GETFD only asks whether fd 3 is open.
    let ready = if unsafe { libc::fcntl(3, libc::F_GETFD) } >= 0 {
        // SAFETY: fd 3 is open and was handed to us by our parent for this
        // purpose only; nothing else in this process owns it.
        Some(unsafe { OwnedFd::from_raw_fd(3) })
    } else {
        None
    };
    run(dir, ready)
}

/// The shim of the container in `dir`, whose `ready` pipe (if any) gets
/// `ok` once it listens: from an exec (`main`) or forked by the
/// [`super::launcher`]. Must be called while the process is
/// single-threaded; returns in both processes of its detaching fork.
pub fn run(dir: PathBuf, ready: Option<OwnedFd>) -> ExitCode {
    // Detach: the engine reaps the first process at once; the second one,
    // in its own session, is the shim.
    // SAFETY: the process is single-threaded here (dispatched from main
    // before anything else), so the child may run arbitrary code.
    match unsafe { nix::unistd::fork() } {
        Ok(nix::unistd::ForkResult::Parent { .. }) => return ExitCode::SUCCESS,
        Ok(nix::unistd::ForkResult::Child) => {}
        Err(e) => {
            eprintln!("berth-agent shim: fork: {e}");
            return ExitCode::FAILURE;
        }
    }
    let _ = nix::unistd::setsid();
    // SAFETY: PR_SET_NAME copies at most 16 bytes from a NUL-terminated string.
    unsafe { libc::prctl(libc::PR_SET_NAME, c"berth-shim".as_ptr(), 0, 0, 0) };
    // SAFETY: prctl(PR_SET_CHILD_SUBREAPER) only sets a flag on this process.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    redirect_output(&dir);
    // Logs go to shim.log through their own descriptor, not fd 2: the
    // container's processes run libcontainer code with fd 2 already
    // pointing at the container's stderr, and its logs must not land in
    // the user's output.
    match std::fs::OpenOptions::new().create(true).append(true).open(dir.join("shim.log")) {
        Ok(file) => tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("BERTH_LOG").unwrap_or_else(|_| "info".into()))
            .with_writer(std::sync::Mutex::new(file))
            .with_ansi(false)
            .init(),
        Err(e) => eprintln!("berth-agent shim: cannot open shim.log: {e}"),
    }
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the shim's event loop");
            return ExitCode::FAILURE;
        }
    };
    let local = tokio::task::LocalSet::new();
    match local.block_on(&rt, server::run(dir, ready)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "shim failed");
            ExitCode::FAILURE
        }
    }
}

/// stdout/stderr to `DIR/shim.log`, stdin from /dev/null: the engine's
/// terminal or pipes must not be held by a process that outlives it.
fn redirect_output(dir: &std::path::Path) {
    use std::os::fd::AsRawFd;
    if let Ok(null) = std::fs::File::open("/dev/null") {
        // SAFETY: dup2 onto our own fd 0.
        unsafe { libc::dup2(null.as_raw_fd(), 0) };
    }
    if let Ok(log) = std::fs::OpenOptions::new().create(true).append(true).open(dir.join("shim.log")) {
        // SAFETY: dup2 onto our own fds 1 and 2.
        unsafe {
            libc::dup2(log.as_raw_fd(), 1);
            libc::dup2(log.as_raw_fd(), 2);
        }
    }
}
