//! What travels on the two kinds of stream: newline-delimited JSON
//! messages on the control stream, and on a data stream a one-line header
//! followed by the TCP bytes or by UDP datagrams framed by a 2-byte length.
//!
//! Owns the encodings and their bounds (a line, a header, a datagram);
//! it must never act on a message.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The longest control message (a bind request is about 120 bytes).
pub const MAX_LINE: usize = 4096;
/// The longest data-stream header (`udp [ffff:…]:65535\n` is under 60).
pub const MAX_HEADER: usize = 80;

#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("a message longer than {0} bytes")]
    TooLong(usize),
    #[error("malformed message: {0}")]
    Malformed(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    Tcp,
    Udp,
}

impl Proto {
    pub fn parse(s: &str) -> Option<Proto> {
        match s {
            "tcp" => Some(Proto::Tcp),
            "udp" => Some(Proto::Udp),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
}

/// The engine's requests to the host.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ToHost {
    /// Listen on `host` (port 0: any free one) and carry what arrives to
    /// `target`, the container's address in the guest.
    Bind { id: u64, proto: Proto, host: SocketAddr, target: SocketAddr },
    /// Close binding `id` and every connection it carries.
    Unbind { id: u64 },
}

/// The host's answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ToGuest {
    Bound {
        id: u64,
        port: u16,
    },
    /// `in_use`: the address is taken (Docker says "port is already
    /// allocated" then).
    Failed {
        id: u64,
        in_use: bool,
        message: String,
    },
}

/// One message, or None at a clean end of the stream.
pub async fn read_message<T, R>(r: &mut R) -> Result<Option<T>, WireError>
where
    T: serde::de::DeserializeOwned,
    R: AsyncBufRead + Unpin,
{
    let mut line = Vec::new();
    let n = (&mut *r).take(MAX_LINE as u64 + 1).read_until(b'\n', &mut line).await?;
    if n == 0 {
        return Ok(None);
    }
    if line.last() != Some(&b'\n') {
        return Err(if n > MAX_LINE {
            WireError::TooLong(MAX_LINE)
        } else {
            WireError::Malformed("the stream ended inside a message".into())
        });
    }
    serde_json::from_slice(&line).map(Some).map_err(|e| WireError::Malformed(e.to_string()))
}

pub async fn write_message<T: Serialize, W: AsyncWrite + Unpin>(w: &mut W, msg: &T) -> Result<(), WireError> {
    let mut line = serde_json::to_vec(msg).map_err(|e| WireError::Malformed(e.to_string()))?;
    line.push(b'\n');
    w.write_all(&line).await?;
    w.flush().await?;
    Ok(())
}

/// What a data stream carries and where to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Header {
    pub proto: Proto,
    pub target: SocketAddr,
}

impl Header {
    pub fn line(&self) -> String {
        format!("{} {}\n", self.proto.as_str(), self.target)
    }

    pub fn parse(line: &str) -> Result<Header, WireError> {
        let bad = || WireError::Malformed(format!("data header {line:?}"));
        let (proto, target) = line.trim_end_matches('\n').split_once(' ').ok_or_else(bad)?;
        Ok(Header { proto: Proto::parse(proto).ok_or_else(bad)?, target: target.parse().map_err(|_| bad())? })
    }
}

/// Reads a data stream's header byte by byte: what follows the newline is
/// the stream's payload and must stay unread.
pub async fn read_header<R: AsyncRead + Unpin>(r: &mut R) -> Result<Header, WireError> {
    let mut line = Vec::with_capacity(MAX_HEADER);
    loop {
        let b = r.read_u8().await?;
        if b == b'\n' {
            break;
        }
        if line.len() == MAX_HEADER {
            return Err(WireError::TooLong(MAX_HEADER));
        }
        line.push(b);
    }
    Header::parse(&String::from_utf8_lossy(&line))
}

