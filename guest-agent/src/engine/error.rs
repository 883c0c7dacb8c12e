//! The engine's one error type: every domain's failure, plus the engine's
//! own refusals, each with its [`ErrorKind`]. Handlers propagate it with `?`
//! and the API converts it to Docker's status code and body once.
//!
//! Owns the wrapping; it must never pick a status code (the API does) nor
//! flatten a domain error into a string (the kind and the source stay).

use std::path::PathBuf;

use crate::container::error::ContainerError;
use crate::error_kind::ErrorKind;
use crate::image::archive::load::LoadError;
use crate::image::archive::save::SaveError;
use crate::image::commit::CommitError;
use crate::image::distribution::DistributionError;
use crate::image::import::ImportError;
use crate::image::pull::PullError;
use crate::image::push::PushError;
use crate::image::registry::RegistryError;
use crate::image::removal::RemovalError;
use crate::image::store::StoreError;
use crate::image::view::FilterError;
use crate::network::NetworkError;
use crate::volume::VolumeError;
use docker_vocab::reference::ReferenceError;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("engine root {path}: {source}")]
    Root {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Images(#[from] StoreError),
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    #[error(transparent)]
    ImageFilter(#[from] FilterError),
    #[error(transparent)]
    Removal(#[from] RemovalError),
    #[error(transparent)]
    Pull(#[from] PullError),
    /// Docker answers a refused pull with 403 and this wording, never 401:
    /// on a 401 the docker CLI falls back to prompting for a password on
    /// stdin, which hangs a script (or a test).
    #[error("pull access denied for {repository}, repository does not exist or may require 'docker login': {source}")]
    PullDenied {
        repository: String,
        #[source]
        source: PullError,
    },
    #[error(transparent)]
    Push(#[from] PushError),
    #[error(transparent)]
    Import(#[from] ImportError),
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error(transparent)]
    Commit(#[from] CommitError),
    #[error(transparent)]
    Save(#[from] SaveError),
    #[error(transparent)]
    Distribution(#[from] DistributionError),
    /// `docker login` with credentials the registry refuses (Docker's 401).
    #[error("login to {registry} failed: unauthorized: incorrect username or password")]
    LoginRefused {
        registry: String,
        #[source]
        source: RegistryError,
    },
    #[error("login to {registry}: {source}")]
    Login {
        registry: String,
        #[source]
        source: RegistryError,
    },
    /// A blocking or spawned part of an operation panicked or was cancelled.
    #[error("internal error: {0}")]
    Task(#[from] tokio::task::JoinError),
    #[error(transparent)]
    Containers(#[from] ContainerError),
    #[error(transparent)]
    Networks(#[from] NetworkError),
    #[error(transparent)]
    Volumes(#[from] VolumeError),
    #[error(transparent)]
    Shell(#[from] crate::shell::ShellError),
    /// A refusal of the engine's own (an operation spanning resources, a
    /// request that no single domain judges).
    #[error("{message}")]
    Refused { kind: ErrorKind, message: String },
}

impl EngineError {
    pub fn invalid(message: impl Into<String>) -> Self {
        EngineError::Refused { kind: ErrorKind::Invalid, message: message.into() }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        EngineError::Refused { kind: ErrorKind::NotFound, message: message.into() }
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        EngineError::Refused { kind: ErrorKind::Conflict, message: message.into() }
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        EngineError::Refused { kind: ErrorKind::Unavailable, message: message.into() }
    }

    /// How a client should read the failure.
    pub fn kind(&self) -> ErrorKind {
        match self {
            EngineError::Root { .. } => ErrorKind::Internal,
            EngineError::Images(e) => e.kind(),
            EngineError::Reference(_) => ErrorKind::Invalid,
            EngineError::ImageFilter(e) => e.kind(),
            EngineError::Removal(e) => e.kind(),
            EngineError::Pull(e) => e.kind(),
            EngineError::PullDenied { .. } => ErrorKind::Forbidden,
            EngineError::Push(e) => e.kind(),
            EngineError::Import(e) => e.kind(),
            EngineError::Load(e) => e.kind(),
            EngineError::Commit(e) => e.kind(),
            EngineError::Save(e) => e.kind(),
            EngineError::Distribution(e) => e.kind(),
            EngineError::LoginRefused { .. } => ErrorKind::Unauthorized,
            // Anything but a refusal is the engine's failure to reach the
            // registry, whatever the registry said (Docker's 500).
            EngineError::Login { .. } | EngineError::Task(_) => ErrorKind::Internal,
            EngineError::Containers(e) => e.kind(),
            EngineError::Networks(e) => e.kind(),
            EngineError::Volumes(e) => e.kind(),
            EngineError::Shell(e) => e.kind(),
            EngineError::Refused { kind, .. } => *kind,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_domain_keeps_its_kind() {
        assert_eq!(EngineError::from(ContainerError::NotFound("x".into())).kind(), ErrorKind::NotFound);
        assert_eq!(EngineError::from(ContainerError::NotModified).kind(), ErrorKind::NotModified);
        assert_eq!(EngineError::from(NetworkError::Predefined("bridge".into())).kind(), ErrorKind::Forbidden);
        assert_eq!(EngineError::from(StoreError::Ambiguous("a".into())).kind(), ErrorKind::Invalid);
        assert_eq!(EngineError::unavailable("swarm").kind(), ErrorKind::Unavailable);
        let in_use = VolumeError::InUse { name: "v".into(), users: "c".into() };
        assert_eq!(EngineError::from(in_use).kind(), ErrorKind::Conflict);
        let refused = RegistryError::Unauthorized { registry: "r".into(), repository: "x".into(), hint: "h" };
        assert_eq!(EngineError::from(PushError::Registry(refused)).kind(), ErrorKind::Unauthorized);
        let denied = RegistryError::Denied { registry: "r".into(), repository: "x".into() };
        let e = EngineError::PullDenied { repository: "x".into(), source: PullError::Registry(denied) };
        assert_eq!(e.kind(), ErrorKind::Forbidden);
        assert!(e.to_string().starts_with("pull access denied for x, repository does not exist"), "{e}");
        assert_eq!(EngineError::from(ImportError::Empty).kind(), ErrorKind::Invalid);
        assert_eq!(EngineError::from(LoadError::Unrecognised).kind(), ErrorKind::Invalid);
        let wrapped = ContainerError::Images(StoreError::NotFound("img".into()));
        assert_eq!(EngineError::from(wrapped).kind(), ErrorKind::NotFound);
    }
}
