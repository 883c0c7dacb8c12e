//! `/_ping`, `/version` and `/info`: what every Docker client asks first;
//! and `/system/df`.
//!
//! Owns the API's own facts (versions, negotiation headers); what the
//! engine knows of itself comes from `Engine::system_info`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bollard_stubs::models::{SystemVersion, SystemVersionComponents, SystemVersionPlatform};

use super::error::json_response;
use super::version;
use crate::engine::system::ENGINE_VERSION;
use crate::engine::{Engine, host};

/// `GET|HEAD /_ping`: the headers carry the negotiation (the CLI sends HEAD
/// first and falls back to GET).
pub async fn ping(method: Method) -> Response {
    let headers = [
        ("Api-Version", version::MAX.to_string()),
        ("Builder-Version", "1".to_string()),
        ("Docker-Experimental", "false".to_string()),
        ("Ostype", "linux".to_string()),
        ("Swarm", "inactive".to_string()),
        ("Cache-Control", "no-cache, no-store, must-revalidate".to_string()),
        ("Pragma", "no-cache".to_string()),
    ];
    let body = if method == Method::HEAD { "" } else { "OK" };
    let mut resp = (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response();
    for (k, v) in headers {
        if let Ok(v) = v.parse() {
            resp.headers_mut().insert(k, v);
        }
    }
    resp
}

pub async fn version() -> Response {
    json_response(StatusCode::OK, &version_body())
}

/// The swarm routes: this engine is never a swarm manager, and says so as
/// Docker (and Podman's compat layer) do, with a 503 — clients such as
/// docker-py's test teardown read a 404 here as an error.
pub fn swarm_routes() -> axum::Router<Arc<Engine>> {
    async fn not_a_manager() -> super::error::ApiError {
        crate::engine::EngineError::unavailable(
            "This node is not a swarm manager. Use \"docker swarm init\" or \"docker swarm join\" to connect this node to swarm and try again.",
        )
        .into()
    }
    let mut r = axum::Router::new();
    for base in ["/swarm", "/services", "/nodes", "/tasks", "/secrets", "/configs"] {
        r = r
            .route(base, axum::routing::any(not_a_manager))
            .route(&format!("{base}/{{*rest}}"), axum::routing::any(not_a_manager));
    }
    r
}

/// `GET /system/df` (`docker system df`).
pub async fn df(State(engine): State<Arc<Engine>>) -> Result<Response, super::error::ApiError> {
    Ok(json_response(StatusCode::OK, &engine.system_df()?))
}

/// `GET /info`.
pub async fn info(State(engine): State<Arc<Engine>>) -> Response {
    json_response(StatusCode::OK, &engine.system_info())
}

fn version_body() -> SystemVersion {
    let kernel = host::kernel_version();
    let details = HashMap::from([
        ("ApiVersion".to_string(), version::MAX.to_string()),
        ("MinAPIVersion".to_string(), version::MIN.to_string()),
        ("Os".to_string(), "linux".to_string()),
        ("Arch".to_string(), "amd64".to_string()),
        ("KernelVersion".to_string(), kernel.clone()),
        // The docker CLI prints these from the component, not the top level.
        ("GitCommit".to_string(), option_env!("BERTH_GIT_COMMIT").unwrap_or("unknown").to_string()),
        ("GoVersion".to_string(), "n/a (Rust)".to_string()),
        ("BuildTime".to_string(), String::new()),
        ("Experimental".to_string(), "false".to_string()),
    ]);
    SystemVersion {
        platform: Some(SystemVersionPlatform { name: format!("berth {ENGINE_VERSION}") }),
        components: Some(vec![SystemVersionComponents {
            name: "Engine".into(),
            version: ENGINE_VERSION.into(),
            details: Some(details),
        }]),
        version: Some(ENGINE_VERSION.into()),
        api_version: Some(version::MAX.to_string()),
        min_api_version: Some(version::MIN.to_string()),
        git_commit: Some(option_env!("BERTH_GIT_COMMIT").unwrap_or("unknown").into()),
        go_version: Some("n/a (Rust)".into()),
        os: Some("linux".into()),
        arch: Some("amd64".into()),
        kernel_version: Some(kernel),
        experimental: Some(false),
        build_time: Some(String::new()),
    }
}