/// One UDP datagram on a data stream: its length (2 bytes, big-endian),
/// then its bytes.
pub async fn write_datagram<W: AsyncWrite + Unpin>(w: &mut W, data: &[u8]) -> Result<(), WireError> {
    let len = u16::try_from(data.len()).map_err(|_| WireError::TooLong(u16::MAX as usize))?;
    let mut frame = Vec::with_capacity(2 + data.len());
    frame.extend_from_slice(&len.to_be_bytes());
    frame.extend_from_slice(data);
    w.write_all(&frame).await?;
    w.flush().await?;
    Ok(())
}

/// The next datagram into `buf`; false at a clean end of the stream.
pub async fn read_datagram<R: AsyncRead + Unpin>(r: &mut R, buf: &mut Vec<u8>) -> Result<bool, WireError> {
    let mut len = [0u8; 2];
    match r.read_exact(&mut len[..1]).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(false),
        Err(e) => return Err(e.into()),
    }
    r.read_exact(&mut len[1..]).await?;
    buf.resize(u16::from_be_bytes(len) as usize, 0);
    r.read_exact(buf).await?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn messages_round_trip_and_bounds_hold() {
        let bind = ToHost::Bind {
            id: 7,
            proto: Proto::Udp,
            host: "127.0.0.1:8080".parse().unwrap(),
            target: "172.17.0.2:53".parse().unwrap(),
        };
        let mut buf = Vec::new();
        write_message(&mut buf, &bind).await.unwrap();
        write_message(&mut buf, &ToHost::Unbind { id: 7 }).await.unwrap();
        let mut r = &buf[..];
        assert_eq!(read_message::<ToHost, _>(&mut r).await.unwrap(), Some(bind));
        assert_eq!(read_message::<ToHost, _>(&mut r).await.unwrap(), Some(ToHost::Unbind { id: 7 }));
        assert_eq!(read_message::<ToHost, _>(&mut r).await.unwrap(), None);

        let long = vec![b'x'; MAX_LINE * 2];
        assert!(matches!(read_message::<ToHost, _>(&mut &long[..]).await, Err(WireError::TooLong(_))));
        assert!(matches!(read_message::<ToHost, _>(&mut &b"{\"Bind\":"[..]).await, Err(WireError::Malformed(_))));
        assert!(matches!(read_message::<ToHost, _>(&mut &b"{\"Nope\":1}\n"[..]).await, Err(WireError::Malformed(_))));
    }

    #[tokio::test]
    async fn a_header_leaves_the_payload_unread() {
        let h = Header { proto: Proto::Tcp, target: "[fd00::2]:80".parse().unwrap() };
        let mut stream = h.line().into_bytes();
        stream.extend_from_slice(b"GET /");
        let mut r = &stream[..];
        assert_eq!(read_header(&mut r).await.unwrap(), h);
        assert_eq!(r, b"GET /");
        for bad in ["sctp 1.2.3.4:5\n", "tcp nowhere\n", "tcp\n"] {
            assert!(matches!(read_header(&mut bad.as_bytes()).await, Err(WireError::Malformed(_))), "{bad}");
        }
        let endless = vec![b'a'; 1000];
        assert!(matches!(read_header(&mut &endless[..]).await, Err(WireError::TooLong(_))));
    }

    #[tokio::test]
    async fn datagrams_keep_their_boundaries() {
        let mut buf = Vec::new();
        for d in [&b"one"[..], b"", &[9u8; 1500]] {
            write_datagram(&mut buf, d).await.unwrap();
        }
        assert!(write_datagram(&mut buf, &vec![0u8; 70_000]).await.is_err());
        let mut r = &buf[..];
        let mut got = Vec::new();
        let mut sizes = Vec::new();
        while read_datagram(&mut r, &mut got).await.unwrap() {
            sizes.push(got.len());
        }
        assert_eq!(sizes, [3, 0, 1500]);
        // A stream cut inside a frame is an error, not an empty datagram.
        assert!(read_datagram(&mut &[0u8, 5, 1][..], &mut got).await.is_err());
    }
}
