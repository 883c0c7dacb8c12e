//! Running the host tools the tasks drive (make, apt-get, qemu, cargo) with
//! errors that name the command and what it said.

use std::process::{Command, Stdio};

use crate::error::{Error, Result};

fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

/// Runs `cmd` with inherited stdio; fails on a non-zero exit.
pub fn run(cmd: &mut Command) -> Result<()> {
    let status = cmd.status().map_err(|e| Error::Command { command: describe(cmd), detail: e.to_string() })?;
    if status.success() { Ok(()) } else { Err(Error::Command { command: describe(cmd), detail: status.to_string() }) }
}

/// Runs `cmd` quietly and returns its stdout; on failure the error carries
/// the last lines of stderr.
pub fn output(cmd: &mut Command) -> Result<String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| Error::Command { command: describe(cmd), detail: e.to_string() })?;
    if out.status.success() {
        return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let tail: Vec<&str> = stderr.lines().rev().take(5).collect::<Vec<_>>().into_iter().rev().collect();
    Err(Error::Command { command: describe(cmd), detail: format!("{}: {}", out.status, tail.join(" | ")) })
}
