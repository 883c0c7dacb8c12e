//! `POST /build` (the classic builder, `docker build` with builder v1)
//! and `POST /build/prune`: decodes the query (`t` repeated, `dockerfile`,
//! `buildargs` and `labels` as JSON, `target`, `nocache`, `rm`, `forcerm`,
//! `q`, `pull`, `networkmode`, `extrahosts` repeated, `shmsize`, `memory`,
//! `memswap`, `cpushares`, `cpusetcpus`, `cpusetmems`, `cpuperiod`,
//! `cpuquota`, `ulimits`, `cachefrom`, `platform`, `squash`) and the
//! `X-Registry-Config` credentials, hands the body (the context) to the
//! engine and streams its messages as JSON lines, chunked.
//!
//! Owns the HTTP side only; it must never hold build semantics.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::post;
use bollard_stubs::models::{HostConfig, ResourcesUlimits};
use serde::Deserialize;

use super::error::{ApiError, json_response};
use super::extract::{self as de, DockerQuery};
use super::images::body::BodyReader;
use super::images::stream::json_lines;
use super::registry_access::registry_config;
use crate::engine::Engine;
use crate::engine::build::BuildRequest;

pub fn routes() -> Router<Arc<Engine>> {
    Router::new().route("/build", post(build)).route("/build/prune", post(prune))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct BuildQuery {
    t: Vec<String>,
    /// Repeated by docker-py for a Dockerfile outside the context (its
    /// name in the tar, then its text); the first counts, as Go's
    /// `FormValue` takes it.
    dockerfile: Vec<String>,
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
    #[serde(deserialize_with = "de::flag")]
    pull: bool,
    networkmode: String,
    extrahosts: Vec<String>,
    #[serde(deserialize_with = "de::opt_int")]
    shmsize: Option<i64>,
    #[serde(deserialize_with = "de::opt_int")]
    memory: Option<i64>,
    #[serde(deserialize_with = "de::opt_int")]
    memswap: Option<i64>,
    #[serde(deserialize_with = "de::opt_int")]
    cpushares: Option<i64>,
    cpusetcpus: String,
    cpusetmems: String,
    #[serde(deserialize_with = "de::opt_int")]
    cpuperiod: Option<i64>,
    #[serde(deserialize_with = "de::opt_int")]
    cpuquota: Option<i64>,
    ulimits: String,
    /// A JSON array of image references.
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
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let nonempty = |s: String| Some(s).filter(|s| !s.is_empty());
    let run_host_config = HostConfig {
        network_mode: nonempty(q.networkmode).filter(|n| n != "default"),
        extra_hosts: Some(q.extrahosts).filter(|h| !h.is_empty()),
        shm_size: q.shmsize.filter(|n| *n > 0),
        memory: q.memory.filter(|n| *n != 0),
        memory_swap: q.memswap.filter(|n| *n != 0),
        cpu_shares: q.cpushares.filter(|n| *n != 0),
        cpuset_cpus: nonempty(q.cpusetcpus),
        cpuset_mems: nonempty(q.cpusetmems),
        cpu_period: q.cpuperiod.filter(|n| *n != 0),
        cpu_quota: q.cpuquota.filter(|n| *n != 0),
        ulimits: Some(json_map::<Vec<ResourcesUlimits>>(&q.ulimits, "ulimits")?).filter(|u| !u.is_empty()),
        ..Default::default()
    };
    let req = BuildRequest {
        tags: q.t,
        dockerfile: q.dockerfile.into_iter().next().unwrap_or_default(),
        build_args: json_map::<HashMap<String, Option<String>>>(&q.buildargs, "buildargs")?,
        labels: json_map(&q.labels, "labels")?,
        target: q.target,
        no_cache: q.nocache,
        remove: q.rm.unwrap_or(true),
        force_remove: q.forcerm,
        quiet: q.q,
        pull: q.pull,
        registry_auth: registry_config(&headers),
        run_host_config,
        cache_from: json_map(&q.cachefrom, "cachefrom")?,
        squash: q.squash,
        platform: q.platform,
    };
    Ok(json_lines(engine.build_image(req, BodyReader::spawn(body)).await?))
}

async fn prune(State(engine): State<Arc<Engine>>) -> Result<Response, ApiError> {
    let v = engine.prune_build_cache().await?;
    Ok(json_response(StatusCode::OK, &v))
}
