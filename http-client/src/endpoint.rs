//! Where a request goes, and dialing it: a UNIX socket, an AF_VSOCK port
//! (the guest's engine from a host with vhost-vsock), a VMM's hybrid-vsock
//! socket, or TCP.
//!
//! Owns only the connect step; it must never read or write a byte of the
//! HTTP exchange itself.

use std::fmt;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::error::Error;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Unix(PathBuf),
    /// `host:port`.
    Tcp(String),
    Vsock {
        cid: u32,
        port: u32,
    },
    /// A VMM's hybrid-vsock socket (Firecracker's protocol, which
    /// berth-vmm speaks): a unix socket on which `CONNECT <port>\n` asks
    /// for a stream to the guest's vsock `port`, answered `OK <n>\n` once
    /// the guest accepted. For clients that talk to a guest's engine with
    /// no `berth machine` process in between (the test bed's boot loop).
    HybridVsock {
        uds: PathBuf,
        port: u32,
    },
}

impl Endpoint {
    /// `unix:///path`, `tcp://host:port` or `vsock://cid:port`, as
    /// `DOCKER_HOST` spells the first two.
    pub fn from_url(url: &str) -> Result<Endpoint, Error> {
        if let Some(path) = url.strip_prefix("unix://") {
            return Ok(Endpoint::Unix(path.into()));
        }
        if let Some(addr) = url.strip_prefix("tcp://") {
            return Ok(Endpoint::Tcp(addr.trim_end_matches('/').to_string()));
        }
        if let Some((cid, port)) = url.strip_prefix("vsock://").and_then(|a| a.split_once(':'))
            && let (Ok(cid), Ok(port)) = (cid.parse(), port.parse())
        {
            return Ok(Endpoint::Vsock { cid, port });
        }
        Err(Error::Endpoint(url.to_string()))
    }

    /// The `Host` header: the address for TCP; the engine's name for
    /// sockets, which have no host.
    pub(crate) fn host_header(&self) -> &str {
        match self {
            Endpoint::Tcp(addr) => addr,
            Endpoint::Unix(_) | Endpoint::Vsock { .. } | Endpoint::HybridVsock { .. } => "berth",
        }
    }

    pub(crate) async fn dial(&self) -> Result<Stream, Error> {
        let connected = match self {
            Endpoint::Unix(path) => tokio::net::UnixStream::connect(path).await.map(Stream::Unix),
            Endpoint::Tcp(addr) => tokio::net::TcpStream::connect(addr.as_str()).await.map(Stream::Tcp),
            Endpoint::Vsock { cid, port } => {
                tokio_vsock::VsockStream::connect(tokio_vsock::VsockAddr::new(*cid, *port)).await.map(Stream::Vsock)
            }
            Endpoint::HybridVsock { uds, port } => hybrid_connect(uds, *port).await.map(Stream::Unix),
        };
        connected.map_err(|source| Error::Connect { endpoint: self.to_string(), source })
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Unix(path) => write!(f, "unix://{}", path.display()),
            Endpoint::Tcp(addr) => write!(f, "tcp://{addr}"),
            Endpoint::Vsock { cid, port } => write!(f, "vsock://{cid}:{port}"),
            Endpoint::HybridVsock { uds, port } => write!(f, "unix://{} (hybrid vsock, port {port})", uds.display()),
        }
    }
}

/// The longest answer line a hybrid-vsock socket gives (`OK <u32>\n`).
const HYBRID_ANSWER_MAX: usize = 32;

/// Connects to `uds` and asks for the guest's vsock `port`. The answer is
/// read a byte at a time so that nothing of the guest's stream after the
/// line is consumed. A socket that closes, or answers anything but `OK`,
/// is a refused connection (the guest does not listen yet).
async fn hybrid_connect(uds: &Path, port: u32) -> std::io::Result<tokio::net::UnixStream> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::UnixStream::connect(uds).await?;
    s.write_all(format!("CONNECT {port}\n").as_bytes()).await?;
    let mut line = Vec::with_capacity(HYBRID_ANSWER_MAX);
    loop {
        let mut b = [0u8; 1];
        if s.read(&mut b).await? == 0 || line.len() == HYBRID_ANSWER_MAX {
            break;
        }
        if b[0] == b'\n' {
            if line.starts_with(b"OK ") {
                return Ok(s);
            }
            break;
        }
        line.push(b[0]);
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::ConnectionRefused,
        format!("CONNECT {port} answered {:?}", String::from_utf8_lossy(&line)),
    ))
}

/// A connected stream of any kind (an enum rather than a boxed trait
/// object: three kinds, no allocation).
pub(crate) enum Stream {
    Unix(tokio::net::UnixStream),
    Tcp(tokio::net::TcpStream),
    Vsock(tokio_vsock::VsockStream),
}

impl AsyncRead for Stream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Unix(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Vsock(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Stream::Unix(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Vsock(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Unix(s) => Pin::new(s).poll_flush(cx),
            Stream::Tcp(s) => Pin::new(s).poll_flush(cx),
            Stream::Vsock(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Unix(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Vsock(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_to_endpoints_and_print_back() {
        for url in ["unix:///run/berth/docker.sock", "tcp://127.0.0.1:2375", "vsock://3:2375"] {
            assert_eq!(Endpoint::from_url(url).unwrap().to_string(), url);
        }
        assert_eq!(Endpoint::from_url("vsock://3:2375").unwrap(), Endpoint::Vsock { cid: 3, port: 2375 });
        for bad in ["ssh://host", "vsock://3", "vsock://x:1", "/run/x.sock"] {
            assert!(matches!(Endpoint::from_url(bad), Err(Error::Endpoint(_))), "{bad}");
        }
    }
}
