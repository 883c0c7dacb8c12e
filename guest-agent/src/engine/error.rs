//! The engine's one error type: every domain's failure, plus the engine's
//! own refusals, each with its [`ErrorKind`]. Handlers propagate it with `?`
//! and the API converts it to Docker's status code and body once.
//!
//! Owns the wrapping; it must never pick a status code (the API does) nor
//! flatten a domain error into a string (the kind and the source stay).

use std::path::PathBuf;

use crate::container::error::ContainerError;
use crate::error_kind::ErrorKind;
use crate::image::store::StoreError;
use crate::network::NetworkError;

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
    Containers(#[from] ContainerError),
    #[error(transparent)]
    Networks(#[from] NetworkError),
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
            EngineError::Containers(e) => e.kind(),
            EngineError::Networks(e) => e.kind(),
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
        let wrapped = ContainerError::Images(StoreError::NotFound("img".into()));
        assert_eq!(EngineError::from(wrapped).kind(), ErrorKind::NotFound);
    }
}
