//! The runtime's error type: what went wrong, on which container, with the
//! underlying cause attached.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// A file or directory operation on the runtime's state failed.
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The request cannot be turned into a container (bad user, bad bind,
    /// bad option value…): the user's mistake, Docker answers 400/500 with it.
    #[error("{0}")]
    InvalidRequest(String),
    /// oci-spec refused a part of the container's spec this runtime built:
    /// berth's fault, not the request's.
    #[error("the container's OCI spec ({part}): {source}")]
    Spec {
        part: &'static str,
        #[source]
        source: oci_spec::OciSpecError,
    },
    /// No command to run: neither the request nor the image gives one.
    #[error("no command specified")]
    NoCommand,
    /// The container's entrypoint could not be executed. `code` is what
    /// Docker reports for it (126 cannot invoke, 127 not found) and
    /// `message` the text it prints (`exec: "foo": executable file not
    /// found in $PATH`).
    #[error("{message}")]
    Exec { code: i32, message: String },
    /// The shim could not be started or reported a failure while starting.
    #[error("container {id}: shim did not start: {reason}")]
    ShimStart { id: String, reason: String },
    /// The shim's control socket failed or the shim went away.
    #[error("container {id}: shim unreachable: {source}")]
    ShimGone {
        id: String,
        #[source]
        source: std::io::Error,
    },
    /// The shim answered with an error.
    #[error("container {id}: {message}")]
    Shim { id: String, message: String },
    /// The operation does not fit the container's state (start twice,
    /// pause an exited container, delete a running one…).
    /// `state` is Docker's word for it (`created`, `running`, `paused`,
    /// `exited`).
    #[error("container {id}: {message}")]
    WrongState { id: String, state: String, message: String },
}

impl RuntimeError {
    /// For `map_err` on an oci-spec builder's `build()`.
    pub(crate) fn spec(part: &'static str) -> impl FnOnce(oci_spec::OciSpecError) -> RuntimeError {
        move |source| RuntimeError::Spec { part, source }
    }

    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> RuntimeError {
        let path = path.into();
        move |source| RuntimeError::Io { op, path, source }
    }
}
