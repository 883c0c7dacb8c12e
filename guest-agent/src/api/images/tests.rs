//! The image routes end to end through the router, against a real registry.

use axum::http::{Method, Request};
use http_body_util::BodyExt;
use tower::ServiceExt;

use axum::body::Body;
use serde_json::{Value, json};

use super::list::glob;
use super::wire::created_unix;
use super::*;
use crate::image::build::{NewImage, create_image};
use crate::image::progress::Progress;
use crate::image::push;
use crate::image::reference::ImageRef;
use crate::image::registry::{Credentials, RegistryConfig};
use crate::image::store::{ImageRecord, Store};
use crate::image::unpack::tests::{Raw, raw_tar};
use berth_test_support::registry::TestRegistry;

async fn call(app: &Router, method: Method, uri: &str) -> (StatusCode, Vec<u8>) {
    let req = Request::builder().method(method).uri(uri).body(Body::empty()).expect("request");
    let resp = app.clone().oneshot(req).await.expect("response");
    let status = resp.status();
    (status, resp.into_body().collect().await.expect("body").to_bytes().to_vec())
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

fn app(dir: &std::path::Path) -> Router {
    let store = Store::open(dir).expect("store");
    crate::api::image_routes(Arc::new(Images { store, registries: RegistryConfig::default() }))
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
    let app = routes(Arc::new(Images { store, registries: RegistryConfig::default() }));
    let count = |body: Vec<u8>| serde_json::from_slice::<Value>(&body).expect("json").as_array().map_or(0, Vec::len);
    let q = |f: Value| format!("/images/json?filters={}", f.to_string().replace('"', "%22").replace(' ', "%20"));

    assert_eq!(count(call(&app, Method::GET, "/images/json").await.1), 2);
    assert_eq!(count(call(&app, Method::GET, &q(json!({"dangling": ["true"]}))).await.1), 1);
    assert_eq!(count(call(&app, Method::GET, &q(json!({"dangling": {"false": true}}))).await.1), 1);
    assert_eq!(count(call(&app, Method::GET, &q(json!({"reference": ["shop/*"]}))).await.1), 1);
    assert_eq!(count(call(&app, Method::GET, &q(json!({"reference": ["web*"]}))).await.1), 0);
    assert_eq!(count(call(&app, Method::GET, &q(json!({"label": ["tier=web"]}))).await.1), 1);
    assert_eq!(count(call(&app, Method::GET, &q(json!({"label": ["tier=db"]}))).await.1), 0);
    assert_eq!(call(&app, Method::GET, &q(json!({"bogus": ["x"]}))).await.0, StatusCode::BAD_REQUEST);

    let (status, body) = call(&app, Method::GET, "/images/shop/web:1/history").await;
    assert_eq!(status, StatusCode::OK);
    let h: Value = serde_json::from_slice(&body).expect("history");
    assert_eq!(h[0]["Id"], json!(web.id.to_string()));
    assert_eq!(h[0]["CreatedBy"], json!("RUN build"));
    assert_eq!(h[0]["Tags"], json!(["shop/web:1"]));
    assert_eq!((h[1]["Id"].clone(), h[1]["Size"].clone()), (json!("<missing>"), json!(web.layers[0].size)));
}

#[test]
fn glob_matches_like_go_path_match() {
    assert!(glob("busy*", "busybox:latest"));
    assert!(glob("shop/*", "shop/web"));
    assert!(!glob("*", "shop/web"));
    assert!(glob("b?sybox", "busybox"));
}

#[test]
fn created_times_parse_with_offsets() {
    assert_eq!(created_unix(&json!({"created": "1970-01-01T00:00:00Z"})), Some(0));
    assert_eq!(created_unix(&json!({"created": "2024-10-25T12:00:00.123456789+02:00"})), Some(1_729_850_400));
    assert_eq!(created_unix(&json!({"created": "yesterday"})), None);
}

/// The engine's side of the in-use hook, as the container registry will
/// answer it: a fixed list of (image, container, running).
struct Containers(std::sync::Mutex<Vec<crate::image::users::ImageUse>>);

impl crate::image::users::ImageUsers for Containers {
    fn image_users(&self) -> Vec<crate::image::users::ImageUse> {
        self.0.lock().expect("lock").clone()
    }
}

fn uses(image: &ImageRecord, container: &str, running: bool) -> crate::image::users::ImageUse {
    crate::image::users::ImageUse {
        image: image.id.clone(),
        container: container.repeat(64 / container.len()),
        running,
    }
}

#[tokio::test]
async fn images_in_use_are_not_deleted_and_prune_spares_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("store");
    let one = |name: &[u8], labels: Value| NewImage {
        config: json!({"Labels": labels}),
        ..NewImage::new(vec![raw_tar(&[Raw::file(name, name)])])
    };
    let used = create_image(&store, one(b"u", json!({})), &[ImageRef::parse("used:1").expect("ref")]).expect("used");
    let running = create_image(&store, one(b"r", json!({})), &[ImageRef::parse("run:1").expect("ref")]).expect("run");
    let tagged = create_image(&store, one(b"t", json!({"keep": "yes"})), &[ImageRef::parse("kept:1").expect("ref")])
        .expect("tagged");
    let dangling = create_image(&store, one(b"d", json!({})), &[]).expect("dangling");
    let dangling_used = create_image(&store, one(b"x", json!({})), &[]).expect("dangling in use");
    let containers = Arc::new(Containers(std::sync::Mutex::new(vec![
        uses(&used, "a", false),
        uses(&running, "b", true),
        uses(&dangling_used, "c", false),
    ])));
    store.set_users(containers);
    let app = routes(Arc::new(Images { store: store.clone(), registries: RegistryConfig::default() }));
    let text = |b: Vec<u8>| String::from_utf8_lossy(&b).into_owned();

    let (status, body) = call(&app, Method::DELETE, "/images/used:1").await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(text(body).contains("(must force) - container aaaaaaaaaaaa is using its referenced image"));
    let (status, body) = call(&app, Method::DELETE, &format!("/images/{}", used.id)).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(text(body).contains("(must be forced) - image is being used by stopped container aaaaaaaaaaaa"));
    let (status, body) = call(&app, Method::DELETE, &format!("/images/{}?force=1", running.id)).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(text(body).contains("(cannot be forced) - image is being used by running container bbbbbbbbbbbb"));
    // Forced over a stopped container: the name goes, the image stays.
    let (status, body) = call(&app, Method::DELETE, "/images/used:1?force=1").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(serde_json::from_slice::<Value>(&body).expect("json"), json!([{"Untagged": "used:1"}]));
    assert!(store.contains(&used.id));

    // Prune: dangling and unused only, then everything unused but labelled `keep`.
    let (status, body) = call(&app, Method::POST, "/images/prune").await;
    assert_eq!(status, StatusCode::OK);
    let v: Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(v["ImagesDeleted"], json!([{"Deleted": dangling.id.to_string()}]));
    assert!(v["SpaceReclaimed"].as_u64().is_some_and(|n| n > 0), "{v}");
    let q = format!("/images/prune?filters={}", r#"{"dangling":["false"],"label!":["keep"]}"#.replace('"', "%22"));
    let (status, body) = call(&app, Method::POST, &q).await;
    assert_eq!(status, StatusCode::OK, "{}", text(body.clone()));
    let v: Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(v["ImagesDeleted"], json!(null), "everything left is in use or labelled keep: {v}");
    for kept in [&used, &running, &tagged, &dangling_used] {
        assert!(store.contains(&kept.id));
    }
    let (status, _) = call(&app, Method::POST, "/images/prune?filters=%7B%22until%22:[%22soon%22]%7D").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
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
    let app = routes(Arc::new(Images { store, registries: RegistryConfig::default() }));
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
