//! The API's wire format, exercised through the router without a socket.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use tower::ServiceExt;

use super::app;
use crate::engine::Engine;

struct Reply {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: Vec<u8>,
}

async fn call(method: Method, path: &str) -> Reply {
    let dir = tempfile::tempdir().unwrap();
    let engine = Arc::new(Engine::open(dir.path(), false).unwrap());
    let req = Request::builder().method(method).uri(path).body(Body::empty()).unwrap();
    let resp = app(engine).oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp.into_body().collect().await.unwrap().to_bytes().to_vec();
    Reply { status, headers, body }
}

fn json(r: &Reply) -> serde_json::Value {
    assert_eq!(r.headers["content-type"], "application/json");
    serde_json::from_slice(&r.body).unwrap()
}

#[tokio::test]
async fn ping_answers_head_and_get_with_negotiation_headers() {
    for (method, body) in [(Method::GET, &b"OK"[..]), (Method::HEAD, &b""[..])] {
        let r = call(method, "/_ping").await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.body, body);
        assert_eq!(r.headers["api-version"], "1.50");
        assert_eq!(r.headers["ostype"], "linux");
        assert_eq!(r.headers["builder-version"], "1");
        assert_eq!(r.headers["swarm"], "inactive");
        assert_eq!(r.headers["docker-experimental"], "false");
        assert!(r.headers["server"].to_str().unwrap().ends_with("(linux)"));
    }
}

#[tokio::test]
async fn every_route_is_also_versioned() {
    for path in ["/v1.24/_ping", "/v1.41/_ping", "/v1.50/_ping"] {
        assert_eq!(call(Method::GET, path).await.status, StatusCode::OK, "{path}");
    }
    let v = json(&call(Method::GET, "/v1.41/version?x=1").await);
    assert_eq!(v["ApiVersion"], "1.50");
}

#[tokio::test]
async fn out_of_range_versions_get_dockers_400() {
    let r = call(Method::GET, "/v1.99/_ping").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(json(&r)["message"].as_str().unwrap().contains("too new"));
    let r = call(Method::GET, "/v1.12/version").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(json(&r)["message"].as_str().unwrap().contains("too old"));
}

#[tokio::test]
async fn unknown_routes_are_json_404s() {
    let r = call(Method::GET, "/v1.41/nope").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(json(&r)["message"], "page not found: /nope");
}

#[tokio::test]
async fn version_and_info_fill_what_clients_index() {
    let v = json(&call(Method::GET, "/version").await);
    for key in ["Version", "ApiVersion", "MinAPIVersion", "Os", "Arch", "KernelVersion", "GitCommit", "GoVersion"] {
        assert!(v[key].is_string(), "version lacks {key}: {v}");
    }
    assert_eq!(v["Components"][0]["Name"], "Engine");

    let i = json(&call(Method::GET, "/info").await);
    for key in [
        "ID",
        "Driver",
        "DockerRootDir",
        "KernelVersion",
        "OperatingSystem",
        "OSType",
        "Architecture",
        "Name",
        "ServerVersion",
    ] {
        assert!(i[key].is_string(), "info lacks {key}: {i}");
    }
    for key in ["Containers", "ContainersRunning", "Images", "NCPU", "MemTotal"] {
        assert!(i[key].is_i64(), "info lacks {key}: {i}");
    }
    assert_eq!(i["Swarm"]["LocalNodeState"], "inactive");
    assert_eq!(i["OSType"], "linux");
}

#[tokio::test]
async fn shutdown_request_is_accepted_and_observable() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Arc::new(Engine::open(dir.path(), false).unwrap());
    let health = Request::builder().uri("/berth/v1/health").body(Body::empty()).unwrap();
    assert_eq!(app(engine.clone()).oneshot(health).await.unwrap().status(), StatusCode::OK);
    let req = Request::builder().method(Method::POST).uri("/v1.41/berth/v1/shutdown").body(Body::empty()).unwrap();
    assert_eq!(app(engine.clone()).oneshot(req).await.unwrap().status(), StatusCode::ACCEPTED);
    tokio::time::timeout(std::time::Duration::from_secs(5), engine.shutdown_requested()).await.unwrap();
}

#[tokio::test]
async fn a_panicking_handler_is_a_json_500_and_the_router_serves_on() {
    async fn boom() -> &'static str {
        panic!("deliberate test panic")
    }
    let router = super::with_common_layers(
        axum::Router::new()
            .route("/boom", axum::routing::get(boom))
            .route("/ok", axum::routing::get(|| async { "ok" })),
    );
    let resp = router.clone().oneshot(Request::get("/boom").body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(resp.headers()["content-type"], "application/json");
    let body: serde_json::Value =
        serde_json::from_slice(&resp.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert!(body["message"].as_str().unwrap().contains("deliberate test panic"), "{body}");
    let resp = router.oneshot(Request::get("/ok").body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test]
async fn swarm_routes_say_this_node_is_no_swarm_manager() {
    for path in ["/swarm", "/v1.41/services", "/nodes", "/v1.50/secrets", "/configs", "/tasks"] {
        let r = call(Method::GET, path).await;
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{path}");
        assert!(json(&r)["message"].as_str().unwrap().contains("not a swarm manager"), "{path}");
    }
}

#[tokio::test]
async fn a_machine_engine_log_is_refused_in_process_mode_with_a_reason() {
    let r = call(Method::GET, "/berth/v1/logs/engine").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(json(&r)["message"].as_str().unwrap().contains("standard error"));
}
