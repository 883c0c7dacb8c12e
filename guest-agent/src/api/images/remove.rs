//! `DELETE /images/{name}?force=` and `POST /images/prune?filters=` (the
//! rules are `crate::image::removal`'s).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use crate::api::error::ApiError;
use crate::api::error::json_response;
use crate::api::extract as de;
use crate::api::extract::DockerQuery;
use crate::api::filters::parse_filters;
use crate::engine::Engine;

type Result<T> = std::result::Result<T, ApiError>;

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct DeleteQuery {
    #[serde(deserialize_with = "de::flag")]
    force: bool,
}

pub(super) async fn delete(
    State(engine): State<Arc<Engine>>,
    Path(name): Path<String>,
    DockerQuery(q): DockerQuery<DeleteQuery>,
) -> Result<Response> {
    Ok(json_response(StatusCode::OK, &engine.remove_image(&name, q.force).await?))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct PruneQuery {
    filters: Option<String>,
}

pub(super) async fn prune(
    State(engine): State<Arc<Engine>>,
    DockerQuery(q): DockerQuery<PruneQuery>,
) -> Result<Response> {
    let f = parse_filters(q.filters.as_deref())?;
    Ok(json_response(StatusCode::OK, &engine.prune_images(&f).await?))
}
