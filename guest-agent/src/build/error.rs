//! The builder's failures, each with the kind of HTTP answer Docker gives
//! for it (a bad Dockerfile or parameter is a 400; anything else the
//! engine's failure).
//!
//! Owns the wording a client sees in the build stream's `errorDetail`. It
//! must never carry a host path the client did not send.

use crate::error_kind::ErrorKind;

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("dockerfile parse error: {0}")]
    Parse(String),
    #[error(transparent)]
    Lex(#[from] super::lex::LexError),
    /// A step Docker refuses as written (a bad flag value, a missing stage).
    #[error("{0}")]
    Invalid(String),
    /// A build context that cannot be read (not an archive, a hostile entry).
    #[error("{0}")]
    Context(String),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

impl BuildError {
    pub fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> BuildError {
        let what = what.into();
        move |source| BuildError::Io { what, source }
    }

    pub fn kind(&self) -> ErrorKind {
        match self {
            BuildError::Parse(_) | BuildError::Lex(_) | BuildError::Invalid(_) | BuildError::Context(_) => {
                ErrorKind::Invalid
            }
            BuildError::Io { .. } => ErrorKind::Internal,
        }
    }
}
