//! The async client: one connection per request, HTTP/1.1 through hyper.
//! A reply comes back whole (status, headers, body up to a cap the caller
//! sets), as a head whose body streams, or as an upgraded raw stream.
//!
//! Owns the exchange and its timeout; it must never return a body that
//! its framing says is incomplete (hyper's strict decoder reports a bad
//! chunk size, a short body or a missing status line as an error).

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::HeaderMap;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::endpoint::Endpoint;
use crate::error::Error;
use crate::request::Request;

/// A client of one endpoint. Cheap to clone; holds no connection.
#[derive(Debug, Clone)]
pub struct Client {
    endpoint: Endpoint,
    timeout: Option<Duration>,
}

impl Client {
    /// No timeout until `timeout` sets one.
    pub fn new(endpoint: Endpoint) -> Client {
        Client { endpoint, timeout: None }
    }

    /// Bounds each exchange: connect, request and reply head, and for
    /// `send` the whole body too. A streamed body is the caller's to bound.
    pub fn timeout(mut self, after: Duration) -> Client {
        self.timeout = Some(after);
        self
    }

    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// Sends `req` and reads the whole reply; a body over `max_body` bytes
    /// is an error.
    pub async fn send(&self, req: Request, max_body: usize) -> Result<Reply, Error> {
        let what = req.what();
        self.within(&what, async { self.exchange(req).await?.into_reply(max_body).await }).await
    }

    /// Sends `req` and returns as soon as the reply's head has arrived; the
    /// body (or the upgraded stream) is read from the `Response`.
    pub async fn stream(&self, req: Request) -> Result<Response, Error> {
        let what = req.what();
        self.within(&what, self.exchange(req)).await
    }

    async fn within<T>(&self, what: &str, exchange: impl Future<Output = Result<T, Error>>) -> Result<T, Error> {
        match self.timeout {
            None => exchange.await,
            Some(after) => tokio::time::timeout(after, exchange)
                .await
                .unwrap_or_else(|_| Err(Error::Timeout { what: what.to_string(), after })),
        }
    }

    async fn exchange(&self, req: Request) -> Result<Response, Error> {
        let what = req.what();
        let req = req.build(self.endpoint.host_header())?;
        let io = TokioIo::new(self.endpoint.dial().await?);
        let (mut sender, conn) = hyper::client::conn::http1::handshake(io).await.map_err(|e| Error::http(&what, e))?;
        // The connection's own errors reach the request or its body; this
        // task only drives it (and hands it over on an upgrade).
        tokio::spawn(async move {
            let _ = conn.with_upgrades().await;
        });
        let inner = sender.send_request(req).await.map_err(|e| Error::http(&what, e))?;
        Ok(Response { what, inner })
    }
}

/// A whole reply.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body as text (invalid UTF-8 replaced), for messages.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A reply whose head has arrived; its body has not been read.
#[derive(Debug)]
pub struct Response {
    what: String,
    inner: hyper::Response<Incoming>,
}

impl Response {
    pub fn status(&self) -> u16 {
        self.inner.status().as_u16()
    }

    pub fn headers(&self) -> &HeaderMap {
        self.inner.headers()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.inner.headers().get(name).and_then(|v| v.to_str().ok())
    }

    pub(crate) fn what(&self) -> &str {
        &self.what
    }

    /// The next piece of the body as it arrives; `None` at its proper end.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, Error> {
        loop {
            match self.inner.body_mut().frame().await {
                None => return Ok(None),
                Some(Err(e)) => return Err(Error::http(&self.what, e)),
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data()
                        && !data.is_empty()
                    {
                        return Ok(Some(data));
                    }
                    // Trailers, or an empty frame: read on.
                }
            }
        }
    }

    /// Reads the rest of the body (at most `max_body` bytes).
    pub async fn into_reply(mut self, max_body: usize) -> Result<Reply, Error> {
        let mut body = BytesMut::new();
        while let Some(data) = self.chunk().await? {
            if body.len() + data.len() > max_body {
                return Err(Error::TooLarge { what: self.what, limit: max_body });
            }
            body.extend_from_slice(&data);
        }
        let status = self.status();
        Ok(Reply { status, headers: self.inner.into_parts().0.headers, body: body.freeze() })
    }

    /// The raw duplex stream after a `101 Switching Protocols` (requested
    /// with `Request::upgrade`); bytes the server sent right after the head
    /// come first. Any other status is `Error::NotUpgraded` (read the body
    /// first for the server's reason).
    pub async fn upgrade(self) -> Result<Upgraded, Error> {
        let status = self.status();
        if status != 101 {
            return Err(Error::NotUpgraded { what: self.what, status });
        }
        let io = hyper::upgrade::on(self.inner).await.map_err(|e| Error::http(&self.what, e))?;
        Ok(Upgraded(TokioIo::new(io)))
    }
}

/// An upgraded connection: tokio's `AsyncRead` + `AsyncWrite`.
#[derive(Debug)]
pub struct Upgraded(TokioIo<hyper::upgrade::Upgraded>);

impl AsyncRead for Upgraded {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_read(cx, buf)
    }
}

impl AsyncWrite for Upgraded {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_shutdown(cx)
    }
}
