//! Where the engine listens: `unix:///path`, `vsock://:PORT` (any CID, the
//! guest side of berth's host link) or `tcp://127.0.0.1:PORT`.
//!
//! TCP is accepted only on loopback addresses: the Docker API is root on the
//! machine, and nothing in berth listens on a network unless a user asks
//! for a published port.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenAddr {
    Unix(PathBuf),
    Vsock { port: u32 },
    Tcp(SocketAddr),
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ListenAddrError {
    #[error("listen address {0:?} has no scheme: use unix:///path, vsock://:port or tcp://127.0.0.1:port")]
    NoScheme(String),
    #[error("listen address {0:?}: unknown scheme (use unix://, vsock:// or tcp://)")]
    UnknownScheme(String),
    #[error("listen address {0:?}: the path must be absolute")]
    RelativePath(String),
    #[error("listen address {0:?}: expected vsock://:PORT with a decimal port")]
    BadVsockPort(String),
    #[error("listen address {0:?}: expected tcp://IP:PORT")]
    BadTcp(String),
    #[error("listen address {0:?}: TCP is only served on loopback")]
    NotLoopback(String),
}

impl FromStr for ListenAddr {
    type Err = ListenAddrError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (scheme, rest) = s.split_once("://").ok_or_else(|| ListenAddrError::NoScheme(s.into()))?;
        match scheme {
            "unix" => {
                if !rest.starts_with('/') {
                    return Err(ListenAddrError::RelativePath(s.into()));
                }
                Ok(ListenAddr::Unix(PathBuf::from(rest)))
            }
            "vsock" => {
                // The CID part is optional and must be "any": a guest can
                // only listen on its own CID.
                let port = rest.rsplit_once(':').map_or(rest, |(_, p)| p);
                port.parse().map(|port| ListenAddr::Vsock { port }).map_err(|_| ListenAddrError::BadVsockPort(s.into()))
            }
            "tcp" => {
                let addr: SocketAddr = rest.parse().map_err(|_| ListenAddrError::BadTcp(s.into()))?;
                if !addr.ip().is_loopback() {
                    return Err(ListenAddrError::NotLoopback(s.into()));
                }
                Ok(ListenAddr::Tcp(addr))
            }
            _ => Err(ListenAddrError::UnknownScheme(s.into())),
        }
    }
}

impl std::fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ListenAddr::Unix(p) => write!(f, "unix://{}", p.display()),
            ListenAddr::Vsock { port } => write!(f, "vsock://:{port}"),
            ListenAddr::Tcp(a) => write!(f, "tcp://{a}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_scheme() {
        assert_eq!("unix:///run/berth/docker.sock".parse(), Ok(ListenAddr::Unix("/run/berth/docker.sock".into())));
        assert_eq!("vsock://:2375".parse(), Ok(ListenAddr::Vsock { port: 2375 }));
        assert_eq!("vsock://2375".parse(), Ok(ListenAddr::Vsock { port: 2375 }));
        assert_eq!("tcp://127.0.0.1:2375".parse(), Ok(ListenAddr::Tcp("127.0.0.1:2375".parse().unwrap())));
    }

    #[test]
    fn rejects_bad_addresses() {
        assert!(matches!("/run/x.sock".parse::<ListenAddr>(), Err(ListenAddrError::NoScheme(_))));
        assert!(matches!("unix://run/x.sock".parse::<ListenAddr>(), Err(ListenAddrError::RelativePath(_))));
        assert!(matches!("vsock://:http".parse::<ListenAddr>(), Err(ListenAddrError::BadVsockPort(_))));
        assert!(matches!("tcp://0.0.0.0:2375".parse::<ListenAddr>(), Err(ListenAddrError::NotLoopback(_))));
        assert!(matches!("http://x".parse::<ListenAddr>(), Err(ListenAddrError::UnknownScheme(_))));
    }
}
