//! The shim launcher: a small process, started once per runtime, that
//! forks container shims on request instead of the engine exec'ing the
//! agent for each one.
//!
//! Why: a shim started with exec loads the whole agent (18 MB, dynamic
//! relocations, libseccomp, the Rust runtime) for every container. On a
//! host that is cheap; in berth's VM, and above all under nested
//! virtualisation, it was most of `create` (a fresh exec of the agent costs
//! tens of milliseconds there, a fork of a small process a few). A process
//! started once and kept single-threaded can fork a shim that is ready to
//! run at once, as Android's zygote does for apps.
//!
//! Protocol: a `SOCK_SEQPACKET` socketpair, the launcher's end on its fd 3.
//! Each request is one message: the container's state directory as bytes,
//! with one descriptor attached, the write end of the pipe on which the
//! engine waits for the shim's `ok` (exactly what an exec'd shim gets on
//! its fd 3; see [`super::spawn`]). The launcher forks; the child becomes
//! the shim ([`super::shim::run`]: it detaches with a second fork, so the
//! launcher only ever reaps short-lived children). There is no reply: the
//! pipe says everything, and a launcher that failed closes its end of it,
//! which the engine reads as "no word from the shim".
//!
//! The launcher lives as long as the engine's end of the socket: EOF ends
//! it, so an engine killed with -9 leaves no launcher behind (its shims,
//! detached, keep running as before).
//!
//! Must never: start a thread or an async runtime (its children run
//! libcontainer, which clones), keep a request's descriptor after the
//! fork, or let a child return into its loop.

use std::ffi::OsStr;
use std::io::{IoSlice, IoSliceMut, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Mutex;

use nix::sys::socket::{
    AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags, SockFlag, SockType, recvmsg, sendmsg, socketpair,
};

/// The argument that runs the agent as the launcher.
pub const ARG: &str = "shim-launcher";

/// Longest request: a state directory path.
const MAX_REQUEST: usize = 8192;

/// The engine's handle on its launcher. Requests from several threads are
/// serialised by the lock; one message each, so they never interleave.
#[derive(Debug)]
pub struct Launcher {
    socket: Mutex<Option<Running>>,
    exe: PathBuf,
}

#[derive(Debug)]
struct Running {
    socket: OwnedFd,
    child: Child,
}

impl Launcher {
    /// Starts `exe shim-launcher`. A launcher that cannot start is not an
    /// error: [`Launcher::launch`] then says so and the caller execs.
    pub fn start(exe: &Path) -> Launcher {
        let running = match spawn(exe) {
            Ok(r) => Some(r),
            Err(e) => {
                tracing::warn!(error = %e, "no shim launcher: shims will be exec'd");
                None
            }
        };
        Launcher { socket: Mutex::new(running), exe: exe.to_path_buf() }
    }

    /// Asks the launcher for a shim of `dir`, whose answer comes on the
    /// pipe whose write end is `ready`. Err when the launcher is gone (it
    /// is restarted for the next request): the caller then starts the shim
    /// itself. The caller closes its own `ready` after the call either way
    /// (a sent copy travels with the message).
    pub fn launch(&self, dir: &Path, ready: &OwnedFd) -> std::io::Result<()> {
        let mut guard = self.socket.lock().unwrap_or_else(|e| e.into_inner());
        let running = match &mut *guard {
            Some(running) => running,
            empty => empty.insert(spawn(&self.exe)?),
        };
        let fds = [ready.as_raw_fd()];
        let sent = sendmsg::<()>(
            running.socket.as_raw_fd(),
            &[IoSlice::new(dir.as_os_str().as_bytes())],
            &[ControlMessage::ScmRights(&fds)],
            MsgFlags::MSG_NOSIGNAL,
            None,
        );
        match sent {
            Ok(_) => Ok(()),
            Err(e) => {
                // Gone (EPIPE, ECONNRESET): it only closes its socket by
                // exiting. Reap it (the kill is for one that is somehow
                // still there) and start afresh next time.
                if let Some(mut dead) = guard.take() {
                    let _ = dead.child.kill();
                    let _ = dead.child.wait();
                }
                Err(std::io::Error::from(e))
            }
        }
    }

    /// The launcher's pid, if one runs (tests kill it).
    #[cfg(test)]
    pub fn pid(&self) -> Option<u32> {
        self.socket.lock().unwrap_or_else(|e| e.into_inner()).as_ref().map(|r| r.child.id())
    }
}

impl Drop for Launcher {
    fn drop(&mut self) {
        let running = self.socket.get_mut().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(Running { socket, mut child }) = running {
            // EOF ends the launcher; reap it so no zombie is left.
            drop(socket);
            let _ = child.wait();
        }
    }
}

fn spawn(exe: &Path) -> std::io::Result<Running> {
    let (ours, theirs) = socketpair(AddressFamily::Unix, SockType::SeqPacket, None, SockFlag::SOCK_CLOEXEC)
        .map_err(std::io::Error::from)?;
    let theirs_raw = theirs.as_raw_fd();
    let mut cmd = Command::new(exe);
    cmd.arg(ARG).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::inherit());
    // SAFETY: runs in the forked child before exec; dup2 and setsid are
    // async-signal-safe and touch only the child.
    unsafe {
        cmd.pre_exec(move || {
            // Its own session: a ^C aimed at the engine's terminal must not
            // take the launcher with it mid-request.
            libc::setsid();
            move_to_fd3(theirs_raw)
        });
    }
    let child = cmd.spawn()?;
    drop(theirs);
    Ok(Running { socket: ours, child })
}

