//! What can go wrong with a container operation, and which
//! [`ErrorKind`] each failure is (the API maps kinds to Docker's status
//! codes). It must never choose a status code itself.

use crate::error_kind::ErrorKind;
use crate::runtime::RuntimeError;

use super::record::RecordError;

#[derive(Debug, thiserror::Error)]
pub enum ContainerError {
    #[error("No such container: {0}")]
    NotFound(String),
    #[error("No such image: {0}")]
    NoSuchImage(String),
    #[error("No such exec instance: {0}")]
    NoSuchExec(String),
    #[error(
        "Conflict. The container name \"/{name}\" is already in use by container \"{id}\". You have to remove (or rename) that container to be able to reuse that name."
    )]
    NameConflict { name: String, id: String },
    /// The operation does not fit the container's state (409).
    #[error("{0}")]
    Conflict(String),
    /// The request itself is wrong (400).
    #[error("{0}")]
    Invalid(String),
    /// Nothing to do (304): start a running container, stop a stopped one.
    #[error("not modified")]
    NotModified,
    /// The container's configuration cannot do this (501).
    #[error("{0}")]
    NotImplemented(String),
    /// The command could not be run: 126 (cannot invoke) or 127 (not
    /// found); the docker CLI picks its own exit code from the message.
    #[error("{message}")]
    CannotExec { code: i64, message: String },
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error(transparent)]
    Record(#[from] RecordError),
    #[error("image store: {0}")]
    Images(#[from] crate::image::store::StoreError),
    #[error("{op}: {source}")]
    Io {
        op: String,
        #[source]
        source: std::io::Error,
    },
}

impl ContainerError {
    pub fn io(op: impl Into<String>) -> impl FnOnce(std::io::Error) -> ContainerError {
        let op = op.into();
        move |source| ContainerError::Io { op, source }
    }

    /// How a client should read the failure.
    pub fn kind(&self) -> ErrorKind {
        match self {
            ContainerError::NotFound(_) | ContainerError::NoSuchImage(_) | ContainerError::NoSuchExec(_) => {
                ErrorKind::NotFound
            }
            ContainerError::NameConflict { .. } | ContainerError::Conflict(_) => ErrorKind::Conflict,
            ContainerError::Invalid(_) | ContainerError::CannotExec { .. } => ErrorKind::Invalid,
            ContainerError::NotModified => ErrorKind::NotModified,
            ContainerError::NotImplemented(_) => ErrorKind::NotImplemented,
            ContainerError::Runtime(RuntimeError::InvalidRequest(_) | RuntimeError::NoCommand) => ErrorKind::Invalid,
            ContainerError::Runtime(RuntimeError::Exec { .. }) => ErrorKind::Invalid,
            ContainerError::Runtime(RuntimeError::WrongState { .. }) => ErrorKind::Conflict,
            ContainerError::Images(e) => e.kind(),
            _ => ErrorKind::Internal,
        }
    }
}
