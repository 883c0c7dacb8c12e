//! The health-check monitor of a running container: one task per run that
//! waits the check's interval, runs the probe as an exec inside the
//! container (through the shim, as `docker exec` does: `exec_create`,
//! `exec_start` and `exec_die` events included), and moves the container's
//! `State.Health` with the result (`health_status: …` when it changes).
//!
//! Owns the monitor's life: started when a run starts (or an engine
//! re-adopts a running container), stopped when the container exits or is
//! paused, started again on unpause; never two per container. A result
//! that arrives after its monitor was stopped changes nothing. The rules a
//! result follows are `health`'s. It must never hold the record lock across
//! an await.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::Utc;
use tokio::io::AsyncReadExt;

use super::clock;
use super::health::{Check, Health, HealthMonitor, ProbeOutput, ProbeResult, timeout_message};
use super::registry::{Container, Containers};
use crate::runtime::frames::FrameDecoder;
use crate::runtime::{AttachStreams, ExecHandle, ExecRequest, RuntimeError};
use crate::unpoisoned::lock;

/// How long starting a probe may take before it counts as failed (the time
/// the exec takes to start is not the probe's timeout's).
const START_LIMIT: Duration = Duration::from_secs(30);

/// Tells one monitor from the next, so a late result of a stopped one is
/// dropped.
static GENERATION: AtomicU64 = AtomicU64::new(1);

impl Containers {
    /// The container's current run has just begun (its health was set to
    /// starting with the record, see `Health::on_run`): a fresh monitor
    /// probes it, if it has a check.
    pub(super) fn start_health_monitor(self: &Arc<Self>, c: &Arc<Container>) {
        if let Some(m) = lock(&c.health).take() {
            m.task.abort();
        }
        self.resume_health_monitor(c);
    }

    /// An engine re-adopted a running container: Docker starts its health
    /// over (starting, no failures, the log kept) and monitors it again.
    pub(super) fn restart_health_monitor(self: &Arc<Self>, c: &Arc<Container>) {
        {
            let mut r = lock(&c.rec);
            let previous = r.state.health.take();
            r.state.health = Health::on_run(&r.config, previous);
        }
        self.start_health_monitor(c);
    }

    /// Unpaused: the monitor runs again; the status stays as it is until
    /// the next probe.
    pub(super) fn resume_health_monitor(self: &Arc<Self>, c: &Arc<Container>) {
        let check = {
            let r = lock(&c.rec);
            if r.state.health.is_none() {
                return;
            }
            Check::of(&r.config)
        };
        let Some(check) = check else { return };
        let mut slot = lock(&c.health);
        if slot.is_some() {
            return;
        }
        let generation = GENERATION.fetch_add(1, Ordering::Relaxed);
        // The slot stays locked until the handle is in it: the task cannot
        // apply a result before it is the current monitor.
        let task = tokio::spawn(monitor(self.clone(), c.clone(), check, generation));
        *slot = Some(HealthMonitor { generation, task: task.abort_handle() });
    }

    /// The container exited or was paused: its monitor stops, and Docker
    /// says unhealthy from then on.
    pub(super) fn stop_health_monitor(&self, c: &Container) {
        let Some(m) = lock(&c.health).take() else { return };
        m.task.abort();
        if let Some(h) = lock(&c.rec).state.health.as_mut() {
            h.monitor_stopped();
        }
    }

    /// Applies a probe's result if its monitor is still the current one;
    /// false when it is not (the monitor then ends).
    fn apply_health(&self, c: &Container, generation: u64, check: &Check, result: ProbeResult) -> bool {
        let slot = lock(&c.health);
        if slot.as_ref().map(|m| m.generation) != Some(generation) {
            return false;
        }
        let (changed, attrs) = {
            let mut r = lock(&c.rec);
            let since_start = since(&r.state.started_at, &result.start);
            let h = r.state.health.get_or_insert_with(|| Health {
                status: super::health::HealthStatus::Starting,
                failing_streak: 0,
                log: Vec::new(),
            });
            let changed = h.record(result, check.retries, check.in_start_period(since_start));
            (changed, r.event_attributes())
        };
        drop(slot);
        if let Some(status) = changed {
            tracing::info!(id = %c.id, status = status.as_str(), "health status");
            self.events.container(&format!("health_status: {}", status.as_str()), &c.id, attrs);
        }
        true
    }

