//! Exec routes: `POST /containers/{id}/exec`, `POST /exec/{id}/start`
//! (detached: an empty 200 at once; or hijacked like attach, framed unless
//! the *start* request says `Tty`, as moby does), `POST /exec/{id}/resize`,
//! `GET /exec/{id}/json`.
//!
//! Owns the HTTP side; the engine decides and runs. It must never start a
//! process before the connection is hijacked (its first output would race
//! the 101 reply, and clients reading through a buffer would lose it).

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bollard_stubs::models::{ExecConfig, ExecStartConfig};

use super::containers::ResizeQuery;
use super::containers_io::write_stream_error;
use super::error::{ApiError, json_response};
use super::extract::{DockerJson, DockerQuery, OptionalJson, decode_json_folded};
use super::hijack::{self, MULTIPLEXED, RAW};
use crate::container::error::ContainerError;
use crate::engine::Engine;

pub fn routes() -> Router<Arc<Engine>> {
    Router::new()
        .route("/containers/{id}/exec", post(create))
        .route("/exec/{id}/start", post(start))
        .route("/exec/{id}/resize", post(resize))
        .route("/exec/{id}/json", get(inspect))
}

/// `ExecConfig`'s fields, for Go's case-blind key matching.
const EXEC_CONFIG_FIELDS: &[&str] = &[
    "AttachStdin",
    "AttachStdout",
    "AttachStderr",
    "ConsoleSize",
    "DetachKeys",
    "Tty",
    "Env",
    "Cmd",
    "Privileged",
    "User",
    "WorkingDir",
];

async fn create(
    State(engine): State<Arc<Engine>>,
    Path(id): Path<String>,
    DockerJson(body): DockerJson<serde_json::Value>,
) -> Result<Response, ApiError> {
    let cfg: ExecConfig = decode_json_folded(body, EXEC_CONFIG_FIELDS)?;
    let exec_id = engine.create_exec(&id, cfg)?;
    // Docker's body is `{"Id": …}` (bollard's IdResponse says "ID").
    Ok(json_response(StatusCode::CREATED, &serde_json::json!({ "Id": exec_id })))
}

async fn start(State(engine): State<Arc<Engine>>, Path(id): Path<String>, req: Request) -> Result<Response, ApiError> {
    let (parts, body) = req.into_parts();
    let OptionalJson(cfg) = OptionalJson::<ExecStartConfig>::from_body(body, 64 * 1024).await?;
    let plan = engine.plan_exec_start(&id, &cfg)?;
    if plan.detach {
        engine.start_exec_detached(&plan).await?;
        return Ok(StatusCode::OK.into_response());
    }
    let req = Request::from_parts(parts, axum::body::Body::empty());
    let content_type = if plan.tty { RAW } else { MULTIPLEXED };
    Ok(hijack::hijack(req, content_type, move |conn| async move {
        match engine.run_exec_attached(&plan).await {
            Ok(run) => hijack::pump_then(conn, run.io, plan.stdin, run.recorded).await,
            // Docker reports a command that cannot run inside the stream,
            // and its exit code (126/127) through exec inspect.
            Err(ContainerError::CannotExec { message, .. }) => write_stream_error(conn, plan.tty, &message).await,
            Err(e) => write_stream_error(conn, plan.tty, &e.to_string()).await,
        }
    }))
}

async fn resize(
    State(engine): State<Arc<Engine>>,
    Path(id): Path<String>,
    DockerQuery(q): DockerQuery<ResizeQuery>,
) -> Result<Response, ApiError> {
    engine.resize_exec(&id, q.h.unwrap_or(0), q.w.unwrap_or(0)).await?;
    Ok(StatusCode::OK.into_response())
}

async fn inspect(State(engine): State<Arc<Engine>>, Path(id): Path<String>) -> Result<Response, ApiError> {
    Ok(json_response(StatusCode::OK, &engine.exec_view(&id)?))
}
