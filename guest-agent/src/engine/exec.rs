//! Execs as the engine serves them: create in a running container, start
//! (detached, or attached once the client's connection is taken over),
//! resize, inspect.
//!
//! Owns the order of an attached start (every refusal is decided before the
//! connection is hijacked, the process starts only after); exec semantics
//! are `crate::container::exec`'s. It must never speak HTTP.

use std::sync::Arc;
use std::time::Duration;

use bollard_stubs::models::{ExecConfig, ExecInspectResponse, ExecStartConfig};

use super::containers::terminal_size;
use super::{Engine, EngineError};
use crate::container::attach_stream::{AttachStream, Framing};
use crate::container::error::ContainerError;
use crate::container::exec::Exec;
use crate::runtime::AttachIo;

/// A start that passed its checks: what the connection will carry.
pub struct ExecStart {
    exec: Arc<Exec>,
    /// The client's stream is raw (the start request's `Tty`, as moby
    /// frames it), else multiplexed.
    pub tty: bool,
    pub stdin: bool,
    pub detach: bool,
    size: Option<(u16, u16)>,
    framing: Framing,
}

/// An attached exec's streams, and a future that resolves once its exit code
/// is recorded (the docker CLI inspects the exec as soon as the stream ends)
/// or the client detached.
pub struct ExecIo {
    pub io: AttachStream<AttachIo>,
    pub recorded: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>,
}

impl Engine {
    /// `POST /containers/{id}/exec`: the new exec's id.
    #[tracing::instrument(skip(self, config))]
    pub fn create_exec(&self, container: &str, config: ExecConfig) -> Result<String, EngineError> {
        let c = self.container(container)?;
        Ok(self.containers.create_exec(&c, config)?)
    }

    /// `POST /exec/{id}/start`, first half: everything that would fail the
    /// request is decided here, so it is answered as HTTP.
    pub fn plan_exec_start(&self, id: &str, cfg: &ExecStartConfig) -> Result<ExecStart, EngineError> {
        let exec = self.containers.exec(id)?;
        let detach = cfg.detach.unwrap_or(false);
        let tty = cfg.tty.unwrap_or(false);
        let framing = Framing::for_exec(exec.config.tty.unwrap_or(false), tty);
        // A start's console size counts only with its `Tty` (the create's
        // is the fallback).
        let size = cfg.console_size.as_ref().filter(|v| tty && v.len() == 2).map(|v| (v[1] as u16, v[0] as u16));
        let stdin = exec.config.attach_stdin.unwrap_or(false);
        if !detach {
            self.containers.check_exec_startable(&exec)?;
        }
        Ok(ExecStart { exec, tty, stdin, detach, size, framing })
    }

    /// A detached start: the process runs, nothing is attached.
    pub async fn start_exec_detached(&self, plan: &ExecStart) -> Result<(), EngineError> {
        self.containers.start_exec(&plan.exec, true, plan.size).await?;
        Ok(())
    }

    /// An attached start, once the client's connection is ours. A command
    /// that cannot run comes back as `CannotExec` (its 126/127 is in the
    /// exec's inspect).
    #[tracing::instrument(skip_all, fields(exec = %plan.exec.id))]
    pub async fn run_exec_attached(&self, plan: &ExecStart) -> Result<ExecIo, ContainerError> {
        match self.containers.start_exec(&plan.exec, false, plan.size).await? {
            Some(io) => {
                let mut io = AttachStream::new(io, plan.framing);
                let cfg = &plan.exec.config;
                // Detach keys are watched on a TTY's stdin only, as Docker does.
                if cfg.tty.unwrap_or(false) && plan.stdin {
                    let keys =
                        docker_vocab::detach_keys::parse(cfg.detach_keys.as_deref().unwrap_or("")).unwrap_or_default();
                    let (containers, exec) = (self.containers.clone(), plan.exec.clone());
                    io = io.with_detach_keys(&keys, move || containers.exec_detached(&exec));
                }
                let mut exited = plan.exec.exited.subscribe();
                let mut detached = io.detached();
                let recorded = Box::pin(async move {
                    let ended = async {
                        tokio::select! {
                            _ = exited.wait_for(|e| *e) => {}
                            _ = detached.wait_for(|d| *d) => {}
                        }
                    };
                    let _ = tokio::time::timeout(Duration::from_secs(5), ended).await;
                });
                Ok(ExecIo { io, recorded })
            }
            None => Err(ContainerError::Conflict("exec started detached".into())),
        }
    }

    /// `POST /exec/{id}/resize`.
    pub async fn resize_exec(&self, id: &str, height: i64, width: i64) -> Result<(), EngineError> {
        let (h, w) = terminal_size(height, width)?;
        let exec = self.containers.exec(id)?;
        let c = self.container(&exec.container_id)?;
        let pid = crate::unpoisoned::lock(&exec.state).pid as i32;
        if let Some(shim) = c.shim()
            && let Err(e) = shim.exec_handle(&exec.id, pid).resize(w, h).await
        {
            tracing::debug!(exec = %id, error = %e, "exec resize");
        }
        Ok(())
    }

    /// `GET /exec/{id}/json`.
    pub fn exec_view(&self, id: &str) -> Result<ExecInspectResponse, EngineError> {
        Ok(self.containers.exec(id)?.inspect())
    }
}
