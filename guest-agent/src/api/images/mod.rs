//! Image routes of the Docker API, one file per group of routes:
//!
//! ```text
//! create   POST /images/create (pull, import), /images/{name}/tag, /push
//! list     GET  /images/json and its filters
//! inspect  GET  /images/{name}/json, /images/{name}/history
//! remove   DELETE /images/{name}, POST /images/prune
//! archive  GET  /images/get, /images/{name}/get; POST /images/load
//! stream   JSON-lines replies shared by the streaming routes
//! ```
//!
//! Owns the HTTP side only: query parameters, `X-Registry-Auth`, Docker's
//! JSON shapes and status codes. The work is `crate::image`'s; this file
//! must never touch the store's files itself. Image names contain slashes
//! (`localhost:5000/x:v1`), so everything after `/images/` is one wildcard
//! and the action is the last segment, as Docker's own router does.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

mod archive;
mod body;
mod create;
mod inspect;
mod list;
mod remove;
mod stream;
mod wire;

use super::error::{ApiError, json_response};
use super::registry_access::{Images, registry_auth};
use wire::store_error;

/// The routes, with their own state, mergeable into any router.
pub fn routes<S: Clone + Send + Sync + 'static>(images: Arc<Images>) -> Router<S> {
    Router::new()
        .route("/images/create", post(create::create))
        .route("/images/json", get(list::list))
        .route("/images/get", get(archive::get_many))
        .route("/images/load", post(archive::load))
        .route("/images/prune", post(remove::prune))
        .route("/images/{*rest}", get(get_action).post(post_action).delete(remove::delete))
        .with_state(images)
}

async fn post_action(
    State(images): State<Arc<Images>>,
    Path(rest): Path<String>,
    Query(q): Query<std::collections::HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if let Some(name) = rest.strip_suffix("/tag") {
        return create::tag(&images, name, &q)
            .map_or_else(IntoResponse::into_response, |()| StatusCode::CREATED.into_response());
    }
    if let Some(name) = rest.strip_suffix("/push") {
        let pq = create::PushQuery { tag: q.get("tag").cloned() };
        return create::push_image(images, name, pq, registry_auth(&headers)).await;
    }
    ApiError::not_found(format!("page not found: /images/{rest}")).into_response()
}

async fn get_action(State(images): State<Arc<Images>>, Path(rest): Path<String>) -> Response {
    let (name, action) = match rest.rsplit_once('/') {
        Some((name, action @ ("json" | "history" | "get"))) => (name, action),
        _ => return ApiError::not_found(format!("page not found: /images/{rest}")).into_response(),
    };
    let rec = match images.store.resolve(name) {
        Ok(rec) => rec,
        Err(e) => return store_error(e).into_response(),
    };
    if action == "get" {
        return archive::get_one(&images, name);
    }
    if action == "history" {
        return json_response(StatusCode::OK, &inspect::history(&images.store, &rec));
    }
    inspect::inspect(&images.store, &rec)
        .map_or_else(IntoResponse::into_response, |v| json_response(StatusCode::OK, &v))
}

#[cfg(test)]
mod tests;
