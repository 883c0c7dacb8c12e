//! The errors of an HTTP exchange. Each names the exchange (`METHOD path`)
//! or the endpoint it concerns; a reply that is malformed or cut short is
//! always one of these, never a short body.
//!
//! Owns no IO; it must never hide a framing failure behind a success.

use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The endpoint's URL is none this client dials.
    #[error("unsupported endpoint {0:?} (expected unix://PATH, tcp://HOST:PORT or vsock://CID:PORT)")]
    Endpoint(String),
    /// The request could not be built (a header value, a JSON body).
    #[error("{what}: invalid request: {reason}")]
    Request { what: String, reason: String },
    #[error("cannot connect to {endpoint}: {source}")]
    Connect {
        endpoint: String,
        #[source]
        source: std::io::Error,
    },
    /// The exchange (connect, request, reply head and, for whole replies,
    /// the body) took longer than the caller allowed.
    #[error("{what}: no complete reply within {after:?}")]
    Timeout { what: String, after: Duration },
    /// The connection failed or the reply broke HTTP/1.1: no status line, a
    /// bad chunk size, a body shorter than its length, a connection closed
    /// early. `detail` is the whole cause chain.
    #[error("{what}: {detail}")]
    Http {
        what: String,
        detail: String,
        #[source]
        source: hyper::Error,
    },
    #[error("{what}: the reply body is over the {limit}-byte limit")]
    TooLarge { what: String, limit: usize },
    #[error("{what}: answered {status} instead of switching protocols")]
    NotUpgraded { what: String, status: u16 },
    #[error("cannot start the runtime for a blocking request: {0}")]
    Runtime(#[source] std::io::Error),
}

impl Error {
    /// hyper's own message is one line per layer ("error reading a body
    /// from connection"); the cause under it says what was wrong.
    pub(crate) fn http(what: &str, source: hyper::Error) -> Error {
        let mut detail = source.to_string();
        let mut cause = std::error::Error::source(&source);
        while let Some(c) = cause {
            detail.push_str(": ");
            detail.push_str(&c.to_string());
            cause = c.source();
        }
        Error::Http { what: what.to_string(), detail, source }
    }

    /// Whether the endpoint could not be reached at all (nothing was sent).
    pub fn is_connect(&self) -> bool {
        matches!(self, Error::Connect { .. })
    }
}
