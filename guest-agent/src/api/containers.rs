//! Container routes of the Docker API: create, list, inspect, start, stop,
//! kill, restart, pause, unpause, rename, resize, delete, prune. Streams
//! (attach, wait, logs) are in `containers_io.rs`, stats and top in
//! `containers_stats.rs`, archive and export in `containers_archive.rs`.
//!
//! Owns the HTTP side only: query parameters, bodies, status codes and
//! Docker's JSON shapes. Container semantics are `crate::container`'s.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use bollard_stubs::models::{ContainerCreateBody, ContainerCreateResponse, ContainerPruneResponse};

use super::error::{ApiError, json_response};
use super::request::{Q, flag, int, lookup};
use crate::container::error::ContainerError;
use crate::container::{Container, Containers, filters, inspect};
use crate::engine::Engine;

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
        .route("/containers/{id}/changes", get(changes))
        .route("/containers/{id}", delete(remove))
        .merge(super::containers_io::routes())
        .merge(super::containers_stats::routes())
        .merge(super::containers_archive::routes())
}

impl From<ContainerError> for ApiError {
    fn from(e: ContainerError) -> ApiError {
        let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if status.is_server_error() {
            tracing::warn!(error = %e, "container operation failed");
        }
        ApiError::new(status, e.to_string())
    }
}

/// The answer to an operation with no body: 204, or Docker's bare 304.
pub fn done(r: Result<(), ContainerError>) -> Response {
    match r {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(ContainerError::NotModified) => StatusCode::NOT_MODIFIED.into_response(),
        Err(e) => ApiError::from(e).into_response(),
    }
}

fn containers(engine: &Engine) -> &Arc<Containers> {
    &engine.containers
}

async fn create(State(engine): State<Arc<Engine>>, Query(q): Q, body: Bytes) -> Result<Response, ApiError> {
    if body.is_empty() {
        return Err(ApiError::bad_request("config cannot be empty in order to create a container"));
    }
    let body: ContainerCreateBody =
        serde_json::from_slice(&body).map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))?;
    let joins = super::networks::planned_joins(&engine, &body)?;
    let (id, warnings) = containers(&engine).create(q.get("name").map(String::as_str), body).await?;
    if let Err(e) = super::networks::join_all(&engine, &id, joins) {
        // Nothing half-made stays behind: the container goes with its endpoints.
        engine.networks.forget_container(&id);
        if let Ok(c) = engine.containers.get(&id)
            && let Err(e) = containers(&engine).remove(&c, true).await
        {
            tracing::warn!(%id, error = %e, "removing a container whose networks could not be joined");
        }
        return Err(e.into());
    }
    Ok(json_response(StatusCode::CREATED, &ContainerCreateResponse { id, warnings }))
}

async fn list(State(engine): State<Arc<Engine>>, Query(q): Q) -> Result<Response, ApiError> {
    let f = filters::parse(q.get("filters").map(String::as_str)).map_err(ApiError::bad_request)?;
    filters::validate_container_filters(&f).map_err(ApiError::bad_request)?;
    let all = flag(&q, "all");
    let with_size = flag(&q, "size");
    let limit = int(&q, "limit")?.filter(|n| *n > 0);
    let cs = containers(&engine);
    let ancestor = |v: &str, r: &crate::container::record::ContainerRecord| {
        r.image == v || r.image_id == v || cs.images.resolve(v).is_ok_and(|img| img.id.to_string() == r.image_id)
    };
    let created_of = |key: &str| cs.get(key).ok().map(|c| c.record().created);
    let in_network = |v: &str, r: &crate::container::record::ContainerRecord| {
        engine.networks.endpoints_of(&r.id).iter().any(|(name, ep)| {
            name == v || (!v.is_empty() && ep.network_id.as_deref().is_some_and(|id| id.starts_with(v)))
        })
    };
    let cx = filters::Context { ancestor_matches: &ancestor, created_of: &created_of, in_network: &in_network };
    // Newest first, as Docker lists them.
    let mut rows: Vec<_> = cs
        .all()
        .into_iter()
        .rev()
        .filter(|c| {
            let rec = c.record();
            // `-a` or a status filter shows stopped containers too.
            (all || limit.is_some() || f.contains("status") || rec.state.status.is_running())
                && filters::matches(&f, &rec, &cx)
        })
        .map(|c| {
            let mut row = inspect::summary(&c);
            if let Some(ns) = row.network_settings.as_mut() {
                super::networks::fill_container_networks(&engine, &c.id, &mut ns.networks);
            }
            if with_size {
                let (rw, root_fs) = sizes(&engine, &c);
                (row.size_rw, row.size_root_fs) = (Some(rw), Some(root_fs));
            }
            row
        })
        .collect();
    if let Some(n) = limit {
        rows.truncate(n as usize);
    }
    Ok(json_response(StatusCode::OK, &rows))
}

