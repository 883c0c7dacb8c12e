//! `/berth/v1/shell`: a shell in the VM over a hijacked connection, the
//! way `docker exec` streams (POST with a JSON body and `Upgrade: tcp`,
//! answered `101`, then raw bytes both ways). The session id comes back in
//! the `Berth-Shell-Id` header for resizing and for the exit code.
//!
//! Only inside a VM: in process mode the "machine" is the host.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::api::error::{ApiError, json_response};
use crate::api::hijack::{Conn, RAW, hijack};
use crate::engine::Engine;
use crate::shell::{Session, ShellIo, ShellRequest};

/// Header that carries the session id on the `101` reply.
pub const SESSION_HEADER: &str = "Berth-Shell-Id";

const MAX_REQUEST: usize = 1 << 20;

/// `POST /berth/v1/shell` with `{"Cmd": [...], "Tty": bool, "Env": [...],
/// "Height": h, "Width": w}`; an empty `Cmd` is a login shell.
pub async fn start(State(engine): State<Arc<Engine>>, req: Request) -> Result<Response, ApiError> {
    // The body comes before the switch; the upgrade travels in the parts.
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, MAX_REQUEST)
        .await
        .map_err(|e| ApiError::bad_request(format!("cannot read the request: {e}")))?;
    let shell: ShellRequest = if body.is_empty() {
        ShellRequest::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| ApiError::bad_request(format!("bad shell request: {e}")))?
    };
    let (session, io) = engine.spawn_shell(&shell)?;
    let id = session.id.clone();
    let hangup = HangUpOnDrop(session.clone());
    let mut resp = hijack(Request::from_parts(parts, Body::empty()), RAW, move |conn| async move {
        pump(conn, io, &session).await;
        drop(hangup);
    });
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert(SESSION_HEADER, v);
    }
    Ok(resp)
}

/// Ends the session's processes (its own process group) if the stream is
/// gone while they still run: a client that vanished before the switch, or
/// a process that outlived its output.
struct HangUpOnDrop(Arc<Session>);

impl Drop for HangUpOnDrop {
    fn drop(&mut self) {
        if self.0.exit_code().is_none() {
            let group = nix::unistd::Pid::from_raw(-(self.0.pid as i32));
            let _ = nix::sys::signal::kill(group, nix::sys::signal::Signal::SIGHUP);
        }
    }
}

/// Client bytes to the process until the client half-closes; process
/// output to the client until the process is done with it; then the
/// connection is closed once the exit code is known, so a client that
/// reads to EOF can fetch it at once.
async fn pump(stream: Conn, io: ShellIo, session: &Session) {
    let (mut from_client, mut to_client) = tokio::io::split(stream);
    let ShellIo { mut input, mut output } = io;
    let stdin = tokio::spawn(async move {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            match from_client.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if input.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            }
        }
        // Dropping `input` closes the process's stdin (pipes); on a pty the
        // process keeps its terminal until it exits.
    });
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        // A pty master reports EIO once the last slave is closed.
        match output.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if to_client.write_all(&buf[..n]).await.is_err() {
                    break;
                }
            }
        }
    }
    // The output ends when the process (and everything it started on the
    // terminal) is done; what the client still sends has nowhere to go.
    stdin.abort();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(10), session.wait()).await;
    let _ = to_client.shutdown().await;
}

#[derive(serde::Deserialize)]
pub struct ResizeQuery {
    h: u16,
    w: u16,
}

/// `POST /berth/v1/shell/{id}/resize?h=&w=`.
pub async fn resize(
    State(engine): State<Arc<Engine>>,
    Path(id): Path<String>,
    Query(q): Query<ResizeQuery>,
) -> Result<Response, ApiError> {
    engine.shell(&id)?.resize(q.h, q.w).map_err(crate::engine::EngineError::from)?;
    Ok(StatusCode::OK.into_response())
}

