//! Image routes of the Docker API: `POST /images/create` (pull, streamed
//! as JSON lines), `GET /images/json`, `GET /images/{name}/json`,
//! `POST /images/{name}/tag`, `POST /images/{name}/push` (streamed) and
//! `DELETE /images/{name}`.
//!
//! Owns the HTTP side only: query parameters, `X-Registry-Auth`, Docker's
//! JSON shapes and status codes. The work is `crate::image`'s; this file
//! must never touch the store's files itself. Image names contain slashes
//! (`localhost:5000/x:v1`), so everything after `/images/` is one wildcard
//! and the action is the last segment, as Docker's own router does.

use std::convert::Infallible;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::error::{ApiError, json_response};
use crate::image::progress::Progress;
use crate::image::reference::ImageRef;
use crate::image::registry::{Credentials, RegistryConfig, RegistryError};
use crate::image::store::{ImageRecord, ImageSummary, Store, StoreError};
use crate::image::{pull, push};

/// What the image routes need: the store and the registry settings.
pub struct Images {
    pub store: Arc<Store>,
    pub registries: RegistryConfig,
}

/// The routes, with their own state, mergeable into any router.
pub fn routes<S: Clone + Send + Sync + 'static>(images: Arc<Images>) -> Router<S> {
    Router::new()
        .route("/images/create", post(create))
        .route("/images/json", get(list))
        .route("/images/{*rest}", get(get_action).post(post_action).delete(delete))
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

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct CreateQuery {
    from_image: Option<String>,
    from_src: Option<String>,
    tag: Option<String>,
}

/// `POST /images/create?fromImage=…&tag=…`: a pull. The reply is 200 with
/// JSON lines as the pull goes; a failure is the last line, carrying both
/// `error` and `errorDetail` (the CLI reads one, docker-py the other).
async fn create(State(images): State<Arc<Images>>, Query(q): Query<CreateQuery>, headers: HeaderMap) -> Response {
    let Some(from) = q.from_image.filter(|s| !s.is_empty()) else {
        let what = if q.from_src.is_some() { "import (fromSrc) is not supported yet" } else { "fromImage is required" };
        return ApiError::new(StatusCode::NOT_IMPLEMENTED, what).into_response();
    };
    let name = match q.tag.filter(|t| !t.is_empty()) {
        Some(t) if t.starts_with("sha256:") => format!("{from}@{t}"),
        Some(t) => format!("{from}:{t}"),
        None => from,
    };
    let reference = match ImageRef::parse(&name) {
        Ok(r) => r,
        Err(e) => return bad_reference(e).into_response(),
    };
    let creds = registry_auth(&headers);
    stream_json_lines(move |progress| async move {
        pull::pull(&images.store, &images.registries, &reference, &creds, &progress).await.map(|_| ()).map_err(|e| {
            let status = match &e {
                pull::PullError::Registry(r) => registry_status(r),
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            };
            ApiError::new(status, e.to_string())
        })
    })
    .await
}

