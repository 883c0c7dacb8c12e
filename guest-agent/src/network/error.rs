//! What can go wrong with a network, and which [`ErrorKind`] each failure
//! is. It must never choose a status code itself (the API does).

use std::path::PathBuf;

use crate::error_kind::ErrorKind;

#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    #[error("network {0} not found")]
    NotFound(String),
    #[error("network with name {0} already exists")]
    NameTaken(String),
    #[error("{0} is a pre-defined network and cannot be removed")]
    Predefined(String),
    #[error("error while removing network: network {name} id {id} has active endpoints ({containers})")]
    InUse { name: String, id: String, containers: String },
    #[error("network {network} is ambiguous ({count} matches found on name)")]
    Ambiguous { network: String, count: usize },
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("network setup: {0}")]
    Kernel(#[from] super::kernel::KernelError),
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl NetworkError {
    /// How a client should read the failure.
    pub fn kind(&self) -> ErrorKind {
        match self {
            NetworkError::NotFound(_) => ErrorKind::NotFound,
            NetworkError::NameTaken(_) | NetworkError::InUse { .. } => ErrorKind::Conflict,
            NetworkError::Predefined(_) | NetworkError::Forbidden(_) => ErrorKind::Forbidden,
            NetworkError::Ambiguous { .. } | NetworkError::Invalid(_) => ErrorKind::Invalid,
            NetworkError::Io { .. } | NetworkError::Kernel(_) => ErrorKind::Internal,
        }
    }

    pub fn io(what: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> NetworkError {
        let path = path.into();
        move |source| NetworkError::Io { what, path, source }
    }
}
