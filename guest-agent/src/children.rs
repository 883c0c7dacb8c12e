//! Who gets a child's exit status when PID 1 reaps everything.
//!
//! As PID 1 the agent must collect every orphan with `waitpid(-1)`, which
//! would also swallow the status of a process the agent started on purpose
//! (a shell in the VM) and wants to report. This module owns both sides: a
//! caller spawns through [`spawn_watched`] and gets a receiver for the
//! status; the reaper calls [`reap_all`] and hands each status to whoever
//! asked for that pid, discarding the rest.
//!
//! One lock covers "fork and register" and "wait and look up", so a child
//! that exits at once can never be reaped before its watcher is registered.
//! Nothing else in the agent may call `waitpid` on "any child".

use std::collections::HashMap;
use std::process::Command;
use std::sync::{Mutex, MutexGuard};

use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use tokio::sync::oneshot;

static WATCHERS: Mutex<Option<HashMap<i32, oneshot::Sender<i32>>>> = Mutex::new(None);

fn watchers() -> MutexGuard<'static, Option<HashMap<i32, oneshot::Sender<i32>>>> {
    // A poisoned lock only means a panic elsewhere while holding it; the map
    // itself is still consistent (inserts and removes are single calls).
    WATCHERS.lock().unwrap_or_else(|p| p.into_inner())
}

/// Spawns `cmd` and returns its pid and a receiver for its exit code as a
/// shell reports it (128 + signal for a signalled child).
pub fn spawn_watched(cmd: &mut Command) -> std::io::Result<(u32, oneshot::Receiver<i32>)> {
    let mut guard = watchers();
    let child = cmd.spawn()?;
    let pid = child.id();
    // The reaper owns the status from here on; dropping `Child` does not wait.
    drop(child);
    let (tx, rx) = oneshot::channel();
    guard.get_or_insert_with(HashMap::new).insert(pid as i32, tx);
    Ok((pid, rx))
}

/// Collects every child that has exited, without blocking, and hands the
/// statuses that someone asked for to them.
pub fn reap_all() {
    reap(Pid::from_raw(-1));
}

/// Collects one child if it has exited: tests stand in for the reaper
/// with this, for the pids they started.
#[cfg(test)]
pub fn reap_pid(pid: u32) {
    reap(Pid::from_raw(pid as i32));
}

/// `reap_all` for one `target` (-1: any child); tests use a single pid so
/// they never steal the children of other tests in the same process.
fn reap(target: Pid) {
    let mut guard = watchers();
    loop {
        let status = match waitpid(target, Some(WaitPidFlag::WNOHANG | WaitPidFlag::__WALL)) {
            Ok(WaitStatus::StillAlive) | Err(_) => return,
            Ok(s) => s,
        };
        let (pid, code) = match status {
            WaitStatus::Exited(pid, code) => (pid, code),
            WaitStatus::Signaled(pid, sig, _) => (pid, 128 + sig as i32),
            _ => continue,
        };
        if let Some(tx) = guard.as_mut().and_then(|m| m.remove(&pid.as_raw())) {
            let _ = tx.send(code);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_watched_child_gets_its_status_even_when_it_exits_at_once() {
        let (pa, exited) = spawn_watched(Command::new("sh").args(["-c", "exit 7"])).unwrap();
        let (pb, killed) = spawn_watched(Command::new("sh").args(["-c", "kill -9 $$"])).unwrap();
        // Poll like the reaper does on SIGCHLD (one pid at a time: see `reap`).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let mut exited = exited;
        let mut killed = killed;
        let (mut a, mut b) = (None, None);
        while (a.is_none() || b.is_none()) && std::time::Instant::now() < deadline {
            reap(Pid::from_raw(pa as i32));
            reap(Pid::from_raw(pb as i32));
            if a.is_none() {
                a = exited.try_recv().ok();
            }
            if b.is_none() {
                b = killed.try_recv().ok();
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert_eq!(a, Some(7));
        assert_eq!(b, Some(128 + 9));
    }
}
