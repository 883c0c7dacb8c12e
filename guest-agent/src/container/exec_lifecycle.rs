//! `docker exec` against a container: create an exec in the registry,
//! check it may start, start it attached or detached, record its exit.
//!
//! Owns the exec's transitions; the record itself is `exec`'s. It must
//! never start an exec in a container that is not running.

use std::sync::Arc;

use bollard_stubs::models::ExecConfig;

use super::error::ContainerError;
use super::exec::Exec;
use super::registry::{Container, Containers};
use super::state::Status;
use crate::runtime::{AttachIo, AttachStreams, ExecRequest, RuntimeError};
use crate::unpoisoned::lock;

impl Containers {
    /// `POST /containers/{id}/exec`: the container must be running.
    pub fn create_exec(&self, c: &Arc<Container>, config: ExecConfig) -> Result<String, ContainerError> {
        let status = lock(&c.rec).state.status;
        match status {
            Status::Running => {}
            Status::Paused => {
                return Err(ContainerError::Conflict(format!(
                    "Container {} is paused, unpause the container before exec",
                    c.id
                )));
            }
            _ => {
                return Err(ContainerError::Conflict(format!("Container {} is not running", c.id)));
            }
        }
        if config.cmd.as_ref().is_none_or(Vec::is_empty) {
            return Err(ContainerError::Invalid("No exec command specified".into()));
        }
        if let Some(keys) = config.detach_keys.as_deref()
            && docker_vocab::detach_keys::parse(keys).is_err()
        {
            return Err(ContainerError::Invalid(format!("Invalid escape keys ({keys}) provided")));
        }
        let id = super::names::new_id().map_err(ContainerError::io("reading /dev/urandom"))?;
        let exec = Arc::new(Exec::new(id.clone(), c.id.clone(), config));
        let mut attrs = c.record().event_attributes();
        attrs.insert("execID".into(), id.clone());
        self.events.container(&format!("exec_create: {}", exec.command_line()), &c.id, attrs);
        lock(&self.execs).insert(id.clone(), exec);
        lock(&c.exec_ids).push(id.clone());
        Ok(id)
    }

    /// The client of an attached exec typed the detach keys: the process
    /// runs on (`exec_detach`, as Docker says).
    pub fn exec_detached(&self, exec: &Exec) {
        let Ok(c) = self.get(&exec.container_id) else { return };
        let mut attrs = c.record().event_attributes();
        attrs.insert("execID".into(), exec.id.clone());
        self.events.container("exec_detach", &c.id, attrs);
    }

    /// The checks `start_exec` makes before anything runs: not started yet,
    /// container running.
    pub fn check_exec_startable(&self, exec: &Exec) -> Result<(), ContainerError> {
        if lock(&exec.state).started {
            return Err(ContainerError::Conflict(format!("Exec command {} is already running", exec.id)));
        }
        let c = self.get(&exec.container_id)?;
        if lock(&c.rec).state.status != Status::Running {
            return Err(ContainerError::Conflict(format!("Container {} is not running", c.id)));
        }
        Ok(())
    }

    /// `POST /exec/{id}/start`: runs the process; returns its stdio unless
    /// `detach`. An exit is recorded (and `exec_die` published) when the
    /// process ends.
    pub async fn start_exec(
        self: &Arc<Self>,
        exec: &Arc<Exec>,
        detach: bool,
        console_size: Option<(u16, u16)>,
    ) -> Result<Option<AttachIo>, ContainerError> {
        {
            let mut st = lock(&exec.state);
            if st.started {
                return Err(ContainerError::Conflict(format!("Exec command {} is already running", exec.id)));
            }
            st.started = true;
        }
        let c = self.get(&exec.container_id)?;
        let shim = c
            .shim()
            .filter(|_| lock(&c.rec).state.status == Status::Running)
            .ok_or_else(|| ContainerError::Conflict(format!("Container {} is not running", c.id)))?;
        let cfg = &exec.config;
        let req = ExecRequest {
            cmd: cfg.cmd.clone().unwrap_or_default(),
            env: cfg.env.clone().unwrap_or_default(),
            user: cfg.user.clone().unwrap_or_default(),
            workdir: cfg.working_dir.clone().unwrap_or_default(),
            tty: cfg.tty.unwrap_or(false),
            attach: AttachStreams {
                stdin: !detach && cfg.attach_stdin.unwrap_or(false),
                stdout: !detach && cfg.attach_stdout.unwrap_or(false),
                stderr: !detach && cfg.attach_stderr.unwrap_or(false),
            },
            privileged: cfg.privileged.unwrap_or(false),
            console_size: console_size
                .or_else(|| cfg.console_size.as_ref().filter(|v| v.len() == 2).map(|v| (v[1] as u16, v[0] as u16))),
        };
        let mut attrs = c.record().event_attributes();
        attrs.insert("execID".into(), exec.id.clone());
        let (handle, io) = match shim.exec(&exec.id, req).await {
            Ok(x) => x,
            Err(RuntimeError::Exec { code, message }) => {
                {
                    let mut st = lock(&exec.state);
                    st.exit_code = Some(i64::from(code));
                    st.running = false;
                }
                exec.exited.send_replace(true);
                attrs.insert("exitCode".into(), code.to_string());
                self.events.container("exec_die", &c.id, attrs);
                return Err(ContainerError::CannotExec { code: i64::from(code), message });
            }
            Err(e) => return Err(e.into()),
        };
        {
            let mut st = lock(&exec.state);
            st.running = true;
            st.pid = i64::from(handle.pid());
        }
        self.events.container(&format!("exec_start: {}", exec.command_line()), &c.id, attrs.clone());
        let (this, exec2) = (self.clone(), exec.clone());
        tokio::spawn(async move {
            let code = match handle.wait_exit().await {
                Ok(info) => i64::from(info.code),
                Err(e) => {
                    tracing::warn!(exec = %exec2.id, error = %e, "lost an exec's exit status");
                    126
                }
            };
            {
                let mut st = lock(&exec2.state);
                st.running = false;
                st.exit_code = Some(code);
            }
            exec2.exited.send_replace(true);
            attrs.insert("exitCode".into(), code.to_string());
            this.events.container("exec_die", &exec2.container_id, attrs);
        });
        Ok(if detach { None } else { Some(io) })
    }
}
