//! `POST /auth` (docker login): the engine checks the credentials against
//! the registry (`Engine::login`) and says whether they work: 200
//! `{"Status":"Login Succeeded","IdentityToken":""}`, or 401 with a message
//! naming the registry.
//!
//! Owns the HTTP side only; it must never log a password.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use super::error::{ApiError, json_response};
use super::extract::DockerJson;
use crate::engine::Engine;
use crate::engine::images::Login;

pub async fn login(
    State(engine): State<Arc<Engine>>,
    DockerJson(req): DockerJson<Login>,
) -> Result<Response, ApiError> {
    Ok(json_response(StatusCode::OK, &engine.login(req).await?))
}
