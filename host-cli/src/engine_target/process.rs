//! The process engine: `berth-agent` running directly on this Linux host,
//! started by berth on first use as a background daemon and reused:
//!
//! - socket `$XDG_RUNTIME_DIR/berth/docker.sock` (without XDG_RUNTIME_DIR:
//!   `/tmp/berth-$UID/docker.sock`), pid in `engine.pid` next to it, and
//!   `engine.lock` held while one berth starts it (two berths racing start
//!   one engine);
//! - state under `$XDG_DATA_HOME/berth/engine`, log in
//!   `$XDG_DATA_HOME/berth/engine.log`;
//! - the binary: `$BERTH_AGENT`, else `berth-agent` next to the berth
//!   binary, else on `PATH`.
//!
//! This module starts and stops that daemon; it never talks the Docker API
//! beyond `/_ping`.

use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::machine::{engine_client, lock, private};

/// How long a fresh engine gets to answer `/_ping`.
const START_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum ProcessEngineError {
    #[error("the process engine needs Linux")]
    NotLinux,
    #[error(
        "berth-agent not found (looked at $BERTH_AGENT, next to {exe} and on PATH); build it with `cargo build -p berth-agent`"
    )]
    AgentNotFound { exe: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the process engine ({agent}) did not answer on {socket} within {secs} s; its log ({log}) ends with:\n{tail}"
    )]
    NoAnswer { agent: String, socket: String, secs: u64, log: String, tail: String },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ProcessEngineError + '_ {
    move |source| ProcessEngineError::Io { path: path.to_path_buf(), source }
}

/// The runtime directory: socket, pid and lock.
pub fn runtime_dir() -> PathBuf {
    match std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        Some(d) => PathBuf::from(d).join("berth"),
        // SAFETY: getuid has no preconditions and cannot fail.
        None => PathBuf::from(format!("/tmp/berth-{}", unsafe { libc::getuid() })),
    }
}

/// The runtime directory made the user's alone: under XDG_RUNTIME_DIR
/// (the user's by the XDG rules) made 0700; the `/tmp` fallback also checked
/// to be no one else's before anything is put there.
fn prepare_runtime_dir(dir: &Path) -> std::io::Result<()> {
    if std::env::var_os("XDG_RUNTIME_DIR").is_some_and(|d| !d.is_empty()) {
        private::dir(dir)
    } else {
        private::owned_dir(dir)
    }
}

/// `$XDG_DATA_HOME/berth` (default `~/.local/share/berth`).
pub fn data_dir() -> PathBuf {
    crate::machine::layout::machines_dir().parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."))
}

pub fn socket_path() -> PathBuf {
    runtime_dir().join("docker.sock")
}

fn pid_path() -> PathBuf {
    runtime_dir().join("engine.pid")
}

pub fn log_path() -> PathBuf {
    data_dir().join("engine.log")
}

/// Whether the process engine answers now.
pub fn is_running() -> bool {
    let s = socket_path();
    s.exists() && engine_client::ping(&s)
}

/// The pid of the daemon berth started, if it still runs.
pub fn pid() -> Option<i32> {
    let pid: i32 = std::fs::read_to_string(pid_path()).ok()?.trim().parse().ok()?;
    // SAFETY: signal 0 only checks that the process exists.
    (pid > 0 && unsafe { libc::kill(pid, 0) } == 0).then_some(pid)
}

/// Finds `berth-agent`.
pub fn agent_binary() -> Result<PathBuf, ProcessEngineError> {
    if let Some(p) = std::env::var_os("BERTH_AGENT").map(PathBuf::from) {
        return Ok(p);
    }
    let exe = std::env::current_exe().unwrap_or_default();
    if let Some(beside) = exe.parent().map(|d| d.join("berth-agent"))
        && beside.is_file()
    {
        return Ok(beside);
    }
    std::env::var_os("PATH")
        .and_then(|paths| std::env::split_paths(&paths).map(|d| d.join("berth-agent")).find(|p| p.is_file()))
        .ok_or(ProcessEngineError::AgentNotFound { exe: exe.display().to_string() })
}

/// Returns the engine's socket, starting the daemon if nothing answers.
pub fn ensure_running() -> Result<PathBuf, ProcessEngineError> {
    if !cfg!(target_os = "linux") {
        return Err(ProcessEngineError::NotLinux);
    }
    let socket = socket_path();
    if is_running() {
        return Ok(socket);
    }
    let dir = runtime_dir();
    prepare_runtime_dir(&dir).map_err(io(&dir))?;
    let lock_path = dir.join("engine.lock");
    // Wait for a concurrent starter, then look again.
    let _guard = loop {
        match lock::try_lock(&lock_path).map_err(io(&lock_path))? {
            Some(g) => break g,
            None => std::thread::sleep(Duration::from_millis(100)),
        }
    };
    if is_running() {
        return Ok(socket);
    }
    let agent = agent_binary()?;
    let root = data_dir().join("engine");
    std::fs::create_dir_all(&root).map_err(io(&root))?;
    let log = log_path();
    let log_file = File::options().create(true).append(true).open(&log).map_err(io(&log))?;
    let log_err = log_file.try_clone().map_err(io(&log))?;
    // A stale socket from a dead engine would make the bind fail.
    if socket.exists() {
        std::fs::remove_file(&socket).map_err(io(&socket))?;
    }
    eprintln!("berth: starting the process engine ({})", socket.display());
    let mut cmd = Command::new(&agent);
    cmd.arg("--listen")
        .arg(format!("unix://{}", socket.display()))
        .arg("--root")
        .arg(&root)
        .stdin(Stdio::null())
        .stdout(log_file)
        .stderr(log_err);
    // `off`: networks as records only, for suites that run in the host's
    // network namespace and must not add bridges to it.
    if let Ok(v) = std::env::var("BERTH_NETWORK_PLUMBING") {
        cmd.arg("--network-plumbing").arg(v);
    }
    // SAFETY: setsid is async-signal-safe; it detaches the daemon from our
    // session so that a Ctrl-C here does not stop it.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    let child = cmd.spawn().map_err(io(&agent))?;
    let pid_file = pid_path();
    std::fs::write(&pid_file, child.id().to_string()).map_err(io(&pid_file))?;
    let started = Instant::now();
    while started.elapsed() < START_TIMEOUT {
        if is_running() {
            return Ok(socket);
        }
        if pid().is_none() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(ProcessEngineError::NoAnswer {
        agent: agent.display().to_string(),
        socket: socket.display().to_string(),
        secs: START_TIMEOUT.as_secs(),
        log: log.display().to_string(),
        tail: last_lines(&log, 10),
    })
}

/// Stops the daemon berth started (SIGTERM, then SIGKILL after 10 s).
/// Returns false if none was running.
pub fn stop() -> Result<bool, ProcessEngineError> {
    let Some(pid) = pid() else { return Ok(false) };
    // SAFETY: signalling a pid we recorded when we started it.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let started = Instant::now();
    while pid_alive(pid) {
        if started.elapsed() > Duration::from_secs(10) {
            // SAFETY: as above.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = std::fs::remove_file(pid_path());
    Ok(true)
}

fn pid_alive(pid: i32) -> bool {
    // Reap it if it was our child (it is not, normally: setsid + we exit).
    // SAFETY: waitpid with WNOHANG on a pid; no memory involved.
    unsafe { libc::waitpid(pid, std::ptr::null_mut(), libc::WNOHANG) };
    // SAFETY: signal 0 only checks existence.
    unsafe { libc::kill(pid, 0) == 0 }
}

fn last_lines(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
