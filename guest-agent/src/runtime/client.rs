//! The engine's side of a shim: a handle that talks to the shim over its
//! control socket. Cheap to clone; every call opens its own connection, so
//! calls never wait on one another (a pending `wait_exit` does not block a
//! `kill`).

use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::UnixStream;

use super::protocol::{MAX_LINE, Reply, Request};
use super::{AttachStreams, CgroupStats, ContainerState, ExecRequest, ExitInfo, RuntimeError};

#[derive(Clone, Debug)]
pub struct Shim {
    id: String,
    /// `<state_root>/<id>`.
    dir: PathBuf,
}

/// A container's (or an exec's) stdio as one duplex byte stream.
/// Reading gives Docker's 8-byte multiplexed frames (no TTY) or the raw
/// terminal bytes (TTY); writing feeds stdin; `shutdown()` of the write
/// half is stdin EOF. Dropping it detaches.
#[derive(Debug)]
pub struct AttachIo(UnixStream);

impl AsyncRead for AttachIo {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for AttachIo {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

/// A process started with [`Shim::exec`].
#[derive(Clone, Debug)]
pub struct ExecHandle {
    shim: Shim,
    exec_id: String,
    pid: i32,
}

impl ExecHandle {
    /// Host pid of the exec'd process.
    pub fn pid(&self) -> i32 {
        self.pid
    }
    pub async fn resize(&self, width: u16, height: u16) -> Result<(), RuntimeError> {
        let req = Request::Resize { exec: Some(self.exec_id.clone()), width, height };
        self.shim.call_ok(&req).await
    }
    /// Sends `signal` to the process (an error once it has exited).
    pub async fn kill(&self, signal: i32) -> Result<(), RuntimeError> {
        self.shim.call_ok(&Request::ExecKill { exec: self.exec_id.clone(), signal }).await
    }
    /// Resolves when the process has exited (at once if it has).
    pub async fn wait_exit(&self) -> Result<ExitInfo, RuntimeError> {
        match self.shim.call(&Request::ExecWait { exec: self.exec_id.clone() }).await? {
            Reply::Exited(e) => Ok(e),
            other => Err(self.shim.unexpected(other)),
        }
    }
}

impl Shim {
    pub(crate) fn new(id: String, dir: PathBuf) -> Self {
        Shim { id, dir }
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// The container's merged root filesystem as the host sees it (for
    /// `docker cp` and export); mounted while the shim lives.
    pub fn rootfs(&self) -> PathBuf {
        self.dir.join("rootfs")
    }

    pub(crate) fn socket_path(dir: &Path) -> PathBuf {
        dir.join("shim.sock")
    }

    /// Starts the container's process; returns its host pid. A command that
    /// cannot be executed gives `RuntimeError::Exec` (126/127) and leaves
    /// the container exited with that code.
    pub async fn start(&self) -> Result<i32, RuntimeError> {
        match self.call(&Request::Start).await? {
            Reply::Started { pid } => Ok(pid),
            other => Err(self.unexpected(other)),
        }
    }

    /// Sends a signal to the container's init.
    pub async fn kill(&self, signal: i32) -> Result<(), RuntimeError> {
        self.call_ok(&Request::Kill { signal }).await
    }

    pub async fn state(&self) -> Result<ContainerState, RuntimeError> {
        match self.call(&Request::State).await? {
            Reply::State(s) => Ok(s),
            other => Err(self.unexpected(other)),
        }
    }

    /// Resolves when the container has exited (at once if it has), after
    /// its output has been written to the log.
    pub async fn wait_exit(&self) -> Result<ExitInfo, RuntimeError> {
        match self.call(&Request::WaitExit).await? {
            Reply::Exited(e) => Ok(e),
            other => Err(self.unexpected(other)),
        }
    }

    /// Attaches to the container's stdio. Output from before the attach is
    /// not replayed (it is in the log). Several attaches may coexist.
    pub async fn attach(&self, streams: AttachStreams) -> Result<AttachIo, RuntimeError> {
        let (reply, stream) = self.call_keep(&Request::Attach { streams }).await?;
        match reply {
            Reply::Attached => Ok(AttachIo(stream)),
            other => Err(self.unexpected(other)),
        }
    }

    /// Resizes the container's terminal (no-op error without a TTY).
    pub async fn resize(&self, width: u16, height: u16) -> Result<(), RuntimeError> {
        self.call_ok(&Request::Resize { exec: None, width, height }).await
    }

    /// Freezes every process of the container (cgroup freezer).
    pub async fn pause(&self) -> Result<(), RuntimeError> {
        self.call_ok(&Request::Pause).await
    }

    pub async fn resume(&self) -> Result<(), RuntimeError> {
        self.call_ok(&Request::Resume).await
    }

    /// Starts a process in the running container. `exec_id` is the
    /// engine's exec id (the shim keeps exit codes under it). The returned
    /// stream is the process's stdio (see [`AttachIo`]); drop it for a
    /// detached exec.
    pub async fn exec(&self, exec_id: &str, req: ExecRequest) -> Result<(ExecHandle, AttachIo), RuntimeError> {
        let (reply, stream) = self.call_keep(&Request::Exec { exec: exec_id.to_string(), req }).await?;
        match reply {
            Reply::ExecStarted { pid } => {
                Ok((ExecHandle { shim: self.clone(), exec_id: exec_id.to_string(), pid }, AttachIo(stream)))
            }
            other => Err(self.unexpected(other)),
        }
    }

    /// The handle of an exec started earlier (e.g. by an engine before a
    /// restart); `pid` is only informative.
    pub fn exec_handle(&self, exec_id: &str, pid: i32) -> ExecHandle {
        ExecHandle { shim: self.clone(), exec_id: exec_id.to_string(), pid }
    }

    pub async fn stats(&self) -> Result<CgroupStats, RuntimeError> {
        match self.call(&Request::Stats).await? {
            Reply::Stats(s) => Ok(*s),
            other => Err(self.unexpected(other)),
        }
    }

    /// Host pids of every process in the container's cgroup.
    pub async fn top(&self) -> Result<Vec<i32>, RuntimeError> {
        match self.call(&Request::Top).await? {
            Reply::Top(p) => Ok(p),
            other => Err(self.unexpected(other)),
        }
    }

    /// After exit: deletes the container (cgroup, libcontainer state),
    /// unmounts the rootfs, removes the runtime state; the shim exits.
    /// The log file (the engine's path) is left alone.
    pub async fn delete(&self) -> Result<(), RuntimeError> {
        self.call_ok(&Request::Delete).await?;
        // The shim removes its directory just before exiting; wait for it so
        // a following create of the same id cannot race the removal.
        for _ in 0..200 {
            if !self.dir.exists() {
                return Ok(());
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        Ok(())
    }

    /// Is the shim alive and answering?
    pub async fn ping(&self) -> Result<i32, RuntimeError> {
        match self.call(&Request::Hello).await? {
            Reply::Hello { shim_pid, .. } => Ok(shim_pid),
            other => Err(self.unexpected(other)),
        }
    }

    async fn call_ok(&self, req: &Request) -> Result<(), RuntimeError> {
        match self.call(req).await? {
            Reply::Ok => Ok(()),
            other => Err(self.unexpected(other)),
        }
    }

    async fn call(&self, req: &Request) -> Result<Reply, RuntimeError> {
        self.call_keep(req).await.map(|(r, _)| r)
    }

    /// Sends one request, reads one reply line without reading past it
    /// (what follows belongs to an attach stream), keeps the connection.
    async fn call_keep(&self, req: &Request) -> Result<(Reply, UnixStream), RuntimeError> {
        let gone = |source| RuntimeError::ShimGone { id: self.id.clone(), source };
        let mut stream = UnixStream::connect(Self::socket_path(&self.dir)).await.map_err(gone)?;
        let mut line = serde_json::to_vec(req).map_err(|e| gone(std::io::Error::other(e)))?;
        line.push(b'\n');
        stream.write_all(&line).await.map_err(gone)?;
        let mut buf = Vec::with_capacity(256);
        loop {
            let mut byte = [0u8; 1];
            let n = stream.read(&mut byte).await.map_err(gone)?;
            if n == 0 {
                return Err(gone(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "the shim closed the connection without a reply",
                )));
            }
            if byte[0] == b'\n' {
                break;
            }
            if buf.len() >= MAX_LINE {
                return Err(gone(std::io::Error::other("reply line too long")));
            }
            buf.push(byte[0]);
        }
        let reply: Reply = serde_json::from_slice(&buf).map_err(|e| gone(std::io::Error::other(e)))?;
        if let Reply::Error(e) = reply {
            return Err(match (e.exec_code, e.wrong_state) {
                (Some(code), _) => RuntimeError::Exec { code, message: e.message },
                (None, Some(state)) => RuntimeError::WrongState { id: self.id.clone(), state, message: e.message },
                _ => RuntimeError::Shim { id: self.id.clone(), message: e.message },
            });
        }
        Ok((reply, stream))
    }

    fn unexpected(&self, reply: Reply) -> RuntimeError {
        RuntimeError::Shim { id: self.id.clone(), message: format!("unexpected reply {reply:?}") }
    }
}
