//! Exec routes: `POST /containers/{id}/exec`, `POST /exec/{id}/start`
//! (detached, or hijacked like attach), `POST /exec/{id}/resize`,
//! `GET /exec/{id}/json`.
//!
//! Owns the HTTP side; exec semantics are `crate::container::exec`'s.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bollard_stubs::models::{ExecConfig, ExecStartConfig};

use super::containers_io::write_stream_error;
use super::error::{ApiError, json_response};
use super::hijack::{self, MULTIPLEXED, RAW};
use super::request::{Q, int, lookup};
use crate::container::error::ContainerError;
use crate::engine::Engine;

pub fn routes() -> Router<Arc<Engine>> {
    Router::new()
        .route("/containers/{id}/exec", post(create))
        .route("/exec/{id}/start", post(start))
        .route("/exec/{id}/resize", post(resize))
        .route("/exec/{id}/json", get(inspect))
}

async fn create(State(engine): State<Arc<Engine>>, Path(id): Path<String>, body: Bytes) -> Result<Response, ApiError> {
    let c = lookup(&engine, &id)?;
    let cfg: ExecConfig =
        serde_json::from_slice(&body).map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))?;
    let exec_id = engine.containers.create_exec(&c, cfg)?;
    // Docker's body is `{"Id": …}` (bollard's IdResponse says "ID").
    Ok(json_response(StatusCode::CREATED, &serde_json::json!({ "Id": exec_id })))
}

async fn start(State(engine): State<Arc<Engine>>, Path(id): Path<String>, req: Request) -> Result<Response, ApiError> {
    let exec = engine.containers.exec(&id)?;
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, 64 * 1024).await.map_err(|e| ApiError::bad_request(e.to_string()))?;
    let cfg: ExecStartConfig = if bytes.is_empty() {
        ExecStartConfig::default()
    } else {
        serde_json::from_slice(&bytes).map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))?
    };
    let req = Request::from_parts(parts, axum::body::Body::empty());
    let detach = cfg.detach.unwrap_or(false);
    let tty = exec.config.tty.unwrap_or(false) || cfg.tty.unwrap_or(false);
    let size = cfg.console_size.filter(|v| v.len() == 2).map(|v| (v[1] as u16, v[0] as u16));
    let content_type = if tty { RAW } else { MULTIPLEXED };
    let stdin = exec.config.attach_stdin.unwrap_or(false);
    if detach {
        engine.containers.start_exec(&exec, true, size).await?;
        return Ok(StatusCode::OK.into_response());
    }
    // What would fail the request is answered as HTTP; the process starts
    // only once the connection is hijacked, as in Docker, so its first
    // output never races the 101 response (clients that read the response
    // through a buffered reader would lose it).
    engine.containers.check_exec_startable(&exec)?;
    let containers = engine.containers.clone();
    Ok(hijack::hijack(req, content_type, move |conn| async move {
        match containers.start_exec(&exec, false, size).await {
            Ok(Some(io)) => {
                let mut exited = exec.exited.subscribe();
                let recorded = async move {
                    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), exited.wait_for(|e| *e)).await;
                };
                hijack::pump_then(conn, io, stdin, recorded).await;
            }
            // Docker reports a command that cannot run inside the stream,
            // and its exit code (126/127) through exec inspect.
            Ok(None) => write_stream_error(conn, tty, "exec started detached").await,
            Err(ContainerError::CannotExec { message, .. }) => write_stream_error(conn, tty, &message).await,
            Err(e) => write_stream_error(conn, tty, &e.to_string()).await,
        }
    }))
}

async fn resize(State(engine): State<Arc<Engine>>, Path(id): Path<String>, Query(q): Q) -> Result<Response, ApiError> {
    let exec = engine.containers.exec(&id)?;
    let (h, w) = (int(&q, "h")?.unwrap_or(0), int(&q, "w")?.unwrap_or(0));
    if !(0..=u16::MAX as i64).contains(&h) || !(0..=u16::MAX as i64).contains(&w) {
        return Err(ApiError::bad_request("invalid terminal size"));
    }
    let c = lookup(&engine, &exec.container_id)?;
    let pid = crate::unpoisoned::lock(&exec.state).pid as i32;
    if let Some(shim) = c.shim()
        && let Err(e) = shim.exec_handle(&exec.id, pid).resize(w as u16, h as u16).await
    {
        tracing::debug!(exec = %id, error = %e, "exec resize");
    }
    Ok(StatusCode::OK.into_response())
}

async fn inspect(State(engine): State<Arc<Engine>>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let exec = engine.containers.exec(&id)?;
    Ok(json_response(StatusCode::OK, &exec.inspect()))
}
