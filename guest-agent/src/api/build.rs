//! `POST /build` (the classic builder, `docker build` with builder v1)
//! and `POST /build/prune`: decodes the query (`t` repeated, `dockerfile`,
//! `buildargs` and `labels` as JSON, `target`, `nocache`, `rm`, `forcerm`,
//! `q`, `networkmode`, `cachefrom`, `platform`, `squash`; the resource
//! limits are accepted and not applied), hands the body (the context) to
//! the engine and streams its messages as JSON lines, chunked.
//!
//! Owns the HTTP side only; it must never hold build semantics.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::post;
use serde::Deserialize;

use super::error::{ApiError, json_response};
use super::extract::{self as de, DockerQuery};
use super::images::body::BodyReader;
use super::images::stream::json_lines;
use crate::engine::Engine;
use crate::engine::build::BuildRequest;

pub fn routes() -> Router<Arc<Engine>> {
    Router::new().route("/build", post(build)).route("/build/prune", post(prune))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct BuildQuery {
    t: Vec<String>,
    dockerfile: String,
    buildargs: String,
    labels: String,
    target: String,
    #[serde(deserialize_with = "de::flag")]
    nocache: bool,
    #[serde(deserialize_with = "de::opt_flag")]
    rm: Option<bool>,
    #[serde(deserialize_with = "de::flag")]
    forcerm: bool,
    #[serde(deserialize_with = "de::flag")]
    q: bool,
    networkmode: String,
    /// Accepted: the classic builder's cache is local either way.
    cachefrom: String,
    platform: String,
    #[serde(deserialize_with = "de::flag")]
    squash: bool,
}

fn json_map<T: serde::de::DeserializeOwned + Default>(raw: &str, what: &str) -> Result<T, ApiError> {
    if raw.is_empty() {
        return Ok(T::default());
    }
    serde_json::from_str(raw).map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("invalid {what}: {e}")))
}

async fn build(
    State(engine): State<Arc<Engine>>,
    DockerQuery(q): DockerQuery<BuildQuery>,
    body: Body,
) -> Result<Response, ApiError> {
    let _ = q.cachefrom;
    let req = BuildRequest {
        tags: q.t,
        dockerfile: q.dockerfile,
        build_args: json_map::<HashMap<String, Option<String>>>(&q.buildargs, "buildargs")?,
        labels: json_map(&q.labels, "labels")?,
        target: q.target,
        no_cache: q.nocache,
        remove: q.rm.unwrap_or(true),
        force_remove: q.forcerm,
        quiet: q.q,
        network_mode: q.networkmode,
        squash: q.squash,
        platform: q.platform,
    };
    Ok(json_lines(engine.build_image(req, BodyReader::spawn(body)).await?))
}

async fn prune(State(engine): State<Arc<Engine>>) -> Result<Response, ApiError> {
    let v = engine.prune_build_cache().await?;
    Ok(json_response(StatusCode::OK, &v))
}
