//! Stopping and signalling containers with Docker's semantics: stop
//! (StopSignal, then SIGKILL after the timeout), kill (names and numbers),
//! restart, pause and unpause (the cgroup freezer, through the shim).
//!
//! Owns when a container counts as stopped by the user (restart policies
//! then leave it alone). It must never remove anything: that is
//! `removal.rs`'s.

use std::sync::Arc;
use std::time::Duration;

use super::error::ContainerError;
use super::record::ContainerRecord;
use super::registry::{Container, Containers, Life};
use super::state::Status;
use crate::runtime::Shim;
use crate::unpoisoned::lock;

/// How long a SIGKILL's `kill` waits for the exit to be recorded.
const KILL_WAIT: Duration = Duration::from_secs(30);

impl Containers {
    /// Sends `signal`, waits up to `timeout` (None: forever) for the exit,
    /// then SIGKILL. Returns once the exit is recorded.
    pub(super) async fn stop_process(
        &self,
        c: &Container,
        signal: i32,
        timeout: Option<Duration>,
    ) -> Result<(), ContainerError> {
        let Some(shim) = c.shim() else { return Ok(()) };
        let mut life = c.life();
        if !life.borrow_and_update().running {
            return Ok(());
        }
        if lock(&c.rec).state.status == Status::Paused {
            shim.resume().await?;
            self.set_status(c, Status::Running)?;
        }
        self.signal(c, &shim, signal).await?;
        let exited = |l: &Life| !l.running || l.removed;
        let graceful = match timeout {
            Some(t) => tokio::time::timeout(t, life.wait_for(exited)).await.is_ok(),
            None => life.wait_for(exited).await.is_ok(),
        };
        if !graceful {
            self.signal(c, &shim, libc::SIGKILL).await?;
            if tokio::time::timeout(Duration::from_secs(30), life.wait_for(exited)).await.is_err() {
                return Err(ContainerError::Conflict(format!("container {} did not exit 30 s after SIGKILL", c.id)));
            }
        }
        Ok(())
    }

    pub(super) async fn signal(&self, c: &Container, shim: &Shim, signal: i32) -> Result<(), ContainerError> {
        shim.kill(signal).await?;
        let mut attrs = c.record().event_attributes();
        attrs.insert("signal".into(), signal.to_string());
        self.events.container("kill", &c.id, attrs);
        Ok(())
    }

    pub(super) fn set_status(&self, c: &Container, status: Status) -> Result<(), ContainerError> {
        let rec = {
            let mut r = lock(&c.rec);
            r.state.status = status;
            r.clone()
        };
        rec.save(&self.root)?;
        Ok(())
    }

    pub(super) fn stop_signal(rec: &ContainerRecord, asked: Option<&str>) -> Result<i32, ContainerError> {
        match asked.filter(|s| !s.is_empty()).or(rec.config.stop_signal.as_deref().filter(|s| !s.is_empty())) {
            Some(s) => docker_vocab::signal::parse(s).map_err(|e| ContainerError::Invalid(e.to_string())),
            None => Ok(libc::SIGTERM),
        }
    }

    pub(super) fn stop_timeout(rec: &ContainerRecord, asked: Option<i64>) -> Option<Duration> {
        let t = asked.or(rec.config.stop_timeout).unwrap_or(10);
        if t < 0 { None } else { Some(Duration::from_secs(t as u64)) }
    }

    /// `POST /containers/{id}/stop?t=&signal=`.
    pub async fn stop(&self, c: &Arc<Container>, signal: Option<&str>, t: Option<i64>) -> Result<(), ContainerError> {
        let _op = c.op.lock().await;
        let rec = c.record();
        let sig = Self::stop_signal(&rec, signal)?;
        match rec.state.status {
            Status::Restarting => {
                self.cancel_restart(c)?;
                self.events.container("stop", &c.id, rec.event_attributes());
                return Ok(());
            }
            s if !s.is_running() => {
                // An exit that the restart policy has not handled yet (it
                // waits for this operation's lock): Docker decides the restart
                // together with the exit, so a stop now must still prevent it.
                if s == Status::Exited && rec.host_config.restart_policy.as_ref().is_some_and(|p| p.name.is_some()) {
                    self.mark_user_stopped(c)?;
                }
                return Err(ContainerError::NotModified);
            }
            _ => {}
        }
        self.mark_user_stopped(c)?;
        self.stop_process(c, sig, Self::stop_timeout(&rec, t)).await?;
        self.events.container("stop", &c.id, c.record().event_attributes());
        Ok(())
    }

