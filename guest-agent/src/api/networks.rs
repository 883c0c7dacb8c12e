//! Network routes of the Docker API: list, inspect, create, remove,
//! connect, disconnect, prune.
//!
//! Owns the HTTP side only: each handler decodes, calls one engine method
//! and encodes. The object model is `crate::network`'s, and where
//! containers meet networks is the engine's (`engine/networks.rs`).

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bollard_stubs::models::{NetworkConnectRequest, NetworkCreateRequest, NetworkDisconnectRequest};

use super::error::{ApiError, json_response};
use super::extract::{DockerJson, DockerQuery};
use super::filters::{FiltersQuery, parse_filters};
use crate::engine::Engine;

type Result<T> = std::result::Result<T, ApiError>;

pub fn routes() -> Router<Arc<Engine>> {
    Router::new()
        .route("/networks", get(list))
        .route("/networks/create", post(create))
        .route("/networks/prune", post(prune))
        .route("/networks/{id}", get(inspect).delete(remove))
        .route("/networks/{id}/connect", post(connect))
        .route("/networks/{id}/disconnect", post(disconnect))
}

async fn list(State(engine): State<Arc<Engine>>, DockerQuery(q): DockerQuery<FiltersQuery>) -> Result<Response> {
    let f = parse_filters(q.filters.as_deref())?;
    Ok(json_response(StatusCode::OK, &engine.list_networks(&f)?))
}

async fn inspect(State(engine): State<Arc<Engine>>, Path(id): Path<String>) -> Result<Response> {
    Ok(json_response(StatusCode::OK, &engine.network_view(&id)?))
}

async fn create(
    State(engine): State<Arc<Engine>>,
    DockerJson(req): DockerJson<NetworkCreateRequest>,
) -> Result<Response> {
    Ok(json_response(StatusCode::CREATED, &engine.create_network(req)?))
}

async fn remove(State(engine): State<Arc<Engine>>, Path(id): Path<String>) -> Result<Response> {
    engine.remove_network(&id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /networks/prune?filters=`: `until` and `label`/`label!`.
async fn prune(State(engine): State<Arc<Engine>>, DockerQuery(q): DockerQuery<FiltersQuery>) -> Result<Response> {
    let f = parse_filters(q.filters.as_deref())?;
    Ok(json_response(StatusCode::OK, &engine.prune_networks(&f).await?))
}

async fn connect(
    State(engine): State<Arc<Engine>>,
    Path(id): Path<String>,
    DockerJson(req): DockerJson<NetworkConnectRequest>,
) -> Result<Response> {
    engine.connect_network(&id, req).await?;
    Ok(StatusCode::OK.into_response())
}

async fn disconnect(
    State(engine): State<Arc<Engine>>,
    Path(id): Path<String>,
    DockerJson(req): DockerJson<NetworkDisconnectRequest>,
) -> Result<Response> {
    engine.disconnect_network(&id, req).await?;
    Ok(StatusCode::OK.into_response())
}

#[cfg(test)]
mod tests;
