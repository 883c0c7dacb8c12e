//! The one error type of the developer tasks. Each variant is a sentence a
//! developer can act on; `main` prints it on one line and exits non-zero.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A tool or package that the host must provide is not there.
    #[error("{what} is missing: {fix}")]
    Missing { what: String, fix: String },
    #[error(
        "not enough free disk space in {dir}: {free_gib:.1} GiB free, {need_gib} GiB needed (free some space or set BERTH_CACHE_DIR to a bigger disk)"
    )]
    DiskSpace { dir: PathBuf, free_gib: f64, need_gib: u64 },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("`{command}` failed: {detail}")]
    Command { command: String, detail: String },
    /// A request to an engine (each names its endpoint or request).
    #[error(transparent)]
    Http(#[from] berth_http::Error),
    #[error("{0}")]
    Invalid(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Adds the path to an I/O error, which `std` leaves out.
pub trait IoContext<T> {
    fn at(self, path: impl Into<PathBuf>) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn at(self, path: impl Into<PathBuf>) -> Result<T> {
        self.map_err(|source| Error::Io { path: path.into(), source })
    }
}
