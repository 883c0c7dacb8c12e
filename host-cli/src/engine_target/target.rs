//! The places a Docker-style command can run, as the user names them
//! (`--isolation process`, `--machine NAME`, `DOCKER_HOST`, a saved
//! context). Data only: choosing one and connecting is the parent's.

/// Where commands run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// The engine as a local daemon on this host (Linux only).
    Process,
    /// The engine inside a micro-VM.
    Machine(String),
    /// Whatever `DOCKER_HOST` names.
    DockerHost(String),
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Process => write!(f, "process"),
            Target::Machine(name) => write!(f, "machine:{name}"),
            Target::DockerHost(h) => write!(f, "DOCKER_HOST={h}"),
        }
    }
}
