//! Removing and renaming containers: `DELETE /containers/{id}` (force),
//! the removal an `--rm` container gets at exit, rename and prune.
//!
//! Owns the order of a removal: the shim and its runtime state go first,
//! then the record, then the name; waiters on `removed` are woken last. A
//! removal that fails half-way leaves the container "dead", never a record
//! without its owner knowing. And moby's answers to overlapping removals: a
//! `DELETE` while another removal (or an `--rm` exit's) is under way is a
//! 409, one that finds the container gone once it may proceed is a
//! success, and one that comes later finds no container (404).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::error::ContainerError;
use super::names;
use super::record::{self, ContainerRecord};
use super::registry::{Container, Containers};
use super::state::Status;
use crate::unpoisoned::lock;

impl Containers {
    /// `DELETE /containers/{id}?force=&v=`; `asked` is the name or ID the
    /// request gave (Docker's conflict message repeats it).
    pub async fn remove(self: &Arc<Self>, c: &Arc<Container>, asked: &str, force: bool) -> Result<(), ContainerError> {
        let Some(_removing) = Removing::begin(c) else {
            return Err(ContainerError::Conflict(format!("removal of container {asked} is already in progress")));
        };
        let _op = c.op.lock().await;
        // Removed while this request waited for the container (the removal
        // of an `--rm` container that exited): nothing left to do.
        if c.life.borrow().removed {
            return Ok(());
        }
        let rec = c.record();
        // A restarting container counts as running (moby: IsRunning), but
        // has no process to kill: the pending restart sees the removal.
        if rec.state.status.is_running() {
            if !force {
                return Err(ContainerError::Conflict(format!(
                    "cannot remove container \"/{}\": container is {}: stop the container before removing or force remove",
                    rec.name,
                    rec.state.status.as_str()
                )));
            }
            {
                let mut r = lock(&c.rec);
                r.manually_stopped = true;
                r.clone()
            }
            .save(&self.root)?;
            if rec.state.status != Status::Restarting {
                self.stop_process(c, libc::SIGKILL, Some(Duration::from_secs(10))).await?;
            }
        }
        self.remove_locked(c).await
    }

    /// Removes a stopped container; the caller holds its `op` lock.
    pub(super) async fn remove_locked(&self, c: &Arc<Container>) -> Result<(), ContainerError> {
        // Unless the caller already marked it (a `DELETE`; not an `--rm`
        // exit's removal).
        let _removing = Removing::begin(c);
        self.set_status(c, Status::Removing)?;
        let shim = lock(&c.shim).take();
        let gone = match shim {
            Some(s) => s.delete().await,
            None => self.runtime.cleanup(&c.id).await,
        };
        if let Err(e) = gone {
            // A shim that is already gone leaves only what cleanup removes.
            tracing::debug!(id = %c.id, error = %e, "deleting the shim; cleaning up instead");
            if let Err(e) = self.runtime.cleanup(&c.id).await {
                self.set_status(c, Status::Dead)?;
                return Err(e.into());
            }
        }
        let dir = record::dir(&self.root, &c.id);
        if let Err(e) = std::fs::remove_dir_all(&dir)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            self.set_status(c, Status::Dead)?;
            return Err(ContainerError::io(format!("removing {}", dir.display()))(e));
        }
        self.remove_entry(&c.id);
        lock(&self.execs).retain(|_, e| e.container_id != c.id);
        c.life.send_modify(|l| {
            l.removed = true;
            l.running = false;
        });
        let rec = c.record();
        self.events.container("destroy", &c.id, rec.event_attributes());
        if rec.host_config.auto_remove == Some(true)
            && let Some(hook) = self.auto_removed.get()
        {
            hook(&rec);
        }
        Ok(())
    }

    /// `POST /containers/{id}/rename?name=`.
    pub fn rename(&self, c: &Arc<Container>, new: &str) -> Result<(), ContainerError> {
        let new = names::bare(new);
        names::validate(new).map_err(ContainerError::Invalid)?;
        let old = lock(&c.rec).name.clone();
        if old == new {
            return Err(ContainerError::Invalid("Renaming a container with the same name as its current name".into()));
        }
        self.rename_entry(&c.id, &old, new)?;
        let rec = {
            let mut r = lock(&c.rec);
            r.name = new.to_string();
            r.clone()
        };
        if let Err(e) = rec.save(&self.root) {
            let _ = self.rename_entry(&c.id, new, &old);
            lock(&c.rec).name = old;
            return Err(e.into());
        }
        let mut attrs = rec.event_attributes();
        attrs.insert("oldName".into(), format!("/{old}"));
        self.events.container("rename", &c.id, attrs);
        Ok(())
    }

    /// `POST /containers/prune`: every container that is not running, and
    /// the bytes their writable layers held (Docker's `SpaceReclaimed`: the
    /// `SizeRw` of each container it removed).
    pub async fn prune(self: &Arc<Self>, keep: impl Fn(&ContainerRecord) -> bool) -> (Vec<String>, i64) {
        let mut deleted = Vec::new();
        let mut reclaimed = 0u64;
        for c in self.all() {
            let rec = c.record();
            if rec.state.status.is_running() || keep(&rec) {
                continue;
            }
            // Measured before the removal takes the layer away.
            let size = super::size::writable_layer(&self.root, &c.id);
            match self.remove(&c, &c.id, false).await {
                Ok(()) => {
                    deleted.push(c.id.clone());
                    reclaimed = reclaimed.saturating_add(size);
                }
                Err(e) => {
                    tracing::warn!(id = %c.id, error = %e, "prune could not remove a container")
                }
            }
        }
        (deleted, i64::try_from(reclaimed).unwrap_or(i64::MAX))
    }
}

/// A removal under way, until dropped: the container's `removing` flag.
struct Removing<'a>(&'a Container);

impl<'a> Removing<'a> {
    /// None when another removal holds the flag already.
    fn begin(c: &'a Container) -> Option<Removing<'a>> {
        (!c.removing.swap(true, Ordering::SeqCst)).then_some(Removing(c))
    }
}

impl Drop for Removing<'_> {
    fn drop(&mut self) {
        self.0.removing.store(false, Ordering::SeqCst);
    }
}
