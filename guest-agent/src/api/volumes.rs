//! Volume routes of the Docker API: create, list, inspect, remove, prune.
//!
//! Owns the HTTP side only: each handler decodes, calls one engine method
//! and encodes. The object model is `crate::volume`'s; where containers
//! meet volumes is the engine's (`engine/volumes.rs`, `engine/mounts.rs`).

use std::sync::Arc;

use axum::Router;
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bollard_stubs::models::VolumeCreateOptions;
use serde::Deserialize;

use super::error::{ApiError, json_response};
use super::extract::{self as de, DockerJson, DockerQuery};
use super::filters::{FiltersQuery, parse_filters};
use super::version::ApiVersion;
use crate::engine::Engine;

type Result<T> = std::result::Result<T, ApiError>;

pub fn routes() -> Router<Arc<Engine>> {
    Router::new()
        .route("/volumes", get(list))
        .route("/volumes/create", post(create))
        .route("/volumes/prune", post(prune))
        .route("/volumes/{name}", get(inspect).delete(remove))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RemoveQuery {
    #[serde(deserialize_with = "de::flag")]
    force: bool,
}

async fn list(State(engine): State<Arc<Engine>>, DockerQuery(q): DockerQuery<FiltersQuery>) -> Result<Response> {
    let f = parse_filters(q.filters.as_deref())?;
    Ok(json_response(StatusCode::OK, &engine.list_volumes(&f)?))
}

async fn create(
    State(engine): State<Arc<Engine>>,
    DockerJson(req): DockerJson<VolumeCreateOptions>,
) -> Result<Response> {
    Ok(json_response(StatusCode::CREATED, &engine.create_volume(req)?))
}

async fn inspect(State(engine): State<Arc<Engine>>, Path(name): Path<String>) -> Result<Response> {
    Ok(json_response(StatusCode::OK, &engine.volume_view(&name)?))
}

async fn remove(
    State(engine): State<Arc<Engine>>,
    Path(name): Path<String>,
    DockerQuery(q): DockerQuery<RemoveQuery>,
) -> Result<Response> {
    engine.remove_volume(&name, q.force)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /volumes/prune?filters=`: before API 1.42 every unused volume, from
/// it on only anonymous ones unless `all=true` (moby's rule).
async fn prune(
    State(engine): State<Arc<Engine>>,
    version: Option<Extension<ApiVersion>>,
    DockerQuery(q): DockerQuery<FiltersQuery>,
) -> Result<Response> {
    let f = parse_filters(q.filters.as_deref())?;
    let old_client = version.is_some_and(|Extension(v)| v < ApiVersion(1, 42));
    Ok(json_response(StatusCode::OK, &engine.prune_volumes(&f, old_client)?))
}
