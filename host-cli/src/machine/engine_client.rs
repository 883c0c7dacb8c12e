//! Just enough HTTP/1.1 to ask a machine's engine whether it is up and to
//! ask it to shut down, over the machine's docker.sock. Everything richer
//! goes through a real Docker client.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

/// Sends `method path` with an empty body; returns the status code.
pub fn request(socket: &Path, method: &str, path: &str, timeout: Duration) -> std::io::Result<u16> {
    let mut s = UnixStream::connect(socket)?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    write!(s, "{method} {path} HTTP/1.1\r\nHost: berth\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")?;
    let mut head = [0u8; 64];
    let mut n = 0;
    while n < 12 {
        let r = s.read(&mut head[n..])?;
        if r == 0 {
            break;
        }
        n += r;
    }
    let text = String::from_utf8_lossy(&head[..n]);
    text.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidData, "no HTTP status from the engine"))
}

pub fn ping(socket: &Path) -> bool {
    matches!(request(socket, "GET", "/_ping", Duration::from_secs(5)), Ok(200))
}
