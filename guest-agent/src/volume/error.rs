//! The volume domain's failures, each with its [`ErrorKind`] and Docker's
//! wording (moby's `OpErr`: `<op> <name>: <reason>`).
//!
//! Owns the messages; it must never pick a status code (the API does).

use std::path::PathBuf;

use crate::error_kind::ErrorKind;

#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    /// `get x: no such volume` (Docker's 404).
    #[error("get {0}: no such volume")]
    NotFound(String),
    /// A name the local driver refuses (400).
    #[error(
        "create {0}: \"{0}\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
    )]
    InvalidName(String),
    /// A driver other than `local` (Docker's 404 from the plugin lookup).
    #[error("create {name}: error looking up volume plugin {driver}: plugin \"{driver}\" not found")]
    UnknownDriver { name: String, driver: String },
    /// An option the local driver refuses, or one missing (400).
    #[error("create {name}: {reason}")]
    InvalidOption { name: String, reason: String },
    /// A volume that containers still use (409).
    #[error("remove {name}: volume is in use - [{users}]")]
    InUse { name: String, users: String },
    /// A mount specification Docker refuses (400).
    #[error("{0}")]
    InvalidSpec(String),
    /// The local driver could not mount the volume's device (500).
    #[error("error while mounting volume '{path}': failed to mount local volume: {reason}")]
    Mount { path: PathBuf, reason: String },
    #[error("volume {op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl VolumeError {
    pub fn io(op: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> VolumeError {
        let path = path.into();
        move |source| VolumeError::Io { op, path, source }
    }

    pub fn kind(&self) -> ErrorKind {
        match self {
            VolumeError::NotFound(_) | VolumeError::UnknownDriver { .. } => ErrorKind::NotFound,
            VolumeError::InvalidName(_) | VolumeError::InvalidOption { .. } | VolumeError::InvalidSpec(_) => {
                ErrorKind::Invalid
            }
            VolumeError::InUse { .. } => ErrorKind::Conflict,
            VolumeError::Mount { .. } | VolumeError::Io { .. } => ErrorKind::Internal,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dockers_words_and_kinds() {
        let e = VolumeError::InvalidName("a/b".into());
        assert!(
            e.to_string().starts_with(
                "create a/b: \"a/b\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed"
            ),
            "{e}"
        );
        assert_eq!(e.kind(), ErrorKind::Invalid);
        let e = VolumeError::UnknownDriver { name: "v".into(), driver: "nfs".into() };
        assert_eq!(e.to_string(), "create v: error looking up volume plugin nfs: plugin \"nfs\" not found");
        assert_eq!(e.kind(), ErrorKind::NotFound);
        assert_eq!(VolumeError::InUse { name: "v".into(), users: "abc".into() }.kind(), ErrorKind::Conflict);
        assert_eq!(VolumeError::NotFound("v".into()).to_string(), "get v: no such volume");
    }
}