    /// One probe, start to end; a probe that cannot run is a result too
    /// (exit code -1 and why).
    async fn probe(&self, c: &Container, check: &Check) -> ProbeResult {
        let start = clock::now_string();
        let (exit_code, output) = match self.run_probe(c, check).await {
            Ok(done) => done,
            Err(why) => {
                tracing::warn!(id = %c.id, error = %why, "health check could not run");
                (-1, why)
            }
        };
        ProbeResult { start, end: clock::now_string(), exit_code, output }
    }

    async fn run_probe(&self, c: &Container, check: &Check) -> Result<(i64, String), String> {
        if check.argv.is_empty() {
            return Err(format!("healthcheck for container {} has no command", c.id));
        }
        let shim = c.shim().ok_or_else(|| format!("container {} is not running", c.id))?;
        let exec_id = super::names::new_id().map_err(|e| format!("reading /dev/urandom: {e}"))?;
        let mut attrs = c.record().event_attributes();
        attrs.insert("execID".into(), exec_id.clone());
        let line = check.argv.join(" ");
        self.events.container(&format!("exec_create: {line}"), &c.id, attrs.clone());
        self.events.container(&format!("exec_start: {line}"), &c.id, attrs.clone());
        // The container's user, working directory and environment, no
        // TTY, stdout and stderr captured together.
        let req = ExecRequest {
            cmd: check.argv.clone(),
            attach: AttachStreams { stdin: false, stdout: true, stderr: true },
            ..Default::default()
        };
        let (handle, mut io) = match tokio::time::timeout(START_LIMIT, shim.exec(&exec_id, req)).await {
            Ok(Ok(started)) => started,
            Ok(Err(RuntimeError::Exec { message, .. })) => return Err(message),
            Ok(Err(e)) => return Err(e.to_string()),
            Err(_) => return Err(format!("timed out starting health check for container {}", c.id)),
        };
        let mut output = ProbeOutput::default();
        let ran = tokio::time::timeout(check.timeout, async {
            let mut frames = FrameDecoder::default();
            let mut buf = vec![0u8; 16 * 1024];
            loop {
                match io.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => frames.push(&buf[..n]).iter().for_each(|(_, data)| output.push(data)),
                }
            }
            handle.wait_exit().await
        })
        .await;
        let die = |code: i64| {
            let mut attrs = attrs.clone();
            attrs.insert("exitCode".into(), code.to_string());
            self.events.container("exec_die", &c.id, attrs);
        };
        match ran {
            Ok(Ok(exit)) => {
                die(i64::from(exit.code));
                Ok((i64::from(exit.code), output.text()))
            }
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => {
                tracing::debug!(id = %c.id, "health check took too long: killed");
                if let Some(code) = kill_probe(&handle).await {
                    die(code);
                }
                Ok((-1, timeout_message(check.timeout, &output.text())))
            }
        }
    }
}

/// Kills a probe past its timeout and waits (a little) for it to go, so
/// dying probes do not pile up; its exit code if it went.
async fn kill_probe(handle: &ExecHandle) -> Option<i64> {
    if let Err(e) = handle.kill(libc::SIGKILL).await {
        tracing::debug!(error = %e, "killing a health check");
    }
    match tokio::time::timeout(Duration::from_secs(10), handle.wait_exit()).await {
        Ok(Ok(exit)) => Some(i64::from(exit.code)),
        _ => None,
    }
}

/// From the run's start to a probe's start (zero if either is unreadable).
fn since(started_at: &str, probe_start: &str) -> Duration {
    match (clock::parse(started_at), clock::parse(probe_start)) {
        (Some(a), Some(b)) => (b - a).to_std().unwrap_or(Duration::ZERO),
        _ => Duration::ZERO,
    }
}

async fn monitor(this: Arc<Containers>, c: Arc<Container>, check: Check, generation: u64) {
    loop {
        let wait = {
            let r = lock(&c.rec);
            let since_start = since(&r.state.started_at, &clock::format(Utc::now()));
            check.next_wait(since_start, r.state.health.as_ref().map(|h| h.status))
        };
        tokio::time::sleep(wait).await;
        if c.life.borrow().removed {
            return;
        }
        let result = this.probe(&c, &check).await;
        if !this.apply_health(&c, generation, &check, result) {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_since_the_start_reads_dockers_times() {
        let a = "2026-01-02T03:04:05.000000000Z";
        assert_eq!(since(a, "2026-01-02T03:04:07.500000000Z"), Duration::from_millis(2500));
        assert_eq!(since(a, "2026-01-02T03:04:04Z"), Duration::ZERO, "never negative");
        assert_eq!(since(clock::ZERO, "garbage"), Duration::ZERO);
    }
}
