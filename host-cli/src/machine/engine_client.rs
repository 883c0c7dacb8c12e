//! Blocking calls to a machine's engine about the machine itself (up? shut
//! down), over its docker.sock, through berth-http. Container work goes
//! through a real Docker client; the shell's calls are async (shell.rs).
//!
//! Owns no HTTP of its own; it must never be called from async code.

use std::path::Path;
use std::time::Duration;

use berth_http::{Endpoint, Method, Request, blocking};

/// These routes answer a few bytes of JSON at most.
const MAX_BODY: usize = 64 * 1024;

/// Sends `method path` with an empty body; returns the status code.
pub fn request(socket: &Path, method: Method, path: &str, timeout: Duration) -> Result<u16, berth_http::Error> {
    let client = blocking::Client::new(Endpoint::Unix(socket.to_path_buf()))?.timeout(timeout);
    Ok(client.send(Request::new(method, path), MAX_BODY)?.status)
}

/// `GET path`: the whole reply, at most `max_body` bytes.
pub fn get(
    socket: &Path,
    path: &str,
    max_body: usize,
    timeout: Duration,
) -> Result<berth_http::Reply, berth_http::Error> {
    let client = blocking::Client::new(Endpoint::Unix(socket.to_path_buf()))?.timeout(timeout);
    client.send(Request::new(Method::GET, path), max_body)
}

pub fn ping(socket: &Path) -> bool {
    matches!(request(socket, Method::GET, "/_ping", Duration::from_secs(5)), Ok(200))
}
