//! PID 1 inherits every orphan in the guest and must collect its exit
//! status, or zombies pile up. This task owns `waitpid(-1)` in the guest:
//! nothing else in the agent may wait for "any child" (so no
//! `tokio::process`, which would race it for statuses).

use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use tokio::signal::unix::{SignalKind, signal};

pub async fn reap_forever() {
    let Ok(mut sigchld) = signal(SignalKind::child()) else {
        println!("berth-agent: cannot watch SIGCHLD; orphans will not be reaped");
        return;
    };
    loop {
        reap_all();
        if sigchld.recv().await.is_none() {
            return;
        }
    }
}

/// Collects every child that has exited, without blocking.
fn reap_all() {
    loop {
        match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG | WaitPidFlag::__WALL)) {
            Ok(WaitStatus::StillAlive) | Err(_) => return,
            Ok(_) => {}
        }
    }
}
