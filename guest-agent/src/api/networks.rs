//! Network routes of the Docker API: list, inspect, create, remove,
//! connect, disconnect, prune; and the two places containers meet networks
//! (joining at create, `NetworkSettings.Networks` in their views).
//!
//! Owns the HTTP side only; the object model is `crate::network`'s.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bollard_stubs::models::{
    ContainerCreateBody, EndpointSettings, NetworkConnectRequest, NetworkCreateRequest, NetworkCreateResponse,
    NetworkDisconnectRequest, NetworkPruneResponse,
};

use super::error::{ApiError, json_response};
use super::request::{Q, lookup};
use crate::engine::Engine;
use crate::network::{Join, NetworkError, Networks, filters};

pub fn routes() -> Router<Arc<Engine>> {
    Router::new()
        .route("/networks", get(list))
        .route("/networks/create", post(create))
        .route("/networks/prune", post(prune))
        .route("/networks/{id}", get(inspect).delete(remove))
        .route("/networks/{id}/connect", post(connect))
        .route("/networks/{id}/disconnect", post(disconnect))
}

impl From<NetworkError> for ApiError {
    fn from(e: NetworkError) -> ApiError {
        let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if status.is_server_error() {
            tracing::warn!(error = %e, "network operation failed");
        }
        ApiError::new(status, e.to_string())
    }
}

fn parse_filters(q: &HashMap<String, String>) -> Result<filters::Filters, ApiError> {
    crate::container::filters::parse(q.get("filters").map(String::as_str)).map_err(ApiError::bad_request)
}

fn live_count(nets: &Networks, rec: &crate::network::NetworkRecord) -> usize {
    rec.endpoints.keys().filter(|c| nets.is_live(c)).count()
}

async fn list(State(engine): State<Arc<Engine>>, Query(q): Q) -> Result<Response, ApiError> {
    let f = parse_filters(&q)?;
    filters::validate(&f).map_err(ApiError::bad_request)?;
    let nets = &engine.networks;
    let rows: Vec<_> = nets
        .list()
        .into_iter()
        .filter(|r| filters::matches(&f, r, live_count(nets, r)))
        .map(|r| r.model(true, &|id| nets.is_live(id)))
        .collect();
    Ok(json_response(StatusCode::OK, &rows))
}

async fn inspect(State(engine): State<Arc<Engine>>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let nets = &engine.networks;
    let rec = nets.find(&id)?;
    Ok(json_response(StatusCode::OK, &rec.model(true, &|c| nets.is_live(c))))
}

async fn create(State(engine): State<Arc<Engine>>, body: Bytes) -> Result<Response, ApiError> {
    let req: NetworkCreateRequest =
        serde_json::from_slice(&body).map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))?;
    // `CheckDuplicate` (docker-compose 1.29 sends it) is what Docker does
    // anyway since API 1.44: a taken name is always a 409.
    let rec = engine.networks.create(req)?;
    Ok(json_response(StatusCode::CREATED, &NetworkCreateResponse { id: rec.id, warning: String::new() }))
}

async fn remove(State(engine): State<Arc<Engine>>, Path(id): Path<String>) -> Response {
    match engine.networks.remove(&id) {
        Ok(_) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => ApiError::from(e).into_response(),
    }
}

/// `POST /networks/prune?filters=`: `until` and `label`/`label!`.
async fn prune(State(engine): State<Arc<Engine>>, Query(q): Q) -> Result<Response, ApiError> {
    let f = parse_filters(&q)?;
    let until = crate::container::filters::prune_until(&f).map_err(ApiError::bad_request)?;
    let keep = |r: &crate::network::NetworkRecord| {
        let too_new = until.is_some_and(|u| crate::container::clock::parse(&r.created).is_some_and(|c| c >= u));
        too_new || !f.match_labels(&r.labels)
    };
    let deleted = engine.networks.prune(&keep)?;
    Ok(json_response(StatusCode::OK, &NetworkPruneResponse { networks_deleted: Some(deleted) }))
}

/// Docker refuses to move a container that shares a namespace (host, none,
/// another container's) into a network, and to put one into host or none.
fn shares_namespace(mode: &str) -> bool {
    matches!(mode, "host" | "none") || mode.starts_with("container:")
}

async fn connect(State(engine): State<Arc<Engine>>, Path(id): Path<String>, body: Bytes) -> Result<Response, ApiError> {
    let req: NetworkConnectRequest =
        serde_json::from_slice(&body).map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))?;
    let container =
        req.container.filter(|c| !c.is_empty()).ok_or_else(|| ApiError::bad_request("no container given"))?;
    let net = engine.networks.find(&id)?;
    let c = lookup(&engine, &container)?;
    let rec = c.record();
    let mode = rec.host_config.network_mode.clone().unwrap_or_default();
    if shares_namespace(&mode) || matches!(net.name.as_str(), "host" | "none") {
        return Err(ApiError::bad_request(format!(
            "container sharing network namespace with another container or host cannot be connected to any other network ({mode} → {})",
            net.name
        )));
    }
    engine
        .networks
        .connect(&net.id, Join { container_id: &rec.id, container_name: &rec.name, settings: req.endpoint_config })?;
    Ok(StatusCode::OK.into_response())
}

