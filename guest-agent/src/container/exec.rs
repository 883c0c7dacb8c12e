//! Exec instances (`docker exec`): created against a running container,
//! started once (attached or detached), inspected for their exit code.
//!
//! Owns an exec's record and state; it must never outlive its container in
//! the table (removing a container drops its execs). Exec records are not
//! persisted, as in Docker: an engine restart forgets them. Creating and
//! starting one against a container is `exec_lifecycle`'s.

use std::sync::Mutex;

use bollard_stubs::models::{ExecConfig, ExecInspectResponse, ProcessConfig};

use crate::unpoisoned::lock;

pub struct Exec {
    pub id: String,
    pub container_id: String,
    pub config: ExecConfig,
    pub state: Mutex<ExecState>,
    /// Turns true once the exit code is recorded: an attached client's
    /// stream ends only then, because the docker CLI inspects the exec for
    /// its exit code as soon as the stream ends.
    pub exited: tokio::sync::watch::Sender<bool>,
}

#[derive(Clone, Debug, Default)]
pub struct ExecState {
    pub started: bool,
    pub running: bool,
    pub exit_code: Option<i64>,
    pub pid: i64,
}

impl Exec {
    pub fn new(id: String, container_id: String, config: ExecConfig) -> Exec {
        Exec {
            id,
            container_id,
            config,
            state: Mutex::new(ExecState::default()),
            exited: tokio::sync::watch::Sender::new(false),
        }
    }

    /// The command line the events name it by (`exec_start: sh -c true`).
    pub fn command_line(&self) -> String {
        self.config.cmd.clone().unwrap_or_default().join(" ")
    }

    pub fn inspect(&self) -> ExecInspectResponse {
        let st = lock(&self.state).clone();
        let cmd = self.config.cmd.clone().unwrap_or_default();
        ExecInspectResponse {
            can_remove: Some(false),
            detach_keys: Some(self.config.detach_keys.clone().unwrap_or_default()),
            id: Some(self.id.clone()),
            running: Some(st.running),
            exit_code: st.exit_code,
            process_config: Some(ProcessConfig {
                privileged: Some(self.config.privileged.unwrap_or(false)),
                user: Some(self.config.user.clone().unwrap_or_default()),
                tty: Some(self.config.tty.unwrap_or(false)),
                entrypoint: cmd.first().cloned(),
                arguments: Some(cmd.iter().skip(1).cloned().collect()),
            }),
            open_stdin: Some(self.config.attach_stdin.unwrap_or(false)),
            open_stderr: Some(self.config.attach_stderr.unwrap_or(false)),
            open_stdout: Some(self.config.attach_stdout.unwrap_or(false)),
            container_id: Some(self.container_id.clone()),
            pid: Some(st.pid),
        }
    }
}
