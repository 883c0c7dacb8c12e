//! What can go wrong with a network, with the HTTP status Docker answers.

use std::path::PathBuf;

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
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl NetworkError {
    /// The status code Docker answers with.
    pub fn status(&self) -> u16 {
        match self {
            NetworkError::NotFound(_) => 404,
            NetworkError::NameTaken(_) | NetworkError::InUse { .. } => 409,
            NetworkError::Predefined(_) | NetworkError::Forbidden(_) => 403,
            NetworkError::Ambiguous { .. } | NetworkError::Invalid(_) => 400,
            NetworkError::Io { .. } => 500,
        }
    }

    pub fn io(what: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> NetworkError {
        let path = path.into();
        move |source| NetworkError::Io { what, path, source }
    }
}
