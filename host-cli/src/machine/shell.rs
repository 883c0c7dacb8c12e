//! `berth machine shell`: a shell (or one command) in the machine itself,
//! outside every container, through the engine's `/berth/v1/shell`.
//!
//! Owns the client side of that stream: the upgrade request, the local
//! terminal's raw mode (always restored), forwarding window-size changes,
//! and turning the remote exit code into ours. It never touches the VM
//! other than through the engine's API.

use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

use berth_http::{Client, Endpoint, Request};
use nix::sys::termios::{self, SetArg, Termios};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::MachineError;

/// The reply header that names the session (for resizes and the exit code).
const SESSION_HEADER: &str = "berth-shell-id";
/// The engine's replies about a shell are small JSON documents.
const MAX_BODY: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ShellError {
    #[error("cannot reach the machine's engine at {path}: {source}")]
    Connect {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the engine refused the shell ({status}): {message}")]
    Refused { status: u16, message: String },
    #[error("shell stream: {0}")]
    Stream(#[source] std::io::Error),
    #[error("shell request: {0}")]
    Http(#[source] berth_http::Error),
    #[error("cannot set up the terminal: {0}")]
    Terminal(#[source] nix::Error),
}

impl From<ShellError> for MachineError {
    fn from(e: ShellError) -> Self {
        MachineError::Tool(e.to_string())
    }
}

/// Runs `cmd` (empty: a login shell) in the machine behind `socket`;
/// returns its exit code.
pub fn run(socket: &Path, cmd: &[String]) -> Result<i32, ShellError> {
    let stdin = std::io::stdin();
    let stdout = std::io::stdout();
    let tty = termios::tcgetattr(stdin.as_fd()).is_ok() && termios::tcgetattr(stdout.as_fd()).is_ok();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(ShellError::Stream)?;
    let result = runtime.block_on(session(socket, cmd, tty));
    // The stdin reader may still sit in a blocking read of our terminal;
    // waiting for it would hang until the next key press.
    runtime.shutdown_background();
    result
}

async fn session(socket: &Path, cmd: &[String], tty: bool) -> Result<i32, ShellError> {
    let (height, width) = if tty { window_size().unwrap_or((24, 80)) } else { (0, 0) };
    let term = std::env::var("TERM").unwrap_or_else(|_| "xterm".into());
    let body = serde_json::json!({
        "Cmd": cmd,
        "Tty": tty,
        "Env": [format!("TERM={term}")],
        "Height": height,
        "Width": width,
    });
    let engine = Client::new(Endpoint::Unix(socket.to_path_buf()));
    let reply =
        engine.stream(Request::post("/berth/v1/shell").upgrade("tcp").json(&body)).await.map_err(|e| match e {
            berth_http::Error::Connect { source, .. } => ShellError::Connect { path: socket.to_path_buf(), source },
            other => ShellError::Http(other),
        })?;
    if reply.status() != 101 {
        let status = reply.status();
        let rest = match tokio::time::timeout(Duration::from_secs(2), reply.into_reply(MAX_BODY)).await {
            Ok(Ok(r)) => r.body.to_vec(),
            Ok(Err(_)) | Err(_) => Vec::new(),
        };
        return Err(ShellError::Refused { status, message: error_message(&rest) });
    }
    let id = reply.header(SESSION_HEADER).unwrap_or_default().to_string();
    let stream = reply.upgrade().await.map_err(ShellError::Http)?;

    let _raw = if tty { Some(RawMode::enter()?) } else { None };
    let (mut from_vm, mut to_vm) = tokio::io::split(stream);
    let stdin_task = tokio::spawn(async move {
        let mut stdin = tokio::io::stdin();
        let mut buf = vec![0u8; 8192];
        loop {
            match stdin.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if to_vm.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                }
            }
        }
        // Our stdin ended: the remote command sees end of input.
        let _ = to_vm.shutdown().await;
    });
    let resize_task = tty.then(|| tokio::spawn(forward_resizes(engine.clone(), id.clone())));

    let mut stdout = tokio::io::stdout();
    let mut out = vec![0u8; 16 * 1024];
    loop {
        let n = from_vm.read(&mut out).await.map_err(ShellError::Stream)?;
        if n == 0 {
            break;
        }
        stdout.write_all(&out[..n]).await.map_err(ShellError::Stream)?;
        stdout.flush().await.map_err(ShellError::Stream)?;
    }
    if let Some(t) = resize_task {
        t.abort();
    }
    stdin_task.abort();
    exit_code(&engine, &id).await
}

fn error_message(body: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["message"].as_str().map(String::from))
        .unwrap_or_else(|| String::from_utf8_lossy(body).trim().to_string())
}

async fn exit_code(engine: &Client, id: &str) -> Result<i32, ShellError> {
    let reply = engine
        .clone()
        .timeout(Duration::from_secs(10))
        .send(Request::get(format!("/berth/v1/shell/{id}/json")), MAX_BODY)
        .await
        .map_err(ShellError::Http)?;
    let v: serde_json::Value = serde_json::from_slice(&reply.body).unwrap_or_default();
    match v["ExitCode"].as_i64() {
        Some(code) => Ok(code as i32),
        None => Err(ShellError::Refused { status: reply.status, message: "the shell's exit code is unknown".into() }),
    }
}

async fn forward_resizes(engine: Client, id: String) {
    let Ok(mut winch) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change()) else {
        return;
    };
    let engine = engine.timeout(Duration::from_secs(5));
    while winch.recv().await.is_some() {
        let Some((h, w)) = window_size() else {
            continue;
        };
        let _ = engine.send(Request::post(format!("/berth/v1/shell/{id}/resize?h={h}&w={w}")), MAX_BODY).await;
    }
}

fn window_size() -> Option<(u16, u16)> {
    let mut ws = libc::winsize { ws_row: 0, ws_col: 0, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: TIOCGWINSZ writes one `winsize` through the pointer, which is
    // valid for the call.
    let rc = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut ws) };
    (rc == 0 && ws.ws_row > 0 && ws.ws_col > 0).then_some((ws.ws_row, ws.ws_col))
}

/// The local terminal in raw mode for as long as this lives: keys go to
/// the remote shell as typed (Ctrl-C included), and the old mode comes back
/// however the session ends.
struct RawMode {
    saved: Termios,
}

impl RawMode {
    fn enter() -> Result<Self, ShellError> {
        let stdin = std::io::stdin();
        let saved = termios::tcgetattr(stdin.as_fd()).map_err(ShellError::Terminal)?;
        let mut raw = saved.clone();
        termios::cfmakeraw(&mut raw);
        termios::tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &raw).map_err(ShellError::Terminal)?;
        Ok(RawMode { saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(std::io::stdin().as_fd(), SetArg::TCSANOW, &self.saved);
    }
}
