//! `GET /events?since=&until=&filters=`: the engine's events as JSON
//! lines, past ones (from `since`) first, then live ones until `until` or
//! the client leaves.
//!
//! Owns the HTTP side; events themselves are `crate::container::events`'.

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use serde::Deserialize;

use super::error::ApiError;
use super::extract::DockerQuery;
use super::filters::parse_filters;
use crate::container::clock;
use crate::container::events::EventFilter;
use crate::engine::Engine;

/// The keys `GET /events` filters on, as Docker's.
const EVENT_FILTERS: &[&str] = &[
    "type",
    "event",
    "container",
    "image",
    "label",
    "scope",
    "network",
    "volume",
    "daemon",
    "plugin",
    "node",
    "service",
    "secret",
    "config",
];

#[derive(Deserialize, Default)]
#[serde(default)]
struct EventsQuery {
    since: String,
    until: String,
    filters: Option<String>,
}

pub fn routes() -> Router<Arc<Engine>> {
    Router::new().route("/events", get(events))
}

async fn events(
    State(engine): State<Arc<Engine>>,
    DockerQuery(q): DockerQuery<EventsQuery>,
) -> Result<Response, ApiError> {
    let since = clock::parse_query(&q.since).map_err(ApiError::bad_request)?;
    let until = clock::parse_query(&q.until).map_err(ApiError::bad_request)?;
    let filters = parse_filters(q.filters.as_deref())?;
    if let Some(k) = filters.keys().find(|k| !EVENT_FILTERS.contains(k)) {
        return Err(ApiError::bad_request(format!("invalid filter '{k}'")));
    }
    let events = engine.events(since, until, EventFilter { filters });
    let lines = futures_util::StreamExt::map(super::channel_stream::tokio_stream_from(events), |e| {
        let mut b = serde_json::to_vec(&e.to_json()).unwrap_or_default();
        b.push(b'\n');
        Bytes::from(b)
    });
    let stream = futures_util::StreamExt::map(lines, Ok::<_, std::io::Error>);
    Ok((StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], Body::from_stream(stream)).into_response())
}
