//! The errors of Docker-style commands and the exit codes Docker gives
//! them: 125 when the engine fails `run`/`create`/`start`, 126 when the
//! command cannot be run, 127 when it is not found, 1 otherwise. A
//! container's own exit code is not an error (commands return it).

use crate::engine_target::{Endpoint, TargetError};

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Target(#[from] TargetError),
    #[error("Cannot connect to the berth engine at {}: {reason} ({})", .endpoint.url, .endpoint.hint)]
    Unreachable { endpoint: Endpoint, reason: String },
    /// The engine answered with an error: its message, as docker prints it.
    #[error("Error response from daemon: {message}")]
    Engine { status: u16, message: String },
    #[error("{0}")]
    Client(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("template: {0}")]
    Template(String),
    #[error("{0}")]
    Usage(String),
}

impl CliError {
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        CliError::Io { context: context.into(), source }
    }

    /// Converts a bollard error; `endpoint` names the socket when the
    /// engine cannot be reached at all.
    pub fn from_bollard(e: bollard::errors::Error, endpoint: &Endpoint) -> Self {
        use bollard::errors::Error as B;
        match e {
            B::DockerResponseServerError { status_code, message } => CliError::Engine { status: status_code, message },
            B::DockerStreamError { error } => CliError::Engine { status: 500, message: error },
            B::SocketNotFoundError(path) => {
                CliError::Unreachable { endpoint: endpoint.clone(), reason: format!("no socket at {path}") }
            }
            B::HyperLegacyError { err } if err.is_connect() => {
                CliError::Unreachable { endpoint: endpoint.clone(), reason: root_cause(&err) }
            }
            B::IOError { err } if is_connect_io(&err) => {
                CliError::Unreachable { endpoint: endpoint.clone(), reason: err.to_string() }
            }
            other => CliError::Client(other.to_string()),
        }
    }

    pub fn is_not_found(&self) -> bool {
        matches!(self, CliError::Engine { status: 404, .. })
    }

    /// Docker's exit code for a failure of `run`, `create` or `start`.
    pub fn run_exit_code(&self) -> u8 {
        match self {
            CliError::Engine { message, .. } => {
                let m = message.to_ascii_lowercase();
                if m.contains("executable file not found") || m.contains("no such file or directory") {
                    127
                } else if m.contains("permission denied") {
                    126
                } else {
                    125
                }
            }
            CliError::Usage(_) => 125,
            _ => 125,
        }
    }
}

fn is_connect_io(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(e.kind(), ConnectionRefused | NotFound | PermissionDenied | ConnectionReset)
}

fn root_cause(e: &dyn std::error::Error) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_exit_codes_follow_docker() {
        let e = |m: &str| CliError::Engine { status: 400, message: m.into() };
        assert_eq!(e("exec: \"nope\": executable file not found in $PATH").run_exit_code(), 127);
        assert_eq!(e("exec /etc/passwd: permission denied").run_exit_code(), 126);
        assert_eq!(e("invalid reference format").run_exit_code(), 125);
    }

    #[test]
    fn unreachable_names_the_socket_and_the_remedy() {
        let endpoint =
            Endpoint { url: "unix:///x/docker.sock".into(), hint: "start it with `berth machine start m`".into() };
        let e = CliError::from_bollard(bollard::errors::Error::SocketNotFoundError("/x/docker.sock".into()), &endpoint);
        let line = e.to_string();
        assert!(line.contains("unix:///x/docker.sock") && line.contains("berth machine start m"), "{line}");
        assert!(!line.contains('\n'));
    }
}