/// `SizeRw` (the writable layer) and `SizeRootFs` (it plus the image's
/// layers as distributed).
fn sizes(engine: &Engine, c: &Container) -> (i64, i64) {
    let rw = crate::container::size::writable_layer(&engine.containers.root, &c.id);
    let image: u64 =
        engine.images.resolve(&c.record().image_id).map(|img| img.layers.iter().map(|l| l.size).sum()).unwrap_or(0);
    (i64::try_from(rw).unwrap_or(i64::MAX), i64::try_from(rw.saturating_add(image)).unwrap_or(i64::MAX))
}

async fn inspect_one(
    State(engine): State<Arc<Engine>>,
    Path(id): Path<String>,
    Query(q): Q,
) -> Result<Response, ApiError> {
    let c = lookup(&engine, &id)?;
    let rootfs = c.shim().map(|s| s.rootfs().display().to_string());
    let mut model = inspect::inspect(&c, rootfs);
    if flag(&q, "size") {
        let (rw, root_fs) = sizes(&engine, &c);
        (model.size_rw, model.size_root_fs) = (Some(rw), Some(root_fs));
    }
    if let Some(ns) = model.network_settings.as_mut() {
        super::networks::fill_container_networks(&engine, &c.id, &mut ns.networks);
    }
    let mut v = serde_json::to_value(model).unwrap_or_default();
    // Docker sends `"ExecIDs": null` rather than leaving it out; clients
    // index it.
    if let Some(m) = v.as_object_mut() {
        m.entry("ExecIDs").or_insert(serde_json::Value::Null);
    }
    Ok(json_response(StatusCode::OK, &v))
}

async fn start(State(engine): State<Arc<Engine>>, Path(id): Path<String>) -> Response {
    match lookup(&engine, &id) {
        Ok(c) => {
            if let Err(e) = super::networks::ensure_joined(&engine, &c) {
                return e.into_response();
            }
            done(containers(&engine).start(&c).await)
        }
        Err(e) => e.into_response(),
    }
}

async fn stop(State(engine): State<Arc<Engine>>, Path(id): Path<String>, Query(q): Q) -> Response {
    let run = async {
        let c = lookup(&engine, &id)?;
        let t = int(&q, "t")?;
        Ok::<_, ApiError>(containers(&engine).stop(&c, q.get("signal").map(String::as_str), t).await)
    };
    match run.await {
        Ok(r) => done(r),
        Err(e) => e.into_response(),
    }
}

async fn kill(State(engine): State<Arc<Engine>>, Path(id): Path<String>, Query(q): Q) -> Response {
    match lookup(&engine, &id) {
        Ok(c) => done(containers(&engine).kill(&c, q.get("signal").map(String::as_str)).await),
        Err(e) => e.into_response(),
    }
}

async fn restart(State(engine): State<Arc<Engine>>, Path(id): Path<String>, Query(q): Q) -> Response {
    let run = async {
        let c = lookup(&engine, &id)?;
        let t = int(&q, "t")?;
        Ok::<_, ApiError>(containers(&engine).restart(&c, q.get("signal").map(String::as_str), t).await)
    };
    match run.await {
        Ok(Err(ContainerError::NotModified)) => StatusCode::NO_CONTENT.into_response(),
        Ok(r) => done(r),
        Err(e) => e.into_response(),
    }
}

