//! The blocking face of the client, for callers with no runtime (the CLI's
//! machine commands, xtask): the async client run on a current-thread
//! tokio runtime that each `Client` owns.
//!
//! Owns only that runtime; it must never be called from async code (a
//! runtime cannot block inside another; there, use the async client).

use std::time::Duration;

use bytes::Bytes;
use hyper::HeaderMap;

use crate::client::{self, Reply};
use crate::endpoint::Endpoint;
use crate::error::Error;
use crate::request::Request;

pub struct Client {
    inner: client::Client,
    runtime: tokio::runtime::Runtime,
}

impl Client {
    pub fn new(endpoint: Endpoint) -> Result<Client, Error> {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(Error::Runtime)?;
        Ok(Client { inner: client::Client::new(endpoint), runtime })
    }

    /// As `client::Client::timeout`.
    pub fn timeout(mut self, after: Duration) -> Client {
        self.inner = self.inner.timeout(after);
        self
    }

    /// As `client::Client::send`.
    pub fn send(&self, req: Request, max_body: usize) -> Result<Reply, Error> {
        self.runtime.block_on(self.inner.send(req, max_body))
    }

    /// As `client::Client::stream`: returns once the reply's head is in.
    pub fn stream(&self, req: Request) -> Result<Response<'_>, Error> {
        let inner = self.runtime.block_on(self.inner.stream(req))?;
        Ok(Response { runtime: &self.runtime, inner })
    }
}

/// A reply whose head has arrived. The connection only moves while one of
/// its methods runs (the runtime has one thread, the caller's).
pub struct Response<'c> {
    runtime: &'c tokio::runtime::Runtime,
    inner: client::Response,
}

impl Response<'_> {
    pub fn status(&self) -> u16 {
        self.inner.status()
    }

    pub fn headers(&self) -> &HeaderMap {
        self.inner.headers()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.inner.header(name)
    }

    /// The next piece of the body, waiting at most `wait` for it.
    pub fn chunk(&mut self, wait: Duration) -> Result<Option<Bytes>, Error> {
        let Response { runtime, inner } = self;
        // The timer must be made inside the runtime.
        match runtime.block_on(async { tokio::time::timeout(wait, inner.chunk()).await }) {
            Ok(chunk) => chunk,
            Err(_) => Err(Error::Timeout { what: inner.what().to_string(), after: wait }),
        }
    }

    /// Reads the rest of the body (at most `max_body` bytes).
    pub fn into_reply(self, max_body: usize) -> Result<Reply, Error> {
        self.runtime.block_on(self.inner.into_reply(max_body))
    }
}
