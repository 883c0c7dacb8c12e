//! The confined module's one error type: which operation failed on which
//! path (as the container or the archive names it), and why.
//!
//! Owns only the vocabulary; it must never hold a host path that a caller
//! could mistake for something to open again.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ConfinedError {
    #[error("{op} {path:?}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path:?} climbs out of its root with '..'")]
    Escapes { path: PathBuf },
    #[error("{path:?}: {reason}")]
    Refused { path: PathBuf, reason: String },
}

impl ConfinedError {
    /// An error of `op` on `path` from an errno-style result.
    pub fn io(op: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> ConfinedError {
        let path = path.into();
        move |source| ConfinedError::Io { op, path, source }
    }

    /// The OS error number underneath, if there is one (ENOENT tells a
    /// missing path from a refused one).
    pub fn errno(&self) -> Option<i32> {
        match self {
            ConfinedError::Io { source, .. } => source.raw_os_error(),
            _ => None,
        }
    }

    pub fn is_not_found(&self) -> bool {
        self.errno() == Some(libc::ENOENT)
    }
}

impl From<ConfinedError> for std::io::Error {
    fn from(e: ConfinedError) -> std::io::Error {
        match e {
            ConfinedError::Io { source, op, path } => {
                std::io::Error::new(source.kind(), format!("{op} {}: {source}", path.display()))
            }
            other => std::io::Error::other(other.to_string()),
        }
    }
}

/// pathrs's error as an `io::Error` with its errno kept (a detected attack
/// is EXDEV, as pathrs itself reports it to C callers).
pub(super) fn from_pathrs(e: pathrs::error::Error) -> std::io::Error {
    use pathrs::error::ErrorKind;
    match e.kind() {
        ErrorKind::OsError(Some(n)) => std::io::Error::from_raw_os_error(n),
        ErrorKind::SafetyViolation => {
            tracing::warn!(error = %e, "pathrs refused an unsafe resolution");
            std::io::Error::from_raw_os_error(libc::EXDEV)
        }
        ErrorKind::NotSupported | ErrorKind::NotImplemented => std::io::Error::from_raw_os_error(libc::ENOSYS),
        ErrorKind::InvalidArgument => std::io::Error::from_raw_os_error(libc::EINVAL),
        _ => std::io::Error::other(e.to_string()),
    }
}