async fn pause(State(engine): State<Arc<Engine>>, Path(id): Path<String>) -> Response {
    match lookup(&engine, &id) {
        Ok(c) => done(containers(&engine).pause(&c).await),
        Err(e) => e.into_response(),
    }
}

async fn unpause(State(engine): State<Arc<Engine>>, Path(id): Path<String>) -> Response {
    match lookup(&engine, &id) {
        Ok(c) => done(containers(&engine).unpause(&c).await),
        Err(e) => e.into_response(),
    }
}

async fn rename(State(engine): State<Arc<Engine>>, Path(id): Path<String>, Query(q): Q) -> Response {
    let Some(name) = q.get("name").filter(|n| !n.is_empty()) else {
        return ApiError::bad_request("Neither old nor new names may be empty").into_response();
    };
    match lookup(&engine, &id) {
        Ok(c) => done(containers(&engine).rename(&c, name)),
        Err(e) => e.into_response(),
    }
}

/// `GET /containers/{id}/changes` (`docker diff`): `[{"Path","Kind"}]`.
async fn changes(State(engine): State<Arc<Engine>>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let c = lookup(&engine, &id)?;
    let list: Vec<serde_json::Value> = containers(&engine)
        .changes(&c)?
        .into_iter()
        .map(|ch| serde_json::json!({ "Path": ch.path, "Kind": ch.kind as u8 }))
        .collect();
    Ok(json_response(StatusCode::OK, &list))
}

/// `POST /containers/{id}/resize?h=&w=`: the TTY's size.
async fn resize(State(engine): State<Arc<Engine>>, Path(id): Path<String>, Query(q): Q) -> Response {
    let run = async {
        let c = lookup(&engine, &id)?;
        let (h, w) = (int(&q, "h")?.unwrap_or(0), int(&q, "w")?.unwrap_or(0));
        if !(0..=u16::MAX as i64).contains(&h) || !(0..=u16::MAX as i64).contains(&w) {
            return Err(ApiError::bad_request("invalid terminal size"));
        }
        let shim =
            c.shim().ok_or_else(|| ApiError::new(StatusCode::CONFLICT, format!("Container {id} is not running")))?;
        if let Err(e) = shim.resize(w as u16, h as u16).await {
            // A container without a TTY or one that just exited: Docker
            // answers 200 for the latter; the CLI ignores errors here.
            tracing::debug!(%id, error = %e, "resize");
        }
        Ok(())
    };
    match run.await {
        Ok(()) => StatusCode::OK.into_response(),
        Err(e) => e.into_response(),
    }
}

async fn remove(State(engine): State<Arc<Engine>>, Path(id): Path<String>, Query(q): Q) -> Response {
    match lookup(&engine, &id) {
        Ok(c) => {
            let r = containers(&engine).remove(&c, flag(&q, "force")).await;
            if r.is_ok() {
                engine.networks.forget_container(&c.id);
            }
            done(r)
        }
        Err(e) => e.into_response(),
    }
}

/// `POST /containers/prune?filters=`: `until` and `label` filters.
async fn prune(State(engine): State<Arc<Engine>>, Query(q): Q) -> Result<Response, ApiError> {
    let f = filters::parse(q.get("filters").map(String::as_str)).map_err(ApiError::bad_request)?;
    let until = crate::container::filters::prune_until(&f).map_err(ApiError::bad_request)?;
    let keep = |r: &crate::container::record::ContainerRecord| {
        let too_new = until.is_some_and(|u| crate::container::clock::parse(&r.created).is_some_and(|c| c >= u));
        too_new || !f.match_labels(&r.labels())
    };
    let (deleted, space) = containers(&engine).prune(keep).await;
    engine.containers.events.publish(
        bollard_stubs::models::EventMessageTypeEnum::CONTAINER,
        "prune",
        "",
        HashMap::from([("reclaimed".to_string(), space.to_string())]),
    );
    Ok(json_response(
        StatusCode::OK,
        &ContainerPruneResponse { containers_deleted: Some(deleted), space_reclaimed: Some(space) },
    ))
}
