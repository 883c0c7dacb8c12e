//! berth's one HTTP/1.1 client, for every place that talks to an engine
//! without a Docker client crate: over a UNIX socket, AF_VSOCK or TCP; a
//! request with an optional JSON or bytes body; the reply whole (with a
//! size cap), with a streaming body (the head as soon as it arrives), or
//! upgraded to a raw duplex stream (`Upgrade: tcp`, Docker's hijack); with
//! timeouts. Async, plus a blocking wrapper.
//!
//! Built on hyper's HTTP/1.1 client connection, so framing is hyper's: a
//! malformed or truncated reply is an `Error`, never a short body. This
//! crate is a client only; it must never serve, and it must never carry a
//! connection's bytes for someone else (a proxy copies bytes without it).

mod client;
mod endpoint;
mod error;
mod request;

pub mod blocking;

pub use client::{Client, Reply, Response, Upgraded};
pub use endpoint::Endpoint;
pub use error::Error;
pub use hyper::{HeaderMap, Method};
pub use request::Request;

#[cfg(test)]
mod tests;
