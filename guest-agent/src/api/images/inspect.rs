//! `GET /images/{name}/json` and `GET /images/{name}/history`.

use axum::http::StatusCode;
use axum::response::Response;

use crate::api::error::ApiError;
use crate::api::error::json_response;
use crate::engine::Engine;

type Result<T> = std::result::Result<T, ApiError>;

pub(super) fn inspect(engine: &Engine, name: &str) -> Result<Response> {
    Ok(json_response(StatusCode::OK, &engine.image_view(name)?))
}

pub(super) fn history(engine: &Engine, name: &str) -> Result<Response> {
    Ok(json_response(StatusCode::OK, &engine.image_history(name)?))
}