/// Status codes for failures that happen before any progress was sent.
fn registry_status(e: &RegistryError) -> StatusCode {
    match e {
        RegistryError::NotFound { .. } => StatusCode::NOT_FOUND,
        RegistryError::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
        RegistryError::Denied { .. } => StatusCode::FORBIDDEN,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

#[derive(serde::Deserialize, Default)]
struct PushQuery {
    tag: Option<String>,
}

async fn post_action(
    State(images): State<Arc<Images>>,
    Path(rest): Path<String>,
    Query(q): Query<std::collections::HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if let Some(name) = rest.strip_suffix("/tag") {
        return tag(&images, name, &q)
            .map_or_else(IntoResponse::into_response, |()| StatusCode::CREATED.into_response());
    }
    if let Some(name) = rest.strip_suffix("/push") {
        let pq = PushQuery { tag: q.get("tag").cloned() };
        return push_image(images, name, pq, registry_auth(&headers)).await;
    }
    ApiError::not_found(format!("page not found: /images/{rest}")).into_response()
}

async fn get_action(State(images): State<Arc<Images>>, Path(rest): Path<String>) -> Response {
    let (name, action) = match rest.rsplit_once('/') {
        Some((name, action @ ("json" | "history"))) => (name, action),
        _ => return ApiError::not_found(format!("page not found: /images/{rest}")).into_response(),
    };
    let rec = match images.store.resolve(name) {
        Ok(rec) => rec,
        Err(e) => return store_error(e).into_response(),
    };
    if action == "history" {
        return json_response(StatusCode::OK, &history(&images.store, &rec));
    }
    inspect(&images.store, &rec).map_or_else(IntoResponse::into_response, |v| json_response(StatusCode::OK, &v))
}

fn tag(images: &Images, name: &str, q: &std::collections::HashMap<String, String>) -> Result<(), ApiError> {
    let rec = images.store.resolve(name).map_err(store_error)?;
    let repo = q.get("repo").filter(|r| !r.is_empty()).ok_or_else(|| ApiError::bad_request("repo is required"))?;
    let target = match q.get("tag").filter(|t| !t.is_empty()) {
        Some(t) => format!("{repo}:{t}"),
        None => repo.clone(),
    };
    let target = ImageRef::parse(&target).map_err(bad_reference)?;
    images.store.tag(&target, &rec.id).map_err(store_error)
}

async fn push_image(images: Arc<Images>, name: &str, q: PushQuery, creds: Credentials) -> Response {
    let full = match q.tag.filter(|t| !t.is_empty()) {
        Some(t) => format!("{name}:{t}"),
        None => name.to_string(),
    };
    let target = match ImageRef::parse(&full) {
        Ok(r) => r,
        Err(e) => return bad_reference(e).into_response(),
    };
    if let Err(e) = images.store.resolve(&full) {
        return store_error(e).into_response();
    }
    stream_json_lines(move |progress| async move {
        push::push(&images.store, &images.registries, &full, &target, &creds, &progress).await.map(|_| ()).map_err(
            |e| {
                let status = match &e {
                    push::PushError::Registry(r) => registry_status(r),
                    _ => StatusCode::INTERNAL_SERVER_ERROR,
                };
                ApiError::new(status, e.to_string())
            },
        )
    })
    .await
}

/// Runs `work` and streams its progress events as JSON lines. Until the
/// first event the reply is undecided: work that fails before saying
/// anything gets a plain HTTP error (Docker's behaviour, which docker-py and
/// `docker pull` rely on); once streaming, an error is the last line, with
/// both `error` and `errorDetail` (the CLI reads one, docker-py the other).
async fn stream_json_lines<F, Fut>(work: F) -> Response
where
    F: FnOnce(Progress) -> Fut + Send + 'static,
    Fut: Future<Output = Result<(), ApiError>> + Send + 'static,
{
    let (progress, mut events) = Progress::channel();
    let job = tokio::spawn(work(progress));
    // `None` means the work ended (and dropped its sender) silently.
    let Some(first) = events.recv().await else {
        return match job.await {
            Ok(Ok(())) => (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], "").into_response(),
            Ok(Err(e)) => e.into_response(),
            Err(e) => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("internal error: {e}")).into_response(),
        };
    };
    let (tx, rx) = mpsc::unbounded_channel::<Bytes>();
    tokio::spawn(async move {
        let _ = tx.send(line(&first));
        while let Some(ev) = events.recv().await {
            let _ = tx.send(line(&ev));
        }
        let failure = match job.await {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(e.message),
            Err(e) => Some(format!("internal error: {e}")),
        };
        if let Some(message) = failure {
            let _ = tx.send(line(&json!({"errorDetail": {"message": message}, "error": message})));
        }
    });
    let body =
        futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|b| (Ok::<_, Infallible>(b), rx)) });
    (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], Body::from_stream(body)).into_response()
}

fn line(v: &impl serde::Serialize) -> Bytes {
    let mut b = serde_json::to_vec(v).unwrap_or_else(|_| b"{}".to_vec());
    b.push(b'\n');
    Bytes::from(b)
}

