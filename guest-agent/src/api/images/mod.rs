//! Image routes of the Docker API, one file per group of routes:
//!
//! ```text
//! create   POST /images/create (pull, import), /images/{name}/tag, /push
//! list     GET  /images/json
//! inspect  GET  /images/{name}/json, /images/{name}/history
//! remove   DELETE /images/{name}, POST /images/prune
//! archive  GET  /images/get, /images/{name}/get; POST /images/load
//! stream   JSON-lines replies shared by the streaming routes
//! body     HTTP bodies as blocking readers and writers
//! ```
//!
//! Owns the HTTP side only: each handler decodes its query (and
//! `X-Registry-Auth`), calls one engine method (`engine/images.rs`) and
//! encodes the answer. Image names contain slashes (`localhost:5000/x:v1`),
//! so everything after `/images/` is one wildcard and the action is the
//! last segment, as Docker's own router does.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{get, post};

mod archive;
pub(crate) mod body;
mod create;
mod inspect;
mod list;
mod remove;
pub(crate) mod stream;

use super::error::ApiError;
use super::extract::DockerQuery;
use crate::engine::Engine;

type Result<T> = std::result::Result<T, ApiError>;

pub fn routes() -> Router<Arc<Engine>> {
    Router::new()
        .route("/images/create", post(create::create))
        .route("/images/json", get(list::list))
        .route("/images/get", get(archive::get_many))
        .route("/images/load", post(archive::load))
        .route("/images/prune", post(remove::prune))
        .route("/images/{*rest}", get(get_action).post(post_action).delete(remove::delete))
}

fn no_route(rest: &str) -> ApiError {
    ApiError::not_found(format!("page not found: /images/{rest}"))
}

async fn post_action(
    State(engine): State<Arc<Engine>>,
    Path(rest): Path<String>,
    DockerQuery(q): DockerQuery<create::TagQuery>,
    headers: HeaderMap,
) -> Result<Response> {
    match rest.rsplit_once('/') {
        Some((name, "tag")) => create::tag(&engine, name, q),
        Some((name, "push")) => create::push(&engine, name, q, &headers).await,
        _ => Err(no_route(&rest)),
    }
}

async fn get_action(State(engine): State<Arc<Engine>>, Path(rest): Path<String>) -> Result<Response> {
    match rest.rsplit_once('/') {
        Some((name, "json")) => inspect::inspect(&engine, name),
        Some((name, "history")) => inspect::history(&engine, name),
        Some((name, "get")) => archive::get_one(&engine, name),
        _ => Err(no_route(&rest)),
    }
}

#[cfg(test)]
mod tests;
