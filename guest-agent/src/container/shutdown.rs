//! The engine going away with the machine: every running container gets
//! its stop signal and its stop timeout (Docker's default 10 s), in
//! parallel, then SIGKILL, so that the VM's power-off never cuts a
//! container's own shutdown short.
//!
//! Owns the "powering off" fact: while it holds, no exit is restarted by a
//! restart policy. It must never mark containers as stopped by the user:
//! `always` and `unless-stopped` containers come back on the next boot.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::Containers;
use crate::unpoisoned::lock;

/// Process-wide: the engine stops once, with the process.
static POWERING_OFF: AtomicBool = AtomicBool::new(false);

/// True once [`Containers::stop_all_for_shutdown`] has begun.
pub fn powering_off() -> bool {
    POWERING_OFF.load(Ordering::SeqCst)
}

impl Containers {
    /// Stops every running container, each within its own stop timeout but
    /// never longer than `limit` in all. Returns how many were running.
    pub async fn stop_all_for_shutdown(self: &Arc<Self>, limit: Duration) -> usize {
        POWERING_OFF.store(true, Ordering::SeqCst);
        let mut stops = tokio::task::JoinSet::new();
        let mut count = 0;
        for c in self.all() {
            if !c.life().borrow().running {
                continue;
            }
            count += 1;
            let rec = lock(&c.rec).clone();
            let Ok(signal) = Self::stop_signal(&rec, None) else { continue };
            let timeout = Self::stop_timeout(&rec, None).map(|t| t.min(limit));
            let this = self.clone();
            stops.spawn(async move {
                if let Err(e) = this.stop_process(&c, signal, timeout).await {
                    tracing::warn!(id = %c.id, error = %e, "stopping a container for the shutdown");
                }
            });
        }
        let _ = tokio::time::timeout(limit + Duration::from_secs(5), stops.join_all()).await;
        count
    }
}
