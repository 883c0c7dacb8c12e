//! Shells in the VM itself (`berth machine shell`): a process of the
//! guest, outside every container, on a pty or on pipes.
//!
//! Owns the sessions: spawning, their terminal size, and their exit code
//! until the client has read it. It must never be reachable outside a VM:
//! in process mode a "machine shell" would be a root shell on the host, and
//! the API refuses it before it gets here.

use std::collections::HashMap;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::net::unix::pipe;
use tokio::sync::watch;

/// The toolbox `cargo xtask images` puts in the initramfs.
const DEFAULT_SHELL: &str = "/bin/sh";

/// Exited sessions whose code nobody fetched are forgotten after this.
const KEEP_EXITED: Duration = Duration::from_secs(300);

#[derive(Debug, thiserror::Error)]
pub enum ShellError {
    #[error("cannot open a pty: {0}")]
    Pty(#[source] nix::Error),
    #[error("cannot make a pipe: {0}")]
    Pipe(#[source] std::io::Error),
    #[error("cannot start {cmd}: {source}")]
    Spawn {
        cmd: String,
        #[source]
        source: std::io::Error,
    },
    #[error("no such shell session: {0}")]
    NoSuchSession(String),
    #[error("cannot resize the terminal: {0}")]
    Resize(#[source] std::io::Error),
}

impl ShellError {
    /// How a client should read the failure.
    pub fn kind(&self) -> crate::error_kind::ErrorKind {
        match self {
            ShellError::NoSuchSession(_) => crate::error_kind::ErrorKind::NotFound,
            _ => crate::error_kind::ErrorKind::Internal,
        }
    }
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ShellRequest {
    /// Empty: an interactive login shell.
    pub cmd: Vec<String>,
    /// `KEY=value` entries added to a minimal environment.
    pub env: Vec<String>,
    pub tty: bool,
    pub height: u16,
    pub width: u16,
}

/// The process's side of the stream: what the client types goes to
/// `input`; everything the process prints (stdout and stderr, or the
/// terminal) comes out of `output`.
pub struct ShellIo {
    pub input: pipe::Sender,
    pub output: pipe::Receiver,
}

pub struct Session {
    pub id: String,
    pub pid: u32,
    /// The pty's master, kept for resizing; None on pipes.
    pty: Option<OwnedFd>,
    exit: watch::Receiver<Option<i32>>,
    exited_at: Mutex<Option<Instant>>,
}

impl Session {
    pub fn exit_code(&self) -> Option<i32> {
        *self.exit.borrow()
    }

    /// Resolves with the exit code once the process has ended.
    pub async fn wait(&self) -> Option<i32> {
        let mut rx = self.exit.clone();
        rx.wait_for(Option::is_some).await.ok().and_then(|c| *c)
    }

    pub fn resize(&self, height: u16, width: u16) -> Result<(), ShellError> {
        match &self.pty {
            Some(master) => set_window_size(master, height, width).map_err(ShellError::Resize),
            None => Ok(()),
        }
    }
}

#[derive(Default)]
pub struct Sessions {
    map: Mutex<HashMap<String, Arc<Session>>>,
}

impl Sessions {
    pub fn spawn(&self, req: &ShellRequest) -> Result<(Arc<Session>, ShellIo), ShellError> {
        let (argv0, args): (String, Vec<String>) = match req.cmd.split_first() {
            Some((first, rest)) => (first.clone(), rest.to_vec()),
            None => (DEFAULT_SHELL.to_string(), vec!["-l".to_string()]),
        };
        let mut cmd = Command::new(&argv0);
        cmd.args(&args)
            .env_clear()
            .env("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
            .env("HOME", "/root")
            .env("TERM", "xterm")
            .current_dir("/");
        for kv in &req.env {
            if let Some((k, v)) = kv.split_once('=') {
                cmd.env(k, v);
            }
        }
        let (pty, io) = if req.tty { attach_pty(&mut cmd, req)? } else { attach_pipes(&mut cmd)? };
        let spawned = crate::children::spawn_watched(&mut cmd);
        // Drop our copies of the child's ends so that its exit ends `output`.
        drop(cmd);
        let (pid, exited) = spawned.map_err(|source| ShellError::Spawn { cmd: argv0.clone(), source })?;

        let (tx, rx) = watch::channel(None);
        let session = Arc::new(Session { id: new_id(), pid, pty, exit: rx, exited_at: Mutex::new(None) });
        let watcher = session.clone();
        tokio::spawn(async move {
            // A dropped sender means the reaper is gone (not PID 1): report
            // that as a failure rather than waiting forever.
            let code = exited.await.unwrap_or(-1);
            *watcher.exited_at.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
            tx.send_replace(Some(code));
        });
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        map.retain(|_, s| {
            let at = *s.exited_at.lock().unwrap_or_else(|p| p.into_inner());
            at.is_none_or(|t| t.elapsed() < KEEP_EXITED)
        });
        map.insert(session.id.clone(), session.clone());
        Ok((session, io))
    }

    pub fn get(&self, id: &str) -> Result<Arc<Session>, ShellError> {
        let map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        map.get(id).cloned().ok_or_else(|| ShellError::NoSuchSession(id.to_string()))
    }

    /// Forgets an exited session once its code has been handed out.
    pub fn release(&self, id: &str) {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if map.get(id).is_some_and(|s| s.exit_code().is_some()) {
            map.remove(id);
        }
    }
}

fn attach_pty(cmd: &mut Command, req: &ShellRequest) -> Result<(Option<OwnedFd>, ShellIo), ShellError> {
    let pty = nix::pty::openpty(None, None).map_err(ShellError::Pty)?;
    if req.height > 0 && req.width > 0 {
        set_window_size(&pty.master, req.height, req.width).map_err(ShellError::Resize)?;
    }
    let slave = pty.slave;
    let dup = |fd: &OwnedFd| fd.try_clone().map_err(ShellError::Pipe);
    cmd.stdin(Stdio::from(dup(&slave)?)).stdout(Stdio::from(dup(&slave)?)).stderr(Stdio::from(slave));
    // SAFETY: `take_terminal` runs in the forked child before exec and only
    // makes async-signal-safe calls.
    unsafe {
        cmd.pre_exec(take_terminal);
    }
    let input = pipe::Sender::from_owned_fd_unchecked(dup(&pty.master)?).map_err(ShellError::Pipe)?;
    let output = pipe::Receiver::from_owned_fd_unchecked(dup(&pty.master)?).map_err(ShellError::Pipe)?;
    Ok((Some(pty.master), ShellIo { input, output }))
}

/// In the child: a session of its own whose controlling terminal is the
/// pty on fd 0, so job control and Ctrl-C work in the shell.
fn take_terminal() -> std::io::Result<()> {
    nix::unistd::setsid().map_err(std::io::Error::from)?;
    // SAFETY: fd 0 is the pty's slave (Command set it up); TIOCSCTTY takes
    // an int argument.
    if unsafe { libc::ioctl(0, libc::TIOCSCTTY, 0) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

fn attach_pipes(cmd: &mut Command) -> Result<(Option<OwnedFd>, ShellIo), ShellError> {
    let (stdin_r, stdin_w) = std::io::pipe().map_err(ShellError::Pipe)?;
    let (out_r, out_w) = std::io::pipe().map_err(ShellError::Pipe)?;
    let err_w = out_w.try_clone().map_err(ShellError::Pipe)?;
    cmd.stdin(stdin_r).stdout(out_w).stderr(err_w);
    // The child's own session, so a hang-up of ours never reaches it.
    // SAFETY: runs in the forked child before exec; setsid is
    // async-signal-safe.
    unsafe {
        cmd.pre_exec(|| nix::unistd::setsid().map(drop).map_err(std::io::Error::from));
    }
    let input = pipe::Sender::from_owned_fd_unchecked(OwnedFd::from(stdin_w)).map_err(ShellError::Pipe)?;
    let output = pipe::Receiver::from_owned_fd_unchecked(OwnedFd::from(out_r)).map_err(ShellError::Pipe)?;
    Ok((None, ShellIo { input, output }))
}

fn set_window_size(master: &OwnedFd, height: u16, width: u16) -> std::io::Result<()> {
    let ws = libc::winsize { ws_row: height, ws_col: width, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: TIOCSWINSZ reads one `winsize` from the pointer, which is
    // valid for the call; the fd is a pty master we own.
    if unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &ws) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

fn new_id() -> String {
    let mut bytes = [0u8; 16];
    if std::fs::File::open("/dev/urandom").and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes)).is_err() {
        // Unique enough within one agent: time and a counter.
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let t =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos() as u64;
        bytes[..8].copy_from_slice(&t.to_le_bytes());
        bytes[8..].copy_from_slice(&n.to_le_bytes());
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Stands in for PID 1's reaper for one session.
    fn reap_in_background(pid: u32) {
        tokio::spawn(async move {
            for _ in 0..500 {
                crate::children::reap_pid(pid);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        });
    }

    fn request(cmd: &[&str], tty: bool) -> ShellRequest {
        ShellRequest {
            cmd: cmd.iter().map(|s| s.to_string()).collect(),
            env: vec!["GREETING=hello".into()],
            tty,
            height: 40,
            width: 100,
        }
    }

    #[tokio::test]
    async fn on_pipes_stdin_eof_reaches_the_process_and_its_code_is_kept() {
        let sessions = Sessions::default();
        let (session, io) =
            sessions.spawn(&request(&["sh", "-c", "read x; echo $GREETING $x; echo err >&2; exit 3"], false)).unwrap();
        reap_in_background(session.pid);
        let ShellIo { mut input, mut output } = io;
        input.write_all(b"world\n").await.unwrap();
        drop(input);
        let mut out = String::new();
        output.read_to_string(&mut out).await.unwrap();
        assert_eq!(out, "hello world\nerr\n");
        assert_eq!(session.wait().await, Some(3));
        let id = session.id.clone();
        sessions.release(&id);
        assert!(matches!(sessions.get(&id), Err(ShellError::NoSuchSession(_))));
    }

    #[tokio::test]
    async fn on_a_pty_the_process_has_a_terminal_of_the_requested_size() {
        let sessions = Sessions::default();
        let (session, io) = sessions.spawn(&request(&["sh", "-c", "test -t 0 && stty size; exit 5"], true)).unwrap();
        reap_in_background(session.pid);
        let ShellIo { input, mut output } = io;
        let mut out = Vec::new();
        let mut buf = [0u8; 256];
        // EIO from the master ends the stream once the slave is closed.
        while let Ok(n) = output.read(&mut buf).await {
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        drop(input);
        assert_eq!(String::from_utf8_lossy(&out).trim(), "40 100");
        assert_eq!(session.wait().await, Some(5));
        session.resize(10, 20).unwrap();
    }

    #[tokio::test]
    async fn a_missing_program_is_a_clear_error() {
        let e = Sessions::default().spawn(&request(&["/no/such/shell"], false)).err().unwrap();
        assert!(e.to_string().contains("/no/such/shell"), "{e}");
    }
}
