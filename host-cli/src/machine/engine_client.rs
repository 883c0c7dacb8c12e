//! Just enough HTTP/1.1 to talk to a machine's engine about the machine
//! itself (up? shut down; a shell's exit code), over the machine's
//! docker.sock. Container work goes through a real Docker client.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

/// A reply: status code and body.
pub struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
}

/// Sends `method path` with an empty body and reads the whole reply (the
/// request asks the engine to close the connection after it).
pub fn call(socket: &Path, method: &str, path: &str, timeout: Duration) -> std::io::Result<Reply> {
    let mut s = UnixStream::connect(socket)?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    write!(s, "{method} {path} HTTP/1.1\r\nHost: berth\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let bad = || std::io::Error::new(std::io::ErrorKind::InvalidData, "no HTTP reply from the engine");
    let head_end = raw.windows(4).position(|w| w == b"\r\n\r\n").ok_or_else(bad)?;
    let head = String::from_utf8_lossy(&raw[..head_end]);
    let status = head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).ok_or_else(bad)?;
    Ok(Reply { status, body: raw[head_end + 4..].to_vec() })
}

/// Sends `method path` with an empty body; returns the status code.
pub fn request(socket: &Path, method: &str, path: &str, timeout: Duration) -> std::io::Result<u16> {
    call(socket, method, path, timeout).map(|r| r.status)
}

pub fn ping(socket: &Path) -> bool {
    matches!(request(socket, "GET", "/_ping", Duration::from_secs(5)), Ok(200))
}
