//! The image routes end to end through the whole API on a real engine,
//! against a real registry. Images are seeded into the engine's store
//! before the engine opens it (the store is locked while an engine has it).

use axum::http::{Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use tower::ServiceExt;

use axum::body::Body;
use serde_json::{Value, json};

use super::*;
use crate::image::build::{NewImage, create_image};
use crate::image::endpoints::RegistryConfig;
use crate::image::progress::Progress;
use crate::image::push;
use crate::image::reference::ImageRef;
use crate::image::registry::Credentials;
use crate::image::store::{ImageRecord, Store};
use crate::image::unpack::tests::{Raw, raw_tar};
use berth_test_support::registry::TestRegistry;

struct Reply {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: Vec<u8>,
}

async fn send(app: &Router, method: Method, uri: &str, body: Vec<u8>) -> Reply {
    let req = Request::builder().method(method).uri(uri).body(Body::from(body)).expect("request");
    let resp = app.clone().oneshot(req).await.expect("response");
    let (status, headers) = (resp.status(), resp.headers().clone());
    Reply { status, headers, body: resp.into_body().collect().await.expect("body").to_bytes().to_vec() }
}

async fn call(app: &Router, method: Method, uri: &str) -> (StatusCode, Vec<u8>) {
    let r = send(app, method, uri, Vec::new()).await;
    (r.status, r.body)
}

/// Builds `img` in a scratch store and pushes it to `target`'s registry.
async fn seed_registry(target: &ImageRef, img: NewImage) -> ImageRecord {
    let src_dir = tempfile::tempdir().expect("tempdir");
    let src = Store::open(src_dir.path()).expect("store");
    let rec = create_image(&src, img, std::slice::from_ref(target)).expect("create");
    push::push(
        &src,
        &RegistryConfig::default(),
        &target.to_string(),
        target,
        &Credentials::Anonymous,
        &Progress::default(),
    )
    .await
    .expect("seed the registry");
    rec
}

fn lines(body: &[u8]) -> Vec<Value> {
    body.split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).expect("JSON line"))
        .collect()
}

