//! The network routes through the router, on a fresh engine.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use tower::ServiceExt;

use crate::api::app;
use crate::engine::Engine;

async fn call(app: &axum::Router, method: Method, path: &str, body: &str) -> (StatusCode, serde_json::Value) {
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .expect("request");
    let resp = app.clone().oneshot(req).await.expect("response");
    let status = resp.status();
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null))
}

#[tokio::test]
async fn compose_style_network_lifecycle() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = Arc::new(Engine::open(dir.path(), false).expect("engine"));
    let app = app(engine);

    let (s, v) = call(&app, Method::GET, "/v1.41/networks", "").await;
    assert_eq!(s, StatusCode::OK);
    let mut names: Vec<&str> = v.as_array().expect("list").iter().filter_map(|n| n["Name"].as_str()).collect();
    names.sort();
    assert_eq!(names, ["bridge", "host", "none"]);

    // What docker-compose 1.29 sends.
    let body = r#"{"Name":"proj_default","Driver":"bridge","Options":{},"IPAM":null,"Internal":false,
        "Labels":{"com.docker.compose.network":"default","com.docker.compose.project":"proj"},
        "CheckDuplicate":true,"Attachable":true,"EnableIPv6":false}"#;
    let (s, v) = call(&app, Method::POST, "/v1.41/networks/create", body).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let id = v["Id"].as_str().expect("Id").to_string();
    assert_eq!(v["Warning"], "");
    let (s, v) = call(&app, Method::POST, "/networks/create", body).await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    assert!(v["message"].as_str().expect("message").contains("already exists"));

    let (s, v) = call(&app, Method::GET, "/networks/proj_default", "").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        (v["Id"].as_str(), v["Driver"].as_str(), v["Scope"].as_str()),
        (Some(id.as_str()), Some("bridge"), Some("local"))
    );
    assert_eq!(v["Attachable"], true);
    assert_eq!(v["IPAM"]["Driver"], "default");
    assert!(v["Containers"].as_object().expect("Containers").is_empty());
    assert_eq!(v["Labels"]["com.docker.compose.project"], "proj");
    assert_eq!(call(&app, Method::GET, &format!("/networks/{}", &id[..12]), "").await.0, StatusCode::OK);
    assert_eq!(call(&app, Method::GET, "/networks/nope", "").await.0, StatusCode::NOT_FOUND);

    let f = |q: &str| format!("/networks?filters={}", urlencode(q));
    for (q, want) in [
        (r#"{"label":["com.docker.compose.project=proj"]}"#, 1),
        (r#"{"name":["proj"]}"#, 1),
        (r#"{"type":["builtin"]}"#, 3),
        (r#"{"type":["custom"]}"#, 1),
        (r#"{"driver":["null"]}"#, 1),
        (r#"{"dangling":["true"]}"#, 1),
    ] {
        let (s, v) = call(&app, Method::GET, &f(q), "").await;
        assert_eq!((s, v.as_array().map(Vec::len)), (StatusCode::OK, Some(want)), "{q}");
    }
    assert_eq!(call(&app, Method::GET, &f(r#"{"colour":["x"]}"#), "").await.0, StatusCode::BAD_REQUEST);

    assert_eq!(call(&app, Method::DELETE, "/networks/bridge", "").await.0, StatusCode::FORBIDDEN);
    let (s, v) = call(&app, Method::POST, "/networks/proj_default/connect", r#"{"Container":"ghost"}"#).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    assert_eq!(call(&app, Method::POST, "/networks/create", r#"{"Name":"bad name"}"#).await.0, StatusCode::BAD_REQUEST);
    assert_eq!(call(&app, Method::POST, "/networks/create", "{not json").await.0, StatusCode::BAD_REQUEST);

    let (s, v) = call(&app, Method::POST, "/networks/prune", "").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["NetworksDeleted"], serde_json::json!(["proj_default"]));
    assert_eq!(call(&app, Method::DELETE, "/networks/proj_default", "").await.0, StatusCode::NOT_FOUND);
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
