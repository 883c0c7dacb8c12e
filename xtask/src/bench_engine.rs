//! What the API-level benchmarks share: berth's engine as a daemon on this
//! host (a release build, process mode), the docker CLI that drives it, and
//! podman with the only flags that work on this host (DESIGN.md).
//!
//! Owns starting and stopping those contenders; it must never time
//! anything (each bench owns what it measures).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::error::{Error, IoContext, Result};
use crate::{paths, process};

/// Podman's flags on a host with cgroup v1 controllers and a 20000 hard
/// limit on open files (DESIGN.md, "This machine").
pub const PODMAN_FLAGS: &[&str] = &["--runtime", "runc", "--cgroup-manager", "cgroupfs"];

/// podman with its own storage under `root`, so nothing on the host is
/// touched, and `args` after the global flags.
pub fn podman(root: &Path, args: &[&str]) -> Command {
    let mut c = Command::new("podman");
    c.args(PODMAN_FLAGS).arg("--root").arg(root.join("storage")).arg("--runroot").arg(root.join("run")).args(args);
    c
}

pub fn missing(what: &str, pkg: &str) -> Error {
    Error::Missing { what: what.into(), fix: format!("apt-get install {pkg}") }
}

/// `tool` on PATH, or the package that has it.
pub fn require(tool: &str, pkg: &str) -> Result<()> {
    let found = std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()));
    if found { Ok(()) } else { Err(missing(tool, pkg)) }
}

pub fn docker_cli() -> Result<PathBuf> {
    ["/usr/local/bin/docker", "/usr/bin/docker"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .ok_or_else(|| missing("the docker CLI", "docker.io"))
}

/// The engine as users run it: a release build.
pub fn build_agent() -> Result<PathBuf> {
    process::run(
        Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .current_dir(paths::workspace_root())
            .args(["build", "--release", "-p", "berth-agent"]),
    )?;
    Ok(paths::target_dir().join("release/berth-agent"))
}

/// A running engine; stopped (SIGTERM, then SIGKILL) when dropped.
pub struct Engine {
    child: Child,
    pub sock: PathBuf,
    pub log: PathBuf,
}

impl Engine {
    /// Starts the engine with its socket, root and log under `dir` and
    /// waits until it listens.
    pub fn start(agent: &Path, dir: &Path) -> Result<Engine> {
        std::fs::create_dir_all(dir).at(dir)?;
        let sock = dir.join("docker.sock");
        let log = dir.join("engine.log");
        let out = std::fs::File::create(&log).at(&log)?;
        let child = Command::new(agent)
            .arg("--listen")
            .arg(format!("unix://{}", sock.display()))
            .arg("--root")
            // Short: the runtime's per-container socket paths hang off it
            // and must fit in a sockaddr_un (108 bytes).
            .arg(dir.join("r"))
            .args(["--network-plumbing", "off"])
            .env("BERTH_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(out)
            .spawn()
            .at(agent)?;
        let engine = Engine { child, sock, log };
        if !wait_until(Duration::from_secs(30), || std::os::unix::net::UnixStream::connect(&engine.sock).is_ok()) {
            return Err(Error::Invalid("the engine did not listen within 30 s".into()));
        }
        Ok(engine)
    }

    /// The docker CLI pointed at this engine, its config under `config`.
    pub fn docker(&self, docker: &Path, config: &Path, args: &[&str]) -> Command {
        let mut c = Command::new(docker);
        c.args(args).env("DOCKER_HOST", format!("unix://{}", self.sock.display())).env("DOCKER_CONFIG", config);
        c
    }

    /// The last lines of the engine's log, for a failed measurement.
    pub fn print_log_tail(&self) {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(20).collect();
        eprintln!("engine log (last lines):");
        for l in tail.iter().rev() {
            eprintln!("  {l}");
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        // SIGTERM: the engine removes its socket on the way out.
        let _ = Command::new("kill").arg(self.child.id().to_string()).status();
        let _ = wait_until(Duration::from_secs(10), || matches!(self.child.try_wait(), Ok(Some(_))));
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `ready` until it holds (true) or `limit` has passed (false).
fn wait_until(limit: Duration, mut ready: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while !ready() {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

/// Wall seconds of `cmd`, which must succeed.
pub fn timed(cmd: &mut Command) -> Result<f64> {
    let t = Instant::now();
    process::output(cmd)?;
    Ok(t.elapsed().as_secs_f64())
}