/// The whole API on an engine over `dir` (seed it first, if at all).
fn app(dir: &std::path::Path) -> Router {
    crate::api::app(Arc::new(Engine::open(dir, false).expect("engine")))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_list_inspect_tag_push_and_delete_through_the_api() {
    let reg = TestRegistry::start();
    let name = format!("{}/berth/api", reg.host);
    let target = ImageRef::parse(&format!("{name}:v1")).expect("ref");
    let img = NewImage {
        config: json!({"Cmd": ["sh"], "Labels": {"a": "b"}}),
        ..NewImage::new(vec![raw_tar(&[Raw::file(b"f", b"x")])])
    };
    seed_registry(&target, img).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let app = app(dir.path());

    let (status, body) = call(&app, Method::POST, &format!("/images/create?fromImage={name}&tag=v1")).await;
    assert_eq!(status, StatusCode::OK);
    let out = lines(&body);
    assert!(out.iter().all(|l| l.get("error").is_none()), "{out:?}");
    assert_eq!(
        out.last().and_then(|l| l["status"].as_str()),
        Some(format!("Status: Downloaded newer image for {name}:v1").as_str())
    );

    let (_, body) = call(&app, Method::GET, "/images/json").await;
    let list: Value = serde_json::from_slice(&body).expect("list");
    assert_eq!(list[0]["RepoTags"], json!([format!("{name}:v1")]));
    assert_eq!(list[0]["Labels"], json!({"a": "b"}));
    assert_eq!(list[0]["Created"], json!(0));

    let (status, body) = call(&app, Method::GET, &format!("/images/{name}:v1/json")).await;
    assert_eq!(status, StatusCode::OK);
    let inspect: Value = serde_json::from_slice(&body).expect("inspect");
    assert_eq!(inspect["Id"], list[0]["Id"]);
    assert_eq!(inspect["ContainerConfig"]["Cmd"], json!(["sh"]));
    assert_eq!(inspect["RootFS"]["Layers"].as_array().map(Vec::len), Some(1));

    let (status, _) = call(&app, Method::POST, &format!("/images/{name}:v1/tag?repo={name}-copy&tag=v2")).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, body) = call(&app, Method::POST, &format!("/images/{name}-copy/push?tag=v2")).await;
    assert_eq!(status, StatusCode::OK);
    let pushed = lines(&body);
    assert!(pushed.iter().any(|l| l["aux"]["Tag"] == json!("v2")), "{pushed:?}");

    let (status, body) = call(&app, Method::DELETE, &format!("/images/{name}:v1")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(serde_json::from_slice::<Value>(&body).expect("json"), json!([{"Untagged": format!("{name}:v1")}]));
    let (status, _) = call(&app, Method::DELETE, list[0]["Id"].as_str().expect("id")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "a bare ID is not a route");
    let id = list[0]["Id"].as_str().expect("id").to_string();
    let (status, body) = call(&app, Method::DELETE, &format!("/images/{id}")).await;
    assert_eq!(status, StatusCode::CONFLICT, "two repositories name it: {}", String::from_utf8_lossy(&body));
    let (status, body) = call(&app, Method::DELETE, &format!("/images/{id}?force=1")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(String::from_utf8_lossy(&body).contains("Deleted"));
    let (_, body) = call(&app, Method::GET, "/images/json").await;
    assert_eq!(serde_json::from_slice::<Value>(&body).expect("json"), json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_failures_are_http_errors_before_streaming_and_last_lines_after() {
    let reg = TestRegistry::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let app = app(dir.path());
    // Nothing resolved yet: a plain 404, as Docker answers.
    let (status, body) =
        call(&app, Method::POST, &format!("/images/create?fromImage={}/nothing/here&tag=v1", reg.host)).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{}", String::from_utf8_lossy(&body));
    let err: Value = serde_json::from_slice(&body).expect("json error");
    assert!(err["message"].as_str().is_some_and(|m| m.contains("not found")), "{err}");

    // A layer that fails after the manifest resolved: 200, error last.
    let target = ImageRef::parse(&format!("{}/berth/broken:v1", reg.host)).expect("ref");
    let rec = seed_registry(&target, NewImage::new(vec![raw_tar(&[Raw::file(b"f", b"x")])])).await;
    let blob = reg.blob_data_path(&rec.layers[0].digest);
    let len = std::fs::metadata(&blob).expect("blob").len() as usize;
    std::fs::write(&blob, vec![0u8; len]).expect("corrupt");
    let (status, body) =
        call(&app, Method::POST, &format!("/images/create?fromImage={}/berth/broken&tag=v1", reg.host)).await;
    assert_eq!(status, StatusCode::OK);
    let last = lines(&body).pop().expect("a line");
    let message = last["error"].as_str().expect("error");
    assert_eq!(last["errorDetail"]["message"].as_str(), Some(message));
    assert!(message.contains("does not match its digest"), "{message}");

    let (status, body) = call(&app, Method::GET, "/images/nothing:v1/json").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(String::from_utf8_lossy(&body).contains("No such image"));
}

#[tokio::test]
async fn list_filters_and_history() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("store");
    let labelled = NewImage {
        config: json!({"Labels": {"tier": "web"}}),
        created_by: vec!["ADD base".into(), "RUN build".into()],
        ..NewImage::new(vec![raw_tar(&[Raw::file(b"a", b"1")]), raw_tar(&[Raw::file(b"b", b"2")])])
    };
    let web = create_image(&store, labelled, &[ImageRef::parse("shop/web:1").expect("ref")]).expect("web");
    create_image(&store, NewImage::new(vec![raw_tar(&[Raw::file(b"c", b"3")])]), &[]).expect("dangling");
    let both = NewImage {
        config: json!({"Labels": {"tier": "web", "team": "a"}}),
        ..NewImage::new(vec![raw_tar(&[Raw::file(b"d", b"4")])])
    };
    create_image(&store, both, &[ImageRef::parse("shop/web:2").expect("ref")]).expect("both labels");
    drop(store);
    let app = app(dir.path());
    let count = |body: Vec<u8>| serde_json::from_slice::<Value>(&body).expect("json").as_array().map_or(0, Vec::len);
    let q = |f: Value| format!("/images/json?filters={}", f.to_string().replace('"', "%22").replace(' ', "%20"));

    assert_eq!(count(call(&app, Method::GET, "/images/json").await.1), 3);
    assert_eq!(count(call(&app, Method::GET, &q(json!({"dangling": ["true"]}))).await.1), 1);
    assert_eq!(count(call(&app, Method::GET, &q(json!({"dangling": {"false": true}}))).await.1), 2);
    assert_eq!(count(call(&app, Method::GET, &q(json!({"reference": ["shop/*"]}))).await.1), 2);
    assert_eq!(count(call(&app, Method::GET, &q(json!({"reference": ["shop/web:1"]}))).await.1), 1);
    assert_eq!(count(call(&app, Method::GET, &q(json!({"reference": ["web*"]}))).await.1), 0);
    assert_eq!(count(call(&app, Method::GET, &q(json!({"label": ["tier=web"]}))).await.1), 2);
    assert_eq!(count(call(&app, Method::GET, &q(json!({"label": ["tier=web", "team=a"]}))).await.1), 1, "ANDed");
    assert_eq!(count(call(&app, Method::GET, &q(json!({"label": ["tier=db"]}))).await.1), 0);
    assert_eq!(call(&app, Method::GET, &q(json!({"bogus": ["x"]}))).await.0, StatusCode::BAD_REQUEST);
    assert_eq!(call(&app, Method::GET, &q(json!({"dangling": ["maybe"]}))).await.0, StatusCode::BAD_REQUEST);

    let (status, body) = call(&app, Method::GET, "/images/shop/web:1/history").await;
    assert_eq!(status, StatusCode::OK);
    let h: Value = serde_json::from_slice(&body).expect("history");
    assert_eq!(h[0]["Id"], json!(web.id.to_string()));
    assert_eq!(h[0]["CreatedBy"], json!("RUN build"));
    assert_eq!(h[0]["Tags"], json!(["shop/web:1"]));
    assert_eq!((h[1]["Id"].clone(), h[1]["Size"].clone()), (json!("<missing>"), json!(web.layers[0].size)));
}

#[tokio::test]
async fn before_and_since_filter_by_creation_time() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("store");
    let at = |t: &str, f: &[u8]| {
        let mut img = NewImage::new(vec![raw_tar(&[Raw::file(f, f)])]);
        img.created_by = vec![t.to_string()];
        img
    };
    // NewImage stamps every image 1970-01-01; distinct times come from import.
    create_image(&store, at("old", b"o"), &[ImageRef::parse("old:1").expect("ref")]).expect("old");
    let opts = crate::image::import::ImportOptions {
        changes: vec![],
        message: None,
        refs: vec!["docker.io/library/new:1".into()],
    };
    crate::image::import::import(&store, &raw_tar(&[Raw::file(b"n", b"n")])[..], &opts).expect("import");
    drop(store);
    let app = app(dir.path());
    let names = |body: Vec<u8>| -> Vec<Value> {
        serde_json::from_slice::<Value>(&body)
            .expect("json")
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|i| i["RepoTags"][0].clone())
            .collect()
    };
    let q = |f: &str| format!("/images/json?filters={}", f.replace('"', "%22"));
    assert_eq!(names(call(&app, Method::GET, &q(r#"{"before":["new:1"]}"#)).await.1), vec![json!("old:1")]);
    assert_eq!(names(call(&app, Method::GET, &q(r#"{"since":["old:1"]}"#)).await.1), vec![json!("new:1")]);
    assert_eq!(call(&app, Method::GET, &q(r#"{"since":["nothing:1"]}"#)).await.0, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn distribution_describes_what_the_registry_holds_without_pulling() {
    let reg = TestRegistry::start();
    let target = ImageRef::parse(&format!("{}/berth/dist:v1", reg.host)).expect("ref");
    let rec = seed_registry(&target, NewImage::new(vec![raw_tar(&[Raw::file(b"f", b"x")])])).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let app = app(dir.path());
    let (status, body) = call(&app, Method::GET, &format!("/distribution/{}/berth/dist:v1/json", reg.host)).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    let v: Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(v["Descriptor"]["digest"], json!(rec.manifest.to_string()));
    assert_eq!(v["Platforms"], json!([{"architecture": "amd64", "os": "linux"}]));
    let (_, body) = call(&app, Method::GET, "/images/json").await;
    assert_eq!(serde_json::from_slice::<Value>(&body).expect("json"), json!([]), "nothing was pulled");
    let (status, _) = call(&app, Method::GET, &format!("/distribution/{}/berth/none:v1/json", reg.host)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn prune_through_the_api_ands_labels_and_refuses_bad_filters() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("store");
    let labelled = |f: &[u8], labels: Value| NewImage {
        config: json!({"Labels": labels}),
        ..NewImage::new(vec![raw_tar(&[Raw::file(f, f)])])
    };
    let both = create_image(&store, labelled(b"ab", json!({"a": "1", "b": "1"})), &[]).expect("both");
    let only_a = create_image(&store, labelled(b"a", json!({"a": "1"})), &[]).expect("a");
    drop(store);
    let app = app(dir.path());
    let q = |f: &str| format!("/images/prune?filters={}", f.replace('"', "%22"));
    let (status, body) = call(&app, Method::POST, &q(r#"{"label":["a=1","b=1"]}"#)).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    let v: Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(v["ImagesDeleted"], json!([{"Deleted": both.id.to_string()}]));
    let (_, body) = call(&app, Method::GET, "/images/json").await;
    let left: Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(left[0]["Id"], json!(only_a.id.to_string()));
    assert_eq!(call(&app, Method::POST, &q(r#"{"until":["soon"]}"#)).await.0, StatusCode::BAD_REQUEST);
    assert_eq!(call(&app, Method::POST, &q(r#"{"colour":["red"]}"#)).await.0, StatusCode::BAD_REQUEST);
}

/// docker-py reads a load reply that has a Content-Length as one JSON
/// document: the reply must be chunked, one JSON line per image.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_of_two_images_streams_two_lines_without_a_content_length() {
    let src = tempfile::tempdir().expect("tempdir");
    let store = Store::open(src.path()).expect("store");
    for (f, name) in [(b"1", "one:1"), (b"2", "two:1")] {
        create_image(&store, NewImage::new(vec![raw_tar(&[Raw::file(f, f)])]), &[ImageRef::parse(name).expect("ref")])
            .expect("image");
    }
    drop(store);
    let saved = send(&app(src.path()), Method::GET, "/images/get?names=one:1&names=two:1", Vec::new()).await;
    assert_eq!(saved.status, StatusCode::OK);
    assert_eq!(saved.headers[header::CONTENT_TYPE], "application/x-tar");

    let dst = tempfile::tempdir().expect("tempdir");
    let app = app(dst.path());
    let r = send(&app, Method::POST, "/images/load", saved.body).await;
    assert_eq!(r.status, StatusCode::OK, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.headers[header::CONTENT_TYPE], "application/json");
    assert!(r.headers.get(header::CONTENT_LENGTH).is_none(), "{:?}", r.headers);
    assert_eq!(
        lines(&r.body),
        [json!({"stream": "Loaded image: one:1\n"}), json!({"stream": "Loaded image: two:1\n"})]
    );
    let (_, body) = call(&app, Method::GET, "/images/json").await;
    assert_eq!(serde_json::from_slice::<Value>(&body).expect("json").as_array().map(Vec::len), Some(2));

    // Something that is no archive: Docker's 200, the error as the stream's
    // one line (docker-py raises ImageLoadError from `errorDetail`).
    let r = send(&app, Method::POST, "/images/load", b"not a tar".to_vec()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", String::from_utf8_lossy(&r.body));
    let got = lines(&r.body);
    assert_eq!(got.len(), 1, "{got:?}");
    let message = got[0]["errorDetail"]["message"].as_str().expect("errorDetail.message");
    assert!(!message.is_empty() && got[0]["error"] == message, "{got:?}");
}

#[tokio::test]
async fn import_tag_and_login_errors_keep_dockers_codes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let app = app(dir.path());
    let tarball = raw_tar(&[Raw::file(b"etc/hostname", b"x")]);
    let r = send(
        &app,
        Method::POST,
        "/images/create?fromSrc=-&repo=imp&tag=v1&changes=ENV%20A%3D1&changes=CMD%20sh",
        tarball,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", String::from_utf8_lossy(&r.body));
    let id = lines(&r.body)[0]["status"].as_str().expect("id").to_string();
    let (_, body) = call(&app, Method::GET, "/images/imp:v1/json").await;
    let v: Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(v["Id"], json!(id));
    assert_eq!(v["Config"]["Env"], json!(["A=1"]));
    assert_eq!(v["Config"]["Cmd"], json!(["/bin/sh", "-c", "sh"]));
    assert_eq!(call(&app, Method::POST, "/images/create?fromSrc=http://x/y.tar").await.0, StatusCode::BAD_REQUEST);
    assert_eq!(call(&app, Method::POST, "/images/create").await.0, StatusCode::BAD_REQUEST);
    assert_eq!(call(&app, Method::POST, "/images/imp:v1/tag").await.0, StatusCode::BAD_REQUEST, "repo is required");
    assert_eq!(call(&app, Method::POST, "/images/imp:v1/tag?repo=Bad").await.0, StatusCode::BAD_REQUEST);
    assert_eq!(call(&app, Method::POST, "/images/nothing:v1/tag?repo=x").await.0, StatusCode::NOT_FOUND);
    assert_eq!(call(&app, Method::POST, "/images/imp:v1/frobnicate").await.0, StatusCode::NOT_FOUND);
    let r = send(&app, Method::POST, "/auth", br#"{"serveraddress":"bad host"}"#.to_vec()).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_is_401_with_wrong_credentials_and_ok_with_right_ones() {
    let reg = TestRegistry::start_with_basic_auth("user", "secret");
    let dir = tempfile::tempdir().expect("tempdir");
    let app = app(dir.path());
    let body =
        |pw: &str| json!({"username": "user", "password": pw, "serveraddress": reg.host}).to_string().into_bytes();
    let r = send(&app, Method::POST, "/auth", body("wrong")).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", String::from_utf8_lossy(&r.body));
    let m: Value = serde_json::from_slice(&r.body).expect("json");
    assert_eq!(
        m["message"],
        json!(format!("login to {} failed: unauthorized: incorrect username or password", reg.host))
    );
    // A refused pull is Docker's 403 with its wording, never a 401 (the
    // CLI would prompt for a password).
    let (status, b) = call(&app, Method::POST, &format!("/images/create?fromImage={}/x/y&tag=v1", reg.host)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{}", String::from_utf8_lossy(&b));
    let m: Value = serde_json::from_slice(&b).expect("json");
    let want =
        format!("pull access denied for {}/x/y, repository does not exist or may require 'docker login'", reg.host);
    assert!(m["message"].as_str().is_some_and(|m| m.starts_with(&want)), "{m}");
    let r = send(&app, Method::POST, "/auth", body("secret")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(
        serde_json::from_slice::<Value>(&r.body).expect("json"),
        json!({"Status": "Login Succeeded", "IdentityToken": ""})
    );
}