/// In a forked child before exec: makes `fd` the child's fd 3, open
/// across the exec (the launcher's socket, an exec'd shim's ready pipe).
/// Only async-signal-safe calls.
pub(super) fn move_to_fd3(fd: RawFd) -> std::io::Result<()> {
    // SAFETY: dup2 and fcntl touch only the calling process's fd table.
    // dup2 onto itself would keep close-on-exec: clear it instead.
    let moved = unsafe { if fd == 3 { libc::fcntl(3, libc::F_SETFD, 0) } else { libc::dup2(fd, 3) } };
    if moved < 0 { Err(std::io::Error::last_os_error()) } else { Ok(()) }
}

/// Entry point of `berth-agent shim-launcher`: serves requests on fd 3
/// until the engine closes its end. Must be called before any thread or
/// async runtime exists in the process.
pub fn main() -> ExitCode {
    // SAFETY: F_GETFD only asks whether fd 3 is open.
    if unsafe { libc::fcntl(3, libc::F_GETFD) } < 0 {
        eprintln!("usage: berth-agent shim-launcher (started by the engine with its socket on fd 3)");
        return ExitCode::from(2);
    }
    // SAFETY: fd 3 is open and was handed to us for this purpose only.
    let socket = unsafe { OwnedFd::from_raw_fd(3) };
    loop {
        match receive(socket.as_raw_fd()) {
            Ok(Some((dir, ready))) => serve(&socket, dir, ready),
            Ok(None) => return ExitCode::SUCCESS,
            Err(e) if e.raw_os_error() == Some(libc::EINTR) => continue,
            Err(e) => {
                eprintln!("berth-agent shim-launcher: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
}

/// One request, or None at EOF. A malformed one (no descriptor, a path
/// too long) is answered on its pipe when it has one and skipped.
fn receive(socket: RawFd) -> std::io::Result<Option<(PathBuf, OwnedFd)>> {
    loop {
        let mut buf = vec![0u8; MAX_REQUEST];
        let mut cmsg = nix::cmsg_space!([RawFd; 4]);
        let (bytes, truncated, fds) = {
            let mut iov = [IoSliceMut::new(&mut buf)];
            let msg = recvmsg::<()>(socket, &mut iov, Some(&mut cmsg), MsgFlags::MSG_CMSG_CLOEXEC)
                .map_err(std::io::Error::from)?;
            let mut fds: Vec<OwnedFd> = Vec::new();
            if let Ok(cmsgs) = msg.cmsgs() {
                for c in cmsgs {
                    if let ControlMessageOwned::ScmRights(raw) = c {
                        // SAFETY: the kernel just installed these descriptors
                        // in this process for us; nothing else owns them.
                        fds.extend(raw.into_iter().map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }));
                    }
                }
            }
            (msg.bytes, msg.flags.contains(MsgFlags::MSG_TRUNC), fds)
        };
        if bytes == 0 && fds.is_empty() {
            return Ok(None);
        }
        let mut fds = fds.into_iter();
        let Some(ready) = fds.next() else { continue };
        if truncated || bytes == 0 || fds.next().is_some() {
            answer(&ready, "error: malformed request to the shim launcher");
            continue;
        }
        return Ok(Some((PathBuf::from(OsStr::from_bytes(&buf[..bytes])), ready)));
    }
}

fn answer(ready: &OwnedFd, line: &str) {
    if let Ok(fd) = ready.try_clone() {
        let _ = std::fs::File::from(fd).write_all(format!("{line}\n").as_bytes());
    }
}

/// Forks the shim of `dir` and reaps the child once it has detached.
fn serve(socket: &OwnedFd, dir: PathBuf, ready: OwnedFd) {
    // SAFETY: the launcher is single-threaded (see the module's rules), so
    // the child may run arbitrary code.
    match unsafe { nix::unistd::fork() } {
        Ok(nix::unistd::ForkResult::Child) => {
            // The shim must not hold the launcher's socket: with it open,
            // a dead launcher would look alive to the engine.
            // SAFETY: closing our copy of an fd no other code in this
            // child uses; the OwnedFd is never dropped here (exit below).
            unsafe { libc::close(socket.as_raw_fd()) };
            name_process(&dir);
            let code = super::shim::run(dir, Some(ready));
            std::process::exit(if code == ExitCode::SUCCESS { 0 } else { 1 });
        }
        Ok(nix::unistd::ForkResult::Parent { child }) => {
            drop(ready);
            let _ = nix::sys::wait::waitpid(child, None);
        }
        Err(e) => answer(&ready, &format!("error: the shim launcher cannot fork: {e}")),
    }
}

/// Gives the forked shim the command line an exec'd one has
/// (`berth-agent shim --dir DIR`), so `ps` shows which container it owns.
/// Best effort: it needs CAP_SYS_RESOURCE, which the engine has in berth's
/// VM but not in every container it may itself run in (then `ps` shows the
/// launcher's command line, and the thread name `berth-shim`).
fn name_process(dir: &Path) {
    let mut line = Vec::new();
    for part in [OsStr::new("berth-agent"), OsStr::new("shim"), OsStr::new("--dir"), dir.as_os_str()] {
        line.extend_from_slice(part.as_bytes());
        line.push(0);
    }
    // The kernel reads the command line from this memory for as long as
    // the process lives.
    let line: &'static [u8] = Box::leak(line.into_boxed_slice());
    let (start, end) = (line.as_ptr() as libc::c_ulong, line.as_ptr() as libc::c_ulong + line.len() as libc::c_ulong);
    let set = |what: libc::c_int, at: libc::c_ulong| {
        // SAFETY: PR_SET_MM only changes which of our own addresses the
        // kernel reports as the command line; both point into `line`.
        unsafe { libc::prctl(libc::PR_SET_MM, what as libc::c_ulong, at, 0, 0) == 0 }
    };
    // The kernel checks start <= end after each call: which goes first
    // depends on where the new line lies relative to the old one.
    if !(set(libc::PR_SET_MM_ARG_START, start) && set(libc::PR_SET_MM_ARG_END, end)) {
        let _ = set(libc::PR_SET_MM_ARG_END, end) && set(libc::PR_SET_MM_ARG_START, start);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    /// A launcher answering a request without a descriptor-bearing path is
    /// exercised through the real binary in the runtime tests; here: the
    /// wire format round-trips and EOF ends `receive`.
    #[test]
    fn a_request_carries_the_path_and_the_pipe_and_eof_ends() {
        let (a, b) = socketpair(AddressFamily::Unix, SockType::SeqPacket, None, SockFlag::SOCK_CLOEXEC).unwrap();
        let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
        let fds = [w.as_raw_fd()];
        sendmsg::<()>(
            a.as_raw_fd(),
            &[IoSlice::new(b"/run/x/abc")],
            &[ControlMessage::ScmRights(&fds)],
            MsgFlags::empty(),
            None,
        )
        .unwrap();
        drop(w);
        let (dir, ready) = receive(b.as_raw_fd()).unwrap().expect("a request");
        assert_eq!(dir, Path::new("/run/x/abc"));
        answer(&ready, "ok");
        drop(ready);
        let mut got = String::new();
        std::fs::File::from(r).read_to_string(&mut got).unwrap();
        assert_eq!(got, "ok\n");
        drop(a);
        assert!(receive(b.as_raw_fd()).unwrap().is_none());
    }

    #[test]
    fn a_request_without_a_pipe_is_skipped_and_a_bad_one_is_answered() {
        let (a, b) = socketpair(AddressFamily::Unix, SockType::SeqPacket, None, SockFlag::SOCK_CLOEXEC).unwrap();
        sendmsg::<()>(a.as_raw_fd(), &[IoSlice::new(b"/no/pipe")], &[], MsgFlags::empty(), None).unwrap();
        let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
        let fds = [w.as_raw_fd()];
        let long = vec![b'x'; MAX_REQUEST + 10];
        sendmsg::<()>(
            a.as_raw_fd(),
            &[IoSlice::new(&long)],
            &[ControlMessage::ScmRights(&fds)],
            MsgFlags::empty(),
            None,
        )
        .unwrap();
        drop(w);
        drop(a);
        assert!(receive(b.as_raw_fd()).unwrap().is_none(), "both requests skipped, then EOF");
        let mut got = String::new();
        std::fs::File::from(r).read_to_string(&mut got).unwrap();
        assert!(got.starts_with("error: malformed"), "{got}");
    }
}
