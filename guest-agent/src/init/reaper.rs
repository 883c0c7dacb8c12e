//! PID 1 inherits every orphan in the guest and must collect its exit
//! status, or zombies pile up. This task drives the reaping on SIGCHLD;
//! [`crate::children`] owns `waitpid(-1)` and hands statuses that someone
//! asked for to them (so no `tokio::process` anywhere in the agent: it would
//! race the reaper for statuses).

use tokio::signal::unix::{SignalKind, signal};

pub async fn reap_forever() {
    let Ok(mut sigchld) = signal(SignalKind::child()) else {
        println!("berth-agent: cannot watch SIGCHLD; orphans will not be reaped");
        return;
    };
    loop {
        crate::children::reap_all();
        if sigchld.recv().await.is_none() {
            return;
        }
    }
}
