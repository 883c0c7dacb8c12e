//! One HTTP/1.1 request with a JSON body to the engine, for the few routes
//! the client crate has no call for (`POST /auth`) or models differently. Blocking, one
//! connection per request, `Connection: close`.

use std::io::{Read, Write};
use std::time::Duration;

use crate::engine_target::Endpoint;

pub struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
}

trait Stream: Read + Write {}
impl<T: Read + Write> Stream for T {}

pub fn post_json(endpoint: &Endpoint, path: &str, body: &str, timeout: Duration) -> std::io::Result<Reply> {
    request(endpoint, "POST", path, body, timeout)
}

/// `GET path` (for replies whose shape changed after the API version the
/// client crate models, e.g. `/system/df`).
pub fn get(endpoint: &Endpoint, path: &str, timeout: Duration) -> std::io::Result<Reply> {
    request(endpoint, "GET", path, "", timeout)
}

fn request(endpoint: &Endpoint, method: &str, path: &str, body: &str, timeout: Duration) -> std::io::Result<Reply> {
    let mut s: Box<dyn Stream> = if let Some(p) = endpoint.unix_path() {
        let s = std::os::unix::net::UnixStream::connect(p)?;
        s.set_read_timeout(Some(timeout))?;
        Box::new(s)
    } else {
        let addr = endpoint.url.trim_start_matches("tcp://");
        let s = std::net::TcpStream::connect(addr)?;
        s.set_read_timeout(Some(timeout))?;
        Box::new(s)
    };
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: berth\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let bad = || std::io::Error::new(std::io::ErrorKind::InvalidData, "no HTTP reply from the engine");
    let head_end = raw.windows(4).position(|w| w == b"\r\n\r\n").ok_or_else(bad)?;
    let head = String::from_utf8_lossy(&raw[..head_end]).to_ascii_lowercase();
    let status = head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).ok_or_else(bad)?;
    let mut body = raw[head_end + 4..].to_vec();
    if head.contains("transfer-encoding: chunked") {
        body = dechunk(&body);
    }
    Ok(Reply { status, body })
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = b.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(String::from_utf8_lossy(&b[..eol]).trim(), 16).unwrap_or(0);
        if size == 0 || b.len() < eol + 2 + size {
            break;
        }
        out.extend_from_slice(&b[eol + 2..eol + 2 + size]);
        b = &b[(eol + 4 + size).min(b.len())..];
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn dechunks() {
        assert_eq!(super::dechunk(b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"), b"abcde");
    }
}
