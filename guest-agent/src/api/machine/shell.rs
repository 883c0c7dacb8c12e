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

    use berth_http::{Client, Endpoint, Request};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    async fn serve(in_vm: bool) -> (Client, Arc<Engine>, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let engine = Arc::new(Engine::open(dir.path(), in_vm).unwrap());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = crate::api::app(engine.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (Client::new(Endpoint::Tcp(addr.to_string())).timeout(Duration::from_secs(10)), engine, dir)
    }

    /// Sends the upgrade request; returns the reply as soon as its head is in.
    async fn open(client: &Client, body: &str) -> berth_http::Response {
        let req = Request::post("/v1.50/berth/v1/shell").upgrade("tcp").bytes("application/json", body.to_string());
        client.stream(req).await.unwrap()
    }

    #[tokio::test]
    async fn a_shell_streams_both_ways_and_reports_its_exit_code() {
        let (client, engine, _dir) = serve(true).await;
        let reply = open(&client, r#"{"Cmd":["sh","-c","read x; echo got $x; exit 3"]}"#).await;
        assert_eq!(reply.status(), 101);
        let id = reply.header(SESSION_HEADER).expect("session id header").to_string();
        let pid = engine.shell(&id).unwrap().pid;
        tokio::spawn(async move {
            for _ in 0..500 {
                crate::children::reap_pid(pid);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        });
        let mut stream = reply.upgrade().await.unwrap();
        stream.write_all(b"hello\n").await.unwrap();
        let mut out = String::new();
        tokio::time::timeout(Duration::from_secs(10), stream.read_to_string(&mut out)).await.unwrap().unwrap();
        assert_eq!(out, "got hello\n");

        let reply = client.send(Request::get(format!("/berth/v1/shell/{id}/json")), 64 * 1024).await.unwrap();
        let text = reply.text();
        assert_eq!(reply.status, 200, "{text}");
        assert!(text.contains(r#""ExitCode":3"#) && text.contains(r#""Running":false"#), "{text}");
    }

    #[tokio::test]
    async fn process_mode_refuses_a_machine_shell() {
        let (client, _engine, _dir) = serve(false).await;
        let reply = open(&client, "{}").await;
        assert_eq!(reply.status(), 503);
        let rest = reply.into_reply(64 * 1024).await.unwrap().text();
        assert!(rest.contains("only inside a berth machine"), "{rest}");
    }

    #[tokio::test]
    async fn a_malformed_request_is_a_400_and_starts_nothing() {
        let (client, _engine, _dir) = serve(true).await;
        let reply = open(&client, r#"{"Cmd": 7}"#).await;
        assert_eq!(reply.status(), 400);
        assert!(reply.header(SESSION_HEADER).is_none());
    }
}