    /// Restart policies leave the container alone from now on (recorded).
    fn mark_user_stopped(&self, c: &Container) -> Result<(), ContainerError> {
        let rec = {
            let mut r = lock(&c.rec);
            r.manually_stopped = true;
            r.clone()
        };
        rec.save(&self.root)?;
        Ok(())
    }

    pub(super) fn cancel_restart(&self, c: &Container) -> Result<(), ContainerError> {
        let rec = {
            let mut r = lock(&c.rec);
            r.state.status = Status::Exited;
            r.manually_stopped = true;
            r.clone()
        };
        rec.save(&self.root)?;
        c.life.send_modify(|l| l.running = false);
        Ok(())
    }

    /// `POST /containers/{id}/kill?signal=`.
    pub async fn kill(&self, c: &Arc<Container>, signal: Option<&str>) -> Result<(), ContainerError> {
        let sig = match signal.filter(|s| !s.is_empty()) {
            Some(s) => docker_vocab::signal::parse(s).map_err(|e| ContainerError::Invalid(e.to_string()))?,
            None => libc::SIGKILL,
        };
        let rec = c.record();
        if rec.state.status == Status::Restarting && sig == libc::SIGKILL {
            return self.cancel_restart(c);
        }
        let shim =
            c.shim().filter(|_| matches!(rec.state.status, Status::Running | Status::Paused)).ok_or_else(|| {
                ContainerError::Conflict(format!("Cannot kill container: {0}: container {0} is not running", c.id))
            })?;
        if sig == libc::SIGKILL || Self::stop_signal(&rec, None).is_ok_and(|s| s == sig) {
            self.mark_user_stopped(c)?;
        }
        // Subscribed before the signal, so the exit cannot slip by unseen.
        let mut life = c.life();
        let exits = life.borrow_and_update().exits;
        self.signal(c, &shim, sig).await?;
        if sig != libc::SIGKILL {
            return Ok(());
        }
        if rec.state.status == Status::Paused {
            // A frozen task dies only once thawed.
            shim.resume().await?;
        }
        // Docker answers a SIGKILL once the container is dead and its exit
        // is recorded: an inspect right after sees the 137. (The exit count,
        // not `running`: a restart policy may set that again at once.)
        let dead = |l: &Life| l.exits > exits || l.removed;
        match tokio::time::timeout(KILL_WAIT, life.wait_for(dead)).await {
            Ok(_) => Ok(()),
            Err(_) => Err(ContainerError::Conflict(format!(
                "container {} did not exit {} s after SIGKILL",
                c.id,
                KILL_WAIT.as_secs()
            ))),
        }
    }

    /// `POST /containers/{id}/restart?t=&signal=`: stop (if running) and
    /// start, without marking the container as stopped by the user.
    pub async fn restart(
        self: &Arc<Self>,
        c: &Arc<Container>,
        signal: Option<&str>,
        t: Option<i64>,
    ) -> Result<(), ContainerError> {
        let _op = c.op.lock().await;
        let rec = c.record();
        if rec.state.status == Status::Restarting {
            self.cancel_restart(c)?;
        } else if rec.state.status.is_running() {
            let sig = Self::stop_signal(&rec, signal)?;
            self.stop_process(c, sig, Self::stop_timeout(&rec, t)).await?;
        }
        self.start_locked(c).await?;
        self.events.container("restart", &c.id, c.record().event_attributes());
        Ok(())
    }

    pub async fn pause(self: &Arc<Self>, c: &Arc<Container>) -> Result<(), ContainerError> {
        let _op = c.op.lock().await;
        let status = lock(&c.rec).state.status;
        match status {
            Status::Running => {}
            Status::Paused => {
                return Err(ContainerError::Conflict(format!("Container {} is already paused", c.id)));
            }
            _ => {
                return Err(ContainerError::Conflict(format!("Container {} is not running", c.id)));
            }
        }
        let shim = c.shim().ok_or_else(|| ContainerError::Conflict(format!("Container {} is not running", c.id)))?;
        shim.pause().await?;
        self.set_status(c, Status::Paused)?;
        self.stop_health_monitor(c);
        self.events.container("pause", &c.id, c.record().event_attributes());
        Ok(())
    }

    pub async fn unpause(self: &Arc<Self>, c: &Arc<Container>) -> Result<(), ContainerError> {
        let _op = c.op.lock().await;
        if lock(&c.rec).state.status != Status::Paused {
            return Err(ContainerError::Conflict(format!("Container {} is not paused", c.id)));
        }
        let shim = c.shim().ok_or_else(|| ContainerError::Conflict(format!("Container {} is not running", c.id)))?;
        shim.resume().await?;
        self.set_status(c, Status::Running)?;
        self.resume_health_monitor(c);
        self.events.container("unpause", &c.id, c.record().event_attributes());
        Ok(())
    }
}