async fn disconnect(
    State(engine): State<Arc<Engine>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req: NetworkDisconnectRequest =
        serde_json::from_slice(&body).map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))?;
    let container =
        req.container.filter(|c| !c.is_empty()).ok_or_else(|| ApiError::bad_request("no container given"))?;
    let net = engine.networks.find(&id)?;
    // A removed container can still be disconnected by its full id (force).
    let cid = match lookup(&engine, &container) {
        Ok(c) => c.record().id,
        Err(e) if req.force == Some(true) => {
            tracing::debug!(error = e.message, "disconnecting a container that is gone");
            container
        }
        Err(e) => return Err(e),
    };
    engine.networks.disconnect(&net.id, &cid)?;
    Ok(StatusCode::OK.into_response())
}

/// The networks a create request puts the container in (its
/// `HostConfig.NetworkMode`, default `bridge`, and every
/// `NetworkingConfig.EndpointsConfig` entry). As Docker, a network that
/// does not exist does not fail the create (a 404 there would make the
/// docker CLI try to pull the image): `start` reports it.
pub fn planned_joins(
    engine: &Engine,
    body: &ContainerCreateBody,
) -> Result<Vec<(String, Option<EndpointSettings>)>, ApiError> {
    let mode = body.host_config.as_ref().and_then(|h| h.network_mode.clone()).unwrap_or_default();
    let mode = if mode.is_empty() || mode == "default" { "bridge".to_string() } else { mode };
    let mut endpoints = body.networking_config.as_ref().and_then(|n| n.endpoints_config.clone()).unwrap_or_default();
    let mut out = Vec::new();
    if !mode.starts_with("container:") {
        // The docker CLI names the default network `default` in both places.
        let settings = endpoints.remove(&mode).or_else(|| endpoints.remove("default"));
        if let Ok(net) = engine.networks.find(&mode) {
            let settings = settings.or_else(|| endpoints.remove(&net.id));
            out.push((net.id, settings));
        }
    }
    let mut rest: Vec<_> = endpoints.into_iter().collect();
    rest.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, settings) in rest {
        if shares_namespace(&mode) {
            return Err(ApiError::bad_request(format!(
                "container sharing network namespace with another container or host cannot be connected to any other network ({name})"
            )));
        }
        match engine.networks.find(&name) {
            Ok(net) if !out.iter().any(|(id, _)| *id == net.id) => out.push((net.id, Some(settings))),
            Ok(_) => {}
            Err(e) => tracing::debug!(network = %name, error = %e, "endpoint config for a network that does not exist"),
        }
    }
    Ok(out)
}

/// Before a start: the network of the container's `NetworkMode` must exist
/// (Docker's 404 otherwise), and the container joins it if it is not in it
/// yet (it was created before the network, or before networks were
/// recorded).
pub fn ensure_joined(engine: &Engine, c: &crate::container::Container) -> Result<(), ApiError> {
    let rec = c.record();
    let mode = rec.host_config.network_mode.clone().unwrap_or_default();
    let mode = if mode.is_empty() || mode == "default" { "bridge".to_string() } else { mode };
    if mode.starts_with("container:") {
        return Ok(());
    }
    let net = engine.networks.find(&mode).map_err(|e| match e {
        NetworkError::NotFound(_) => ApiError::not_found(format!("network {mode} not found")),
        e => e.into(),
    })?;
    if !net.endpoints.contains_key(&rec.id) {
        engine.networks.connect(&net.id, Join { container_id: &rec.id, container_name: &rec.name, settings: None })?;
    }
    Ok(())
}

/// Puts a just-created container in its planned networks.
pub fn join_all(engine: &Engine, id: &str, joins: Vec<(String, Option<EndpointSettings>)>) -> Result<(), NetworkError> {
    let c = engine.containers.get(id).map_err(|e| NetworkError::Invalid(e.to_string()))?;
    let rec = c.record();
    for (net, settings) in joins {
        engine.networks.connect(&net, Join { container_id: &rec.id, container_name: &rec.name, settings })?;
    }
    Ok(())
}

/// `NetworkSettings.Networks` of a container's views, from its endpoints
/// (containers created before networks were recorded keep the old view).
pub fn fill_container_networks(engine: &Engine, id: &str, networks: &mut Option<HashMap<String, EndpointSettings>>) {
    let eps = engine.networks.endpoints_of(id);
    if !eps.is_empty() {
        *networks = Some(eps);
    }
}

#[cfg(test)]
mod tests;
