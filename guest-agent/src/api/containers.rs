//! Container routes of the Docker API: create, list, inspect, start, stop,
//! kill, restart, pause, unpause, rename, resize, update, changes, delete,
//! prune.
//! Streams (attach, wait, logs) are in `containers_io.rs`, stats and top in
//! `containers_stats.rs`, archive and export in `containers_archive.rs`.
//!
//! Owns the HTTP side only: each handler decodes its query and body, calls
//! one engine method and encodes the answer. It must never hold container
//! semantics or reach past the engine.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use bollard_stubs::models::{ContainerCreateBody, ContainerUpdateBody};
use serde::Deserialize;

use super::error::{ApiError, json_response};
use super::extract::{self as de, DockerQuery, OptionalJson};
use super::filters::parse_filters;
use crate::engine::Engine;
use crate::engine::containers::ListContainers;

type Result<T> = std::result::Result<T, ApiError>;

pub fn routes() -> Router<Arc<Engine>> {
    Router::new()
        .route("/containers/create", post(create))
        .route("/containers/json", get(list))
        .route("/containers/prune", post(prune))
        .route("/containers/{id}/json", get(inspect_one))
        .route("/containers/{id}/start", post(start))
        .route("/containers/{id}/stop", post(stop))
        .route("/containers/{id}/kill", post(kill))
        .route("/containers/{id}/restart", post(restart))
        .route("/containers/{id}/pause", post(pause))
        .route("/containers/{id}/unpause", post(unpause))
        .route("/containers/{id}/rename", post(rename))
        .route("/containers/{id}/resize", post(resize))
        .route("/containers/{id}/update", post(update))
        .route("/containers/{id}/changes", get(changes))
        .route("/containers/{id}", delete(remove))
        .merge(super::containers_io::routes())
        .merge(super::containers_stats::routes())
        .merge(super::containers_archive::routes())
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct CreateQuery {
    name: Option<String>,
}

async fn create(
    State(engine): State<Arc<Engine>>,
    DockerQuery(q): DockerQuery<CreateQuery>,
    OptionalJson(body): OptionalJson<ContainerCreateBody>,
) -> Result<Response> {
    // An empty body is an empty config: the engine answers Docker's "config
    // cannot be empty in order to create a container".
    let created = engine.create_container(q.name.as_deref().filter(|n| !n.is_empty()), body).await?;
    Ok(json_response(StatusCode::CREATED, &created))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ListQuery {
    #[serde(deserialize_with = "de::flag")]
    all: bool,
    #[serde(deserialize_with = "de::flag")]
    size: bool,
    #[serde(deserialize_with = "de::opt_int")]
    limit: Option<i64>,
    filters: Option<String>,
}

async fn list(State(engine): State<Arc<Engine>>, DockerQuery(q): DockerQuery<ListQuery>) -> Result<Response> {
    let opts = ListContainers {
        all: q.all,
        size: q.size,
        limit: q.limit.and_then(|n| usize::try_from(n).ok()).filter(|n| *n > 0),
        filters: parse_filters(q.filters.as_deref())?,
    };
    Ok(json_response(StatusCode::OK, &engine.list_containers(&opts)?))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct InspectQuery {
    #[serde(deserialize_with = "de::flag")]
    size: bool,
}

async fn inspect_one(
    State(engine): State<Arc<Engine>>,
    Path(id): Path<String>,
    DockerQuery(q): DockerQuery<InspectQuery>,
) -> Result<Response> {
    let mut v = serde_json::to_value(engine.container_view(&id, q.size)?).unwrap_or_default();
    // Docker sends `"ExecIDs": null` and `HostConfig.Dns: null` rather
    // than leaving them out (its Go fields have no omitempty); clients
    // index them, and compose compares `Dns` to decide on a recreate.
    if let Some(m) = v.as_object_mut() {
        m.entry("ExecIDs").or_insert(serde_json::Value::Null);
        if let Some(h) = m.get_mut("HostConfig").and_then(|h| h.as_object_mut()) {
            h.entry("Dns").or_insert(serde_json::Value::Null);
        }
    }
    Ok(json_response(StatusCode::OK, &v))
}

/// The answer to an operation with no body (a 304 comes as an error kind).
fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

async fn start(State(engine): State<Arc<Engine>>, Path(id): Path<String>) -> Result<Response> {
    engine.start_container(&id).await?;
    Ok(no_content())
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct StopQuery {
    #[serde(deserialize_with = "de::opt_int")]
    t: Option<i64>,
    signal: Option<String>,
}

async fn stop(
    State(engine): State<Arc<Engine>>,
    Path(id): Path<String>,
    DockerQuery(q): DockerQuery<StopQuery>,
) -> Result<Response> {
    engine.stop_container(&id, q.signal.as_deref(), q.t).await?;
    Ok(no_content())
}

async fn restart(
    State(engine): State<Arc<Engine>>,
    Path(id): Path<String>,
    DockerQuery(q): DockerQuery<StopQuery>,
) -> Result<Response> {
    engine.restart_container(&id, q.signal.as_deref(), q.t).await?;
    Ok(no_content())
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct KillQuery {
    signal: Option<String>,
}

async fn kill(
    State(engine): State<Arc<Engine>>,
    Path(id): Path<String>,
    DockerQuery(q): DockerQuery<KillQuery>,
) -> Result<Response> {
    engine.kill_container(&id, q.signal.as_deref()).await?;
    Ok(no_content())
}

async fn pause(State(engine): State<Arc<Engine>>, Path(id): Path<String>) -> Result<Response> {
    engine.pause_container(&id).await?;
    Ok(no_content())
}

async fn unpause(State(engine): State<Arc<Engine>>, Path(id): Path<String>) -> Result<Response> {
    engine.unpause_container(&id).await?;
    Ok(no_content())
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RenameQuery {
    name: String,
}

async fn rename(
    State(engine): State<Arc<Engine>>,
    Path(id): Path<String>,
    DockerQuery(q): DockerQuery<RenameQuery>,
) -> Result<Response> {
    engine.rename_container(&id, &q.name)?;
    Ok(no_content())
}

/// `POST /containers/{id}/update` (`docker update`): `{"Warnings": [...]}`;
/// an empty body changes nothing, as in Docker.
async fn update(
    State(engine): State<Arc<Engine>>,
    Path(id): Path<String>,
    OptionalJson(body): OptionalJson<ContainerUpdateBody>,
) -> Result<Response> {
    Ok(json_response(StatusCode::OK, &engine.update_container(&id, body).await?))
}

/// `GET /containers/{id}/changes` (`docker diff`): `[{"Path","Kind"}]`.
async fn changes(State(engine): State<Arc<Engine>>, Path(id): Path<String>) -> Result<Response> {
    let list: Vec<serde_json::Value> = engine
        .container_changes(&id)?
        .into_iter()
        .map(|ch| serde_json::json!({ "Path": ch.path, "Kind": ch.kind as u8 }))
        .collect();
    Ok(json_response(StatusCode::OK, &list))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct ResizeQuery {
    #[serde(deserialize_with = "de::opt_int")]
    pub h: Option<i64>,
    #[serde(deserialize_with = "de::opt_int")]
    pub w: Option<i64>,
}

/// `POST /containers/{id}/resize?h=&w=`: the TTY's size.
async fn resize(
    State(engine): State<Arc<Engine>>,
    Path(id): Path<String>,
    DockerQuery(q): DockerQuery<ResizeQuery>,
) -> Result<Response> {
    engine.resize_container_tty(&id, q.h.unwrap_or(0), q.w.unwrap_or(0)).await?;
    Ok(StatusCode::OK.into_response())
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RemoveQuery {
    #[serde(deserialize_with = "de::flag")]
    force: bool,
    /// `rm -v`: the container's anonymous volumes too.
    #[serde(deserialize_with = "de::flag")]
    v: bool,
}

async fn remove(
    State(engine): State<Arc<Engine>>,
    Path(id): Path<String>,
    DockerQuery(q): DockerQuery<RemoveQuery>,
) -> Result<Response> {
    engine.remove_container(&id, q.force, q.v).await?;
    Ok(no_content())
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct PruneQuery {
    pub filters: Option<String>,
}

/// `POST /containers/prune?filters=`: `until` and `label` filters.
async fn prune(State(engine): State<Arc<Engine>>, DockerQuery(q): DockerQuery<PruneQuery>) -> Result<Response> {
    let f = parse_filters(q.filters.as_deref())?;
    Ok(json_response(StatusCode::OK, &engine.prune_containers(&f).await?))
}
