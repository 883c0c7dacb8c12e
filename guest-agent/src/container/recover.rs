//! Opening the containers of an earlier engine: load the records, find
//! each container's shim again (shims outlive the engine), settle what
//! happened while no engine watched, and bring back `always` and
//! `unless-stopped` containers.
//!
//! Owns engine-start reconciliation; it must never start a container the
//! user stopped (except `always`, as Docker does), nor drop a record it
//! cannot reconcile (it is marked exited with the reason instead).

use std::path::Path;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use super::error::ContainerError;
use super::record::ContainerRecord;
use super::registry::{Container, Containers};
use super::restart::Policy;
use super::state::Status;
use crate::image::store::Store;
use crate::runtime::{ContainerState, ExitInfo, Runtime};
use crate::unpoisoned::lock;

impl Containers {
    /// Loads every record under `<engine root>/containers`. Nothing is
    /// reconciled yet: [`Containers::recover`] does that once async.
    pub fn open(engine_root: &Path, images: Arc<Store>) -> Result<Arc<Containers>, ContainerError> {
        let root = engine_root.join("containers");
        std::fs::create_dir_all(&root).map_err(ContainerError::io(format!("creating {}", root.display())))?;
        let state_root = super::runtime_root::state_root(engine_root)
            .map_err(ContainerError::io(format!("preparing the runtime's state under {}", engine_root.display())))?;
        let runtime = Runtime::new(state_root)?;
        let containers = Arc::new(Containers::new(root.clone(), images.clone(), runtime));
        images.set_users(Arc::new(super::registry::ImageUsersHook(Arc::downgrade(&containers))));
        for rec in ContainerRecord::load_all(&root)? {
            let id = rec.id.clone();
            if let Err(e) = containers.insert(Container::new(rec)) {
                tracing::warn!(%id, error = %e, "skipping a container record");
            }
        }
        Ok(containers)
    }

    /// Reattaches to live shims, records exits that happened while the
    /// engine was down, and restarts containers whose policy says so.
    pub async fn recover(self: &Arc<Self>) {
        self.collect_orphans().await;
        for c in self.all() {
            if let Err(e) = self.recover_one(&c).await {
                tracing::warn!(id = %c.id, error = %e, "recovering a container");
            }
        }
    }

    /// Runtime state with no container record (an engine that died between
    /// creating a shim and saving the record, or mid-removal): its shim is
    /// stopped and its mounts, cgroups and files removed, so nothing leaks.
    async fn collect_orphans(&self) {
        let ids = match self.runtime.list_ids() {
            Ok(ids) => ids,
            Err(e) => {
                tracing::warn!(error = %e, "listing the runtime's containers");
                return;
            }
        };
        for id in ids.into_iter().filter(|id| self.get(id).is_err()) {
            tracing::info!(%id, "removing runtime state that no container owns");
            if let Ok(Some(shim)) = self.runtime.reconnect(&id).await {
                let _ = shim.kill(libc::SIGKILL).await;
                let _ = tokio::time::timeout(std::time::Duration::from_secs(10), shim.wait_exit()).await;
                if let Err(e) = shim.delete().await {
                    tracing::warn!(%id, error = %e, "deleting an orphaned shim");
                }
            }
            if let Err(e) = self.runtime.cleanup(&id).await {
                tracing::warn!(%id, error = %e, "cleaning orphaned runtime state");
            }
        }
    }

    async fn recover_one(self: &Arc<Self>, c: &Arc<Container>) -> Result<(), ContainerError> {
        let rec = c.record();
        let shim = match self.runtime.reconnect(&c.id).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(id = %c.id, error = %e, "cannot reach the container's shim");
                None
            }
        };
        let was_running = matches!(rec.state.status, Status::Running | Status::Paused | Status::Restarting);
        match shim {
            Some(shim) => {
                *lock(&c.shim) = Some(shim.clone());
                match shim.state().await? {
                    ContainerState::Running { .. } | ContainerState::Paused { .. } if was_running => {
                        let paused = matches!(shim.state().await?, ContainerState::Paused { .. });
                        {
                            let mut r = lock(&c.rec);
                            r.state.status = if paused { Status::Paused } else { Status::Running };
                        }
                        let mut run = 0;
                        c.life.send_modify(|l| {
                            l.running = true;
                            l.starts += 1;
                            run = l.starts;
                        });
                        tracing::info!(id = %c.id, "reattached to a running container");
                        if !paused {
                            self.restart_health_monitor(c);
                        }
                        self.spawn_monitor(c.clone(), shim, Instant::now(), run);
                        return Ok(());
                    }
                    ContainerState::Exited(info) if was_running => {
                        self.exited_while_away(c, &info).await?;
                    }
                    _ => {}
                }
            }
            None => {
                if was_running {
                    let info = self.runtime.recorded_exit(&c.id).unwrap_or(ExitInfo {
                        code: 255,
                        oom_killed: false,
                        error: Some("the container's shim was gone when the engine restarted".into()),
                        started_at: None,
                        finished_at: SystemTime::now(),
                    });
                    self.exited_while_away(c, &info).await?;
                }
                if let Err(e) = self.runtime.cleanup(&c.id).await {
                    tracing::debug!(id = %c.id, error = %e, "cleaning a dead shim's leftovers");
                }
            }
        }
        let rec = c.record();
        let policy = Policy::from_host_config(rec.host_config.restart_policy.as_ref());
        if rec.state.status == Status::Exited && policy.restart_on_engine_start(rec.manually_stopped) {
            tracing::info!(id = %c.id, "restarting per policy after an engine restart");
            self.start(c).await?;
        }
        Ok(())
    }

    /// The container ended while no engine watched: record it and apply
    /// `--rm` (restart policies are handled by the caller).
    async fn exited_while_away(self: &Arc<Self>, c: &Arc<Container>, info: &ExitInfo) -> Result<(), ContainerError> {
        let run = c.life.borrow().starts;
        // `after_exit` records the exit and removes an `--rm` container; its
        // restart path would race the engine-start restart, so mark the
        // container as not restartable for that one decision.
        let policy_off = {
            let mut r = lock(&c.rec);
            let saved = r.manually_stopped;
            r.manually_stopped = true;
            saved
        };
        self.after_exit(c, info, std::time::Duration::ZERO, run).await;
        if !c.life.borrow().removed {
            lock(&c.rec).manually_stopped = policy_off;
            c.record().save(&self.root)?;
        }
        Ok(())
    }
}
