//! `GET /containers/{id}/stats` (streamed every second as JSON lines, or
//! one sample with `stream=false`/`one-shot=true`) and
//! `GET /containers/{id}/top`.
//!
//! Owns their wire form only; sampling and Docker's stats model are
//! `crate::container::stats`'s, the `ps` table `crate::container::top`'s.

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;

use super::error::{ApiError, json_response};
use super::extract::{self as de, DockerQuery};
use crate::container::stats::Stats;
use crate::engine::Engine;

pub fn routes() -> Router<Arc<Engine>> {
    Router::new().route("/containers/{id}/stats", get(stats)).route("/containers/{id}/top", get(top))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct StatsQuery {
    #[serde(deserialize_with = "de::opt_flag")]
    stream: Option<bool>,
    #[serde(rename = "one-shot", deserialize_with = "de::flag")]
    one_shot: bool,
}

/// `GET /containers/{id}/stats?stream=&one-shot=`.
async fn stats(
    State(engine): State<Arc<Engine>>,
    Path(id): Path<String>,
    DockerQuery(q): DockerQuery<StatsQuery>,
) -> Result<Response, ApiError> {
    match engine.container_stats(&id, q.stream.unwrap_or(true), q.one_shot).await? {
        Stats::One(m) => Ok(json_response(StatusCode::OK, &m)),
        Stats::Stream(rx) => {
            let lines = futures_util::StreamExt::map(super::channel_stream::tokio_stream_from(rx), |m| {
                let mut b = serde_json::to_vec(&m).unwrap_or_default();
                b.push(b'\n');
                Ok::<_, std::io::Error>(Bytes::from(b))
            });
            Ok((StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], Body::from_stream(lines)).into_response())
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct TopQuery {
    ps_args: Option<String>,
}

/// `GET /containers/{id}/top?ps_args=`.
async fn top(
    State(engine): State<Arc<Engine>>,
    Path(id): Path<String>,
    DockerQuery(q): DockerQuery<TopQuery>,
) -> Result<Response, ApiError> {
    Ok(json_response(StatusCode::OK, &engine.container_top(&id, q.ps_args.as_deref()).await?))
}
