//! Where a Docker-style command runs, and a client connected to it.
//!
//! The choice, first match wins:
//! 1. the global flags `--isolation process` / `--machine NAME`;
//! 2. `DOCKER_HOST`, if set (`unix://` or `tcp://`), as every Docker client
//!    honours it (`berth docker-env` prints one);
//! 3. the persisted default (`berth context use ...`, see [`context`]);
//! 4. the default machine.
//!
//! A machine that is not running is started (one line on stderr says so);
//! the process engine is started as a background daemon on first use and
//! reused afterwards (see [`process`]). This module owns the choice and the
//! connection; it must never send container or image requests itself.

pub mod context;
pub mod process;
mod target;

pub use target::Target;

use std::path::PathBuf;
use std::time::Duration;

use bollard::{ClientVersion, Docker};

use crate::machine::{self, DEFAULT_MACHINE, MachineError};

/// The newest API version the engine speaks (guest-agent `api::version::MAX`).
pub const API_VERSION: ClientVersion = ClientVersion { major_version: 1, minor_version: 50 };

/// Seconds before an engine request gives up (pulls and attaches are
/// streams, which this bounds per read, not in total).
const REQUEST_TIMEOUT_SECS: u64 = 3600;

#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error(transparent)]
    Machine(#[from] MachineError),
    #[error(transparent)]
    Process(#[from] process::ProcessEngineError),
    #[error(transparent)]
    Context(#[from] context::ContextError),
    #[error("DOCKER_HOST={0} is not supported by berth (use unix:///path or tcp://host:port)")]
    UnsupportedHost(String),
    #[error("cannot connect to the engine at {endpoint}: {source}")]
    Connect {
        endpoint: String,
        #[source]
        source: bollard::errors::Error,
    },
}

/// The global flags that choose a target.
#[derive(Debug, Clone, Default)]
pub struct Choice {
    pub process: bool,
    pub machine: Option<String>,
}

/// Applies the order documented at the top of this module.
pub fn resolve(choice: &Choice) -> Result<Target, TargetError> {
    if choice.process {
        return Ok(Target::Process);
    }
    if let Some(name) = &choice.machine {
        return Ok(Target::Machine(name.clone()));
    }
    if let Some(host) = std::env::var("DOCKER_HOST").ok().filter(|h| !h.is_empty()) {
        return Ok(Target::DockerHost(host));
    }
    Ok(context::load()?.unwrap_or(Target::Machine(DEFAULT_MACHINE.to_string())))
}

/// An engine endpoint that answers, the engine started first if needed.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// `unix:///path` or `tcp://host:port`.
    pub url: String,
    /// How to start it, for the "cannot connect" line.
    pub hint: String,
}

impl Endpoint {
    fn unix(path: PathBuf, hint: String) -> Self {
        Endpoint { url: format!("unix://{}", path.display()), hint }
    }

    /// The socket path for `unix://` endpoints.
    pub fn unix_path(&self) -> Option<&str> {
        self.url.strip_prefix("unix://")
    }
}

/// Makes sure the target's engine runs and returns where it listens.
pub fn ensure_running(target: &Target) -> Result<Endpoint, TargetError> {
    match target {
        Target::Process => {
            let socket = process::ensure_running()?;
            Ok(Endpoint::unix(socket, "berth starts it on demand; see `berth engine status`".into()))
        }
        Target::Machine(name) => {
            let socket = running_machine_socket(name)?;
            Ok(Endpoint::unix(socket, format!("start it with `berth machine start {name}`")))
        }
        Target::DockerHost(host) => {
            if !(host.starts_with("unix://") || host.starts_with("tcp://")) {
                return Err(TargetError::UnsupportedHost(host.clone()));
            }
            Ok(Endpoint { url: host.clone(), hint: "it comes from DOCKER_HOST; unset it to use berth's engine".into() })
        }
    }
}

/// The machine's docker.sock, starting the machine first if it is not
/// running (saying so on stderr; `machine::start` creates the default
/// machine if it does not exist yet).
pub fn running_machine_socket(name: &str) -> Result<PathBuf, MachineError> {
    if let Ok(l) = machine::layout_of(name)
        && machine::is_running(&l)
    {
        return Ok(l.docker_socket());
    }
    eprintln!("berth: starting machine {name}");
    Ok(machine::start(name, Duration::from_secs(120))?.docker_socket())
}

/// A bollard client for an endpoint. Connecting is lazy: the first request
/// finds out whether the engine answers.
pub fn client(endpoint: &Endpoint) -> Result<Docker, TargetError> {
    let connect = || {
        if let Some(path) = endpoint.unix_path() {
            Docker::connect_with_unix(path, REQUEST_TIMEOUT_SECS, &API_VERSION)
        } else {
            let addr = endpoint.url.replacen("tcp://", "http://", 1);
            Docker::connect_with_http(&addr, REQUEST_TIMEOUT_SECS, &API_VERSION)
        }
    };
    connect().map_err(|source| TargetError::Connect { endpoint: endpoint.url.clone(), source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_win_over_everything() {
        let t = resolve(&Choice { process: true, machine: Some("m".into()) }).unwrap();
        assert_eq!(t, Target::Process);
        let t = resolve(&Choice { process: false, machine: Some("m".into()) }).unwrap();
        assert_eq!(t, Target::Machine("m".into()));
    }

    #[test]
    fn docker_host_must_be_unix_or_tcp() {
        let err = ensure_running(&Target::DockerHost("ssh://x".into())).unwrap_err();
        assert!(err.to_string().contains("not supported"), "{err}");
        let ok = ensure_running(&Target::DockerHost("unix:///tmp/x.sock".into())).unwrap();
        assert_eq!(ok.unix_path(), Some("/tmp/x.sock"));
    }
}
