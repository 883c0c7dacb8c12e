//! `GET /distribution/{name}/json`: what a registry holds for a name,
//! without pulling it (`Engine::distribution_inspect`).
//!
//! Owns the HTTP side only. Names contain slashes, so the route is a
//! wildcard whose last segment must be `json`.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::error::{ApiError, json_response};
use super::registry_access::registry_auth;
use crate::engine::Engine;

pub async fn inspect(
    State(engine): State<Arc<Engine>>,
    Path(rest): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let name = rest
        .strip_suffix("/json")
        .ok_or_else(|| ApiError::not_found(format!("page not found: /distribution/{rest}")))?;
    Ok(json_response(StatusCode::OK, &engine.distribution_inspect(name, registry_auth(&headers)).await?))
}