/// `GET /berth/v1/shell/{id}/json`: `{"Running", "ExitCode", "Pid"}`. An
/// exited session is forgotten once its code has been read.
pub async fn inspect(State(engine): State<Arc<Engine>>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let session = engine.shell(&id)?;
    let code = session.exit_code();
    let reply = json_response(
        StatusCode::OK,
        &serde_json::json!({ "Running": code.is_none(), "ExitCode": code, "Pid": session.pid }),
    );
    engine.release_shell(&id);
    Ok(reply)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
    use tokio::net::TcpStream;

    use super::*;

    async fn serve(in_vm: bool) -> (std::net::SocketAddr, Arc<Engine>, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let engine = Arc::new(Engine::open(dir.path(), in_vm).unwrap());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = crate::api::app(engine.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (addr, engine, dir)
    }

    /// Sends the upgrade request; returns the stream after the reply's
    /// head, the status line and the session id.
    async fn open(addr: std::net::SocketAddr, body: &str) -> (BufReader<TcpStream>, String, Option<String>) {
        let mut s = TcpStream::connect(addr).await.unwrap();
        let head = format!(
            "POST /v1.50/berth/v1/shell HTTP/1.1\r\nHost: berth\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        s.write_all(head.as_bytes()).await.unwrap();
        let mut r = BufReader::new(s);
        let mut status = String::new();
        r.read_line(&mut status).await.unwrap();
        let mut id = None;
        loop {
            let mut line = String::new();
            r.read_line(&mut line).await.unwrap();
            if line.trim().is_empty() {
                break;
            }
            if let Some((k, v)) = line.split_once(':')
                && k.eq_ignore_ascii_case(SESSION_HEADER)
            {
                id = Some(v.trim().to_string());
            }
        }
        (r, status, id)
    }

    #[tokio::test]
    async fn a_shell_streams_both_ways_and_reports_its_exit_code() {
        let (addr, engine, _dir) = serve(true).await;
        let (mut r, status, id) = open(addr, r#"{"Cmd":["sh","-c","read x; echo got $x; exit 3"]}"#).await;
        assert!(status.starts_with("HTTP/1.1 101"), "{status}");
        let id = id.expect("session id header");
        let pid = engine.shell(&id).unwrap().pid;
        tokio::spawn(async move {
            for _ in 0..500 {
                crate::children::reap_pid(pid);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        });
        r.get_mut().write_all(b"hello\n").await.unwrap();
        let mut out = String::new();
        tokio::time::timeout(Duration::from_secs(10), r.read_to_string(&mut out)).await.unwrap().unwrap();
        assert_eq!(out, "got hello\n");

        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(
            format!("GET /berth/v1/shell/{id}/json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .unwrap();
        let mut reply = String::new();
        s.read_to_string(&mut reply).await.unwrap();
        assert!(reply.contains(r#""ExitCode":3"#) && reply.contains(r#""Running":false"#), "{reply}");
    }

    #[tokio::test]
    async fn process_mode_refuses_a_machine_shell() {
        let (addr, _engine, _dir) = serve(false).await;
        let (mut r, status, _) = open(addr, "{}").await;
        assert!(status.starts_with("HTTP/1.1 503"), "{status}");
        // The body of a kept-alive reply: read what arrives.
        let mut buf = [0u8; 512];
        let n = tokio::time::timeout(Duration::from_secs(5), r.read(&mut buf)).await.unwrap().unwrap();
        let rest = String::from_utf8_lossy(&buf[..n]);
        assert!(rest.contains("only inside a berth machine"), "{rest}");
    }

    #[tokio::test]
    async fn a_malformed_request_is_a_400_and_starts_nothing() {
        let (addr, _engine, _dir) = serve(true).await;
        let (_, status, id) = open(addr, r#"{"Cmd": 7}"#).await;
        assert!(status.starts_with("HTTP/1.1 400"), "{status}");
        assert!(id.is_none());
    }
}
