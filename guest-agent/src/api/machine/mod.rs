//! `/berth/v1/...`: machine-level work that the Docker API has no words
//! for. The host's machine process uses these over vsock.

pub mod shell;

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::error::json_response;
use crate::engine::Engine;

/// `GET /berth/v1/health`: the agent is up and serving.
pub async fn health(State(engine): State<Arc<Engine>>) -> Response {
    json_response(StatusCode::OK, &serde_json::json!({ "Status": "ok", "InVM": engine.in_vm() }))
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
pub struct EngineLogQuery {
    /// At most this many bytes from the end (default 1 MiB, at most 64 MiB).
    #[serde(deserialize_with = "super::extract::opt_int")]
    bytes: Option<i64>,
}

/// `GET /berth/v1/logs/engine?bytes=`: the end of the engine's own log, as
/// text.
pub async fn engine_log(
    State(engine): State<Arc<Engine>>,
    super::extract::DockerQuery(q): super::extract::DockerQuery<EngineLogQuery>,
) -> Result<Response, super::error::ApiError> {
    let max = q.bytes.map_or(1 << 20, |b| b.clamp(0, 64 << 20) as u64);
    let text = engine.engine_log(max)?;
    Ok(([(axum::http::header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response())
}

/// `POST /berth/v1/shutdown`: stop serving; as PID 1, the agent then
/// syncs, unmounts and powers the VM off. Answered before the shutdown
/// starts so the caller sees it accepted.
pub async fn shutdown(State(engine): State<Arc<Engine>>) -> Response {
    engine.request_shutdown();
    json_response(StatusCode::ACCEPTED, &serde_json::json!({ "Status": "shutting down" }))
}
