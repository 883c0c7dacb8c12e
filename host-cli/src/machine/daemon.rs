//! Starting a helper daemon of the machine process (virtiofsd, passt):
//! it dies with the machine process (parent-death signal), and it is ready
//! once its UNIX socket exists. Owns only that start; what each daemon is
//! run with, and what becomes of it, is its caller's.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a daemon gets to create its socket.
const SOCKET_WAIT: Duration = Duration::from_secs(10);

/// Spawns `cmd` with no input or output and its standard error appended
/// to `log`, and waits until `socket` exists. On failure the daemon is
/// gone and the error says why, with the last lines of its log.
pub fn start(mut cmd: Command, socket: &Path, log: &Path) -> Result<Child, String> {
    let _ = std::fs::remove_file(socket);
    let log_file = super::private::open(log, std::fs::OpenOptions::new().create(true).append(true))
        .map_err(|e| format!("{}: {e}", log.display()))?;
    cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(log_file);
    // SAFETY: prctl only sets this (child) process's parent-death signal;
    // nothing is allocated between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let program = cmd.get_program().to_string_lossy().into_owned();
    let mut child = cmd.spawn().map_err(|e| format!("cannot run {program}: {e}"))?;
    let deadline = Instant::now() + SOCKET_WAIT;
    while !socket.exists() {
        let ended = child.try_wait().ok().flatten();
        if ended.is_some() || Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            let why = ended.map_or_else(|| "made no socket in 10 s".to_string(), |s| format!("exited ({s})"));
            let said = std::fs::read_to_string(log).unwrap_or_default();
            let tail: Vec<&str> = said.lines().rev().take(3).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            return Err(format!("{why}: {}", tail.join(" | ")));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(child)
}
