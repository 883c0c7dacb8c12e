//! `GET /images/json?filters=…` (what the filters select is
//! `crate::image::view`'s).

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use crate::api::error::ApiError;
use crate::api::error::json_response;
use crate::api::extract::DockerQuery;
use crate::api::filters::parse_filters;
use crate::engine::Engine;

type Result<T> = std::result::Result<T, ApiError>;

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct ListQuery {
    filters: Option<String>,
}

pub(super) async fn list(
    State(engine): State<Arc<Engine>>,
    DockerQuery(q): DockerQuery<ListQuery>,
) -> Result<Response> {
    let f = parse_filters(q.filters.as_deref())?;
    Ok(json_response(StatusCode::OK, &engine.list_images(&f)?))
}
