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
use serde_json::Value;

mod archive;
mod body;
mod create;
mod inspect;
mod list;
mod remove;
mod stream;

use super::error::{ApiError, json_response};
use super::registry_access::{Images, registry_auth};
use crate::image::reference::ImageRef;
use crate::image::store::{ImageRecord, ImageSummary, Store, StoreError};

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

fn store_error(e: StoreError) -> ApiError {
    match e {
        StoreError::NotFound(name) => ApiError::not_found(format!("No such image: {name}")),
        StoreError::Ambiguous(_) => ApiError::bad_request(e.to_string()),
        other => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, other.to_string()),
    }
}

fn bad_reference(e: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request(e.to_string())
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

/// Query parameters in order, repeats kept (`changes=…&changes=…`), which
/// axum's `Query` into a map would collapse.
fn query_pairs(raw: Option<String>) -> Vec<(String, String)> {
    raw.and_then(|r| serde_urlencoded::from_str(&r).ok()).unwrap_or_default()
}

fn familiar(r: &ImageRef) -> String {
    match (&r.tag, &r.digest) {
        (_, Some(d)) => format!("{}@{d}", r.familiar_name()),
        (Some(t), None) => format!("{}:{t}", r.familiar_name()),
        (None, None) => r.familiar_name(),
    }
}

fn familiar_tags(s: &ImageSummary) -> Vec<String> {
    s.tags.iter().filter_map(|k| ImageRef::parse(k).ok()).map(|r| familiar(&r)).collect()
}

fn familiar_digests(s: &ImageSummary) -> Vec<String> {
    s.repo_digests.iter().filter_map(|k| ImageRef::parse(k).ok()).map(|r| familiar(&r)).collect()
}

fn config_json(store: &Store, rec: &ImageRecord) -> Value {
    store.read_blob(&rec.id).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or(Value::Null)
}

/// Sum of the layers as distributed (compressed).
fn size(rec: &ImageRecord) -> u64 {
    rec.layers.iter().map(|l| l.size).sum()
}

/// `created` (RFC 3339, UTC or with an offset) as Unix seconds.
fn created_unix(config: &Value) -> Option<i64> {
    let s = config.get("created")?.as_str()?;
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, mo, d, h, mi, sec) = (num(0..4)?, num(5..7)?, num(8..10)?, num(11..13)?, num(14..16)?, num(17..19)?);
    let tail = s.get(19..)?.trim_start_matches(|c: char| c == '.' || c.is_ascii_digit());
    let offset = match tail {
        "Z" | "z" => 0,
        t if t.len() == 6 => {
            let sign = if t.starts_with('-') { -1 } else { 1 };
            sign * (t.get(1..3)?.parse::<i64>().ok()? * 3600 + t.get(4..6)?.parse::<i64>().ok()? * 60)
        }
        _ => return None,
    };
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if mo > 2 { mo - 3 } else { mo + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + h * 3600 + mi * 60 + sec - offset)
}

#[cfg(test)]
mod tests;