/// `GET /images/json?filters=…`: Docker's image summaries, filtered by
/// `dangling`, `reference` (glob on the familiar name or name:tag) and
/// `label` (`key` or `key=value`).
async fn list(
    State(images): State<Arc<Images>>,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Response {
    let filters = match q.get("filters").map(|f| parse_filters(f)).transpose() {
        Ok(f) => f.unwrap_or_default(),
        Err(e) => return e.into_response(),
    };
    let out: Vec<Value> = images
        .store
        .list()
        .iter()
        .filter_map(|s| {
            let config = config_json(&images.store, &s.record);
            let labels = config.pointer("/config/Labels").cloned().filter(|l| l.is_object()).unwrap_or(json!({}));
            let tags = familiar_tags(s);
            if !filters.matches(&tags, &labels) {
                return None;
            }
            Some(json!({
                "Id": s.record.id.to_string(),
                "ParentId": "",
                "RepoTags": tags,
                "RepoDigests": familiar_digests(s),
                "Created": created_unix(&config).unwrap_or(s.record.stored_at as i64),
                "Size": size(&s.record),
                "SharedSize": -1,
                "VirtualSize": size(&s.record),
                "Labels": labels,
                "Containers": -1,
            }))
        })
        .collect();
    json_response(StatusCode::OK, &out)
}

#[derive(Default, Debug)]
struct Filters {
    dangling: Option<bool>,
    reference: Vec<String>,
    label: Vec<String>,
}

impl Filters {
    fn matches(&self, tags: &[String], labels: &Value) -> bool {
        if let Some(d) = self.dangling
            && d != tags.is_empty()
        {
            return false;
        }
        if !self.reference.is_empty() {
            let names = tags
                .iter()
                .flat_map(|t| [t.clone(), t.rsplit_once(':').map(|(n, _)| n.to_string()).unwrap_or_default()]);
            let names: Vec<String> = names.collect();
            if !self.reference.iter().any(|pat| names.iter().any(|n| glob(pat, n))) {
                return false;
            }
        }
        self.label.iter().all(|l| match l.split_once('=') {
            Some((k, v)) => labels.get(k).and_then(Value::as_str) == Some(v),
            None => labels.get(l).is_some(),
        })
    }
}

/// Both encodings clients send: `{"k":["v"]}` and the old `{"k":{"v":true}}`.
fn parse_filters(raw: &str) -> Result<Filters, ApiError> {
    let v: Value = serde_json::from_str(raw).map_err(|e| ApiError::bad_request(format!("invalid filters: {e}")))?;
    let obj = v.as_object().ok_or_else(|| ApiError::bad_request("invalid filters: not an object"))?;
    let mut f = Filters::default();
    for (key, values) in obj {
        let values: Vec<String> = match values {
            Value::Array(a) => a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect(),
            Value::Object(o) => o.iter().filter(|(_, on)| on.as_bool() == Some(true)).map(|(k, _)| k.clone()).collect(),
            _ => return Err(ApiError::bad_request(format!("invalid filter {key:?}"))),
        };
        match key.as_str() {
            "dangling" => match values.first().map(String::as_str) {
                Some("true" | "1") => f.dangling = Some(true),
                Some("false" | "0") => f.dangling = Some(false),
                other => {
                    return Err(ApiError::bad_request(format!("invalid filter 'dangling={}'", other.unwrap_or(""))));
                }
            },
            "reference" => f.reference = values,
            "label" => f.label = values,
            other => return Err(ApiError::bad_request(format!("invalid filter '{other}'"))),
        }
    }
    Ok(f)
}

/// Go's `path.Match` subset Docker's reference filter relies on: `*` is
/// any run of characters except `/`, `?` one such character.
fn glob(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    fn go(p: &[char], n: &[char]) -> bool {
        match p.first() {
            None => n.is_empty(),
            Some('*') => (0..=n.len()).take_while(|&i| i == 0 || n[i - 1] != '/').any(|i| go(&p[1..], &n[i..])),
            Some('?') => n.first().is_some_and(|c| *c != '/') && go(&p[1..], &n[1..]),
            Some(c) => n.first() == Some(c) && go(&p[1..], &n[1..]),
        }
    }
    go(&p, &n)
}

/// `GET /images/{name}/history`: newest first, one entry per history line;
/// only the top entry carries the image ID, as in Docker.
fn history(store: &Store, rec: &ImageRecord) -> Value {
    let config = config_json(store, rec);
    let entries = config.get("history").and_then(Value::as_array).cloned().unwrap_or_default();
    let mut layers = rec.layers.iter();
    let mut out: Vec<Value> = entries
        .iter()
        .map(|h| {
            let empty = h.get("empty_layer").and_then(Value::as_bool).unwrap_or(false);
            let size = if empty { 0 } else { layers.next().map_or(0, |l| l.size) };
            json!({
                "Id": "<missing>",
                "Created": created_unix(&json!({"created": h.get("created")})).unwrap_or(0),
                "CreatedBy": h.get("created_by").and_then(Value::as_str).unwrap_or(""),
                "Tags": Value::Null,
                "Size": size,
                "Comment": h.get("comment").and_then(Value::as_str).unwrap_or(""),
            })
        })
        .collect();
    out.reverse();
    if let Some(top) = out.first_mut() {
        top["Id"] = json!(rec.id.to_string());
        let tags =
            store.list().into_iter().find(|s| s.record.id == rec.id).map(|s| familiar_tags(&s)).unwrap_or_default();
        top["Tags"] = json!(tags);
    }
    Value::Array(out)
}

/// `GET /images/{name}/json`, with every field docker-py indexes and the
/// `ContainerConfig` that docker-compose 1.29 reads.
fn inspect(store: &Store, rec: &ImageRecord) -> Result<Value, ApiError> {
    let summary = store
        .list()
        .into_iter()
        .find(|s| s.record.id == rec.id)
        .ok_or_else(|| store_error(StoreError::NotFound(rec.id.to_string())))?;
    let config = config_json(store, rec);
    let image_config = config.get("config").cloned().filter(|c| !c.is_null()).unwrap_or(json!({}));
    let lowers: Vec<String> = store.lower_dirs(rec).iter().map(|p| p.display().to_string()).collect();
    Ok(json!({
        "Id": rec.id.to_string(),
        "RepoTags": familiar_tags(&summary),
        "RepoDigests": familiar_digests(&summary),
        "Parent": "",
        "Comment": config.get("comment").cloned().unwrap_or(json!("")),
        "Created": config.get("created").cloned().unwrap_or(json!("")),
        "DockerVersion": config.get("docker_version").cloned().unwrap_or(json!("")),
        "Author": config.get("author").cloned().unwrap_or(json!("")),
        "Config": image_config,
        "ContainerConfig": config.get("container_config").cloned().filter(|c| !c.is_null()).unwrap_or(image_config.clone()),
        "Architecture": config.get("architecture").cloned().unwrap_or(json!("")),
        "Os": config.get("os").cloned().unwrap_or(json!("")),
        "Size": size(rec),
        "VirtualSize": size(rec),
        "GraphDriver": {"Name": "overlay2", "Data": {"LowerDir": lowers.join(":")}},
        "RootFS": {"Type": "layers", "Layers": rec.layers.iter().map(|l| l.diff_id.to_string()).collect::<Vec<_>>()},
        "Metadata": {"LastTagTime": "0001-01-01T00:00:00Z"},
    }))
}

/// `DELETE /images/{name}?force=`: by reference it removes that reference
/// (and the image with its last one); by ID it removes the image, refusing
/// (409) when several repositories name it unless forced.
async fn delete(
    State(images): State<Arc<Images>>,
    Path(name): Path<String>,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Response {
    let force = q.get("force").is_some_and(|v| v == "1" || v == "true");
    match delete_image(&images.store, &name, force) {
        Ok(items) => json_response(StatusCode::OK, &items),
        Err(e) => e.into_response(),
    }
}

fn delete_image(store: &Store, name: &str, force: bool) -> Result<Vec<Value>, ApiError> {
    let rec = store.resolve(name).map_err(store_error)?;
    let summary = store
        .list()
        .into_iter()
        .find(|s| s.record.id == rec.id)
        .ok_or_else(|| store_error(StoreError::NotFound(name.to_string())))?;
    let by_reference = ImageRef::parse(name).ok().filter(|r| {
        let key = r.digest_key().or_else(|| r.tagged_key()).unwrap_or_default();
        summary.tags.contains(&key) || summary.repo_digests.contains(&key)
    });
    let mut out = Vec::new();
    if let Some(r) = by_reference {
        store.untag(&r).map_err(store_error)?;
        out.push(json!({"Untagged": familiar(&r)}));
        let left = store.list().into_iter().find(|s| s.record.id == rec.id);
        if left.is_some_and(|s| !s.tags.is_empty()) {
            return Ok(out);
        }
    } else {
        let repos: std::collections::BTreeSet<String> = summary
            .tags
            .iter()
            .chain(&summary.repo_digests)
            .filter_map(|k| ImageRef::parse(k).ok())
            .map(|r| r.name())
            .collect();
        if repos.len() > 1 && !force {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                format!(
                    "conflict: unable to delete {} (must be forced) - image is referenced in multiple repositories",
                    rec.id.short()
                ),
            ));
        }
    }
    let removed = store.list().into_iter().find(|s| s.record.id == rec.id);
    for k in removed.iter().flat_map(|s| s.tags.iter().chain(&s.repo_digests)) {
        if let Ok(r) = ImageRef::parse(k) {
            out.push(json!({"Untagged": familiar(&r)}));
        }
    }
    store.delete_image(&rec.id).map_err(store_error)?;
    out.push(json!({"Deleted": rec.id.to_string()}));
    if let Err(e) = store.gc() {
        tracing::warn!(error = %e, "collecting a deleted image's content");
    }
    Ok(out)
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

/// `X-Registry-Auth`: base64url JSON with `username`/`password` or a
/// `registrytoken`. Absent or unreadable means anonymous, as in Docker.
fn registry_auth(headers: &HeaderMap) -> Credentials {
    #[derive(serde::Deserialize, Default)]
    struct Auth {
        #[serde(default)]
        username: String,
        #[serde(default)]
        password: String,
        #[serde(default)]
        registrytoken: String,
    }
    let Some(raw) = headers.get("x-registry-auth").and_then(|v| v.to_str().ok()) else {
        return Credentials::Anonymous;
    };
    let engines = [
        base64::engine::general_purpose::URL_SAFE,
        base64::engine::general_purpose::URL_SAFE_NO_PAD,
        base64::engine::general_purpose::STANDARD,
    ];
    let decoded = engines.iter().find_map(|e| e.decode(raw.trim()).ok());
    let auth: Auth = decoded.and_then(|d| serde_json::from_slice(&d).ok()).unwrap_or_default();
    if !auth.registrytoken.is_empty() {
        Credentials::Token(auth.registrytoken)
    } else if !auth.username.is_empty() {
        Credentials::Basic { username: auth.username, password: auth.password }
    } else {
        Credentials::Anonymous
    }
}

#[cfg(test)]
mod tests {
    use axum::http::{Method, Request};
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    use super::*;
    use crate::image::build::{NewImage, create_image};
    use crate::image::store::ImageRecord;
    use crate::image::tests::registry_fixture::TestRegistry;
    use crate::image::unpack::tests::{Raw, raw_tar};

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
        routes(Arc::new(Images { store, registries: RegistryConfig::default() }))
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

    #[test]
    fn registry_auth_header_is_decoded() {
        let enc = |v: Value| base64::engine::general_purpose::URL_SAFE.encode(v.to_string());
        let mut h = HeaderMap::new();
        assert!(matches!(registry_auth(&h), Credentials::Anonymous));
        h.insert("x-registry-auth", enc(json!({"username": "u", "password": "p"})).parse().expect("header"));
        assert!(
            matches!(registry_auth(&h), Credentials::Basic { username, password } if username == "u" && password == "p")
        );
        h.insert("x-registry-auth", enc(json!({"registrytoken": "t"})).parse().expect("header"));
        assert!(matches!(registry_auth(&h), Credentials::Token(t) if t == "t"));
        h.insert("x-registry-auth", "%%%".parse().expect("header"));
        assert!(matches!(registry_auth(&h), Credentials::Anonymous));
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
        let count =
            |body: Vec<u8>| serde_json::from_slice::<Value>(&body).expect("json").as_array().map_or(0, Vec::len);
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
}
