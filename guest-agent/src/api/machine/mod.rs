//! `/berth/v1/...`: machine-level work that the Docker API has no words
//! for. The host's machine process uses these over vsock.

pub mod shell;

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use super::error::json_response;
use crate::engine::Engine;

/// `GET /berth/v1/health`: the agent is up and serving.
pub async fn health(State(engine): State<Arc<Engine>>) -> Response {
    json_response(StatusCode::OK, &serde_json::json!({ "Status": "ok", "InVM": engine.in_vm() }))
}

/// `POST /berth/v1/shutdown`: stop serving; as PID 1, the agent then
/// syncs, unmounts and powers the VM off. Answered before the shutdown
/// starts so the caller sees it accepted.
pub async fn shutdown(State(engine): State<Arc<Engine>>) -> Response {
    engine.request_shutdown();
    json_response(StatusCode::ACCEPTED, &serde_json::json!({ "Status": "shutting down" }))
}
