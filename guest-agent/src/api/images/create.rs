//! `POST /images/create` (pull; import with `fromSrc`), `POST
//! /images/{name}/tag` and `POST /images/{name}/push`.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::body::BodyReader;
use super::stream::stream_json_lines;
use super::wire::{bad_reference, query_pairs, store_error};
use crate::api::error::ApiError;
use crate::api::registry_access::{Images, registry_auth};
use crate::image::import::{self, ImportError, ImportOptions};
use crate::image::ingest::IngestError;
use crate::image::reference::ImageRef;
use crate::image::registry::{Credentials, RegistryError};
use crate::image::store::StoreError;
use crate::image::{pull, push};

/// `POST /images/create`: `fromImage` pulls, `fromSrc=-` imports the body.
pub(super) async fn create(
    State(images): State<Arc<Images>>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let q = query_pairs(raw);
    let one = |k: &str| q.iter().find(|(key, v)| key == k && !v.is_empty()).map(|(_, v)| v.clone());
    let tag = one("tag");
    if let Some(src) = one("fromSrc") {
        let changes = q.iter().filter(|(k, _)| k == "changes").map(|(_, v)| v.clone()).collect();
        return import(images, &src, one("repo"), tag, changes, one("message"), body).await;
    }
    let Some(from) = one("fromImage") else {
        return ApiError::bad_request("fromImage or fromSrc is required").into_response();
    };
    pull_image(images, from, tag, &headers).await
}

/// A pull. The reply is 200 with JSON lines as the pull goes; a failure is
/// the last line, carrying both `error` and `errorDetail` (the CLI reads
/// one, docker-py the other).
async fn pull_image(images: Arc<Images>, from: String, tag: Option<String>, headers: &HeaderMap) -> Response {
    let name = match tag {
        Some(t) if t.starts_with("sha256:") => format!("{from}@{t}"),
        Some(t) => format!("{from}:{t}"),
        None => from,
    };
    let reference = match ImageRef::parse(&name) {
        Ok(r) => r,
        Err(e) => return bad_reference(e).into_response(),
    };
    let creds = registry_auth(headers);
    stream_json_lines(move |progress| async move {
        pull::pull(&images.store, &images.registries, &reference, &creds, &progress).await.map(|_| ()).map_err(|e| {
            match &e {
                // Docker answers a refused pull with 403 and this wording,
                // never 401: on a 401 the CLI falls back to prompting for a
                // password on stdin, which hangs a script (or a test).
                pull::PullError::Registry(RegistryError::Unauthorized { .. } | RegistryError::Denied { .. }) => {
                    ApiError::new(
                        StatusCode::FORBIDDEN,
                        format!(
                            "pull access denied for {}, repository does not exist or may require 'docker login': {e}",
                            reference.familiar_name()
                        ),
                    )
                }
                pull::PullError::Registry(r) => ApiError::new(registry_status(r), e.to_string()),
                _ => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
            }
        })
    })
    .await
}

/// `fromSrc=-`: the body is a rootfs tarball. `repo` may carry the tag
/// (`name:tag`), as the docker CLI sends it. The reply is one JSON line
/// with the new image's ID as `status`, which the CLI prints.
async fn import(
    images: Arc<Images>,
    src: &str,
    repo: Option<String>,
    tag: Option<String>,
    changes: Vec<String>,
    message: Option<String>,
    body: Body,
) -> Response {
    if src != "-" {
        return ApiError::bad_request(format!(
            "import from {src:?}: only fromSrc=- (the request body) is supported; the engine fetches no URLs"
        ))
        .into_response();
    }
    let refs = match repo {
        None => Vec::new(),
        Some(repo) => {
            let name = match tag {
                Some(t) => format!("{repo}:{t}"),
                None => repo,
            };
            match ImageRef::parse(&name) {
                Ok(r) => r.tagged_key().into_iter().collect(),
                Err(e) => return bad_reference(e).into_response(),
            }
        }
    };
    let opts = ImportOptions { changes, message, refs };
    let reader = BodyReader::spawn(body);
    let store = images.store.clone();
    match tokio::task::spawn_blocking(move || import::import(&store, reader, &opts)).await {
        Ok(Ok(rec)) => {
            let line = format!("{}\n", json!({"status": rec.id.to_string()}));
            (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], line).into_response()
        }
        Ok(Err(e)) => {
            let status = match &e {
                ImportError::Ingest(IngestError::Store(StoreError::Io { .. })) => StatusCode::INTERNAL_SERVER_ERROR,
                _ => StatusCode::BAD_REQUEST,
            };
            ApiError::new(status, e.to_string()).into_response()
        }
        Err(e) => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("import failed: {e}")).into_response(),
    }
}

/// Status codes for failures that happen before any progress was sent.
pub(super) fn registry_status(e: &RegistryError) -> StatusCode {
    match e {
        RegistryError::NotFound { .. } => StatusCode::NOT_FOUND,
        RegistryError::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
        RegistryError::Denied { .. } => StatusCode::FORBIDDEN,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

#[derive(serde::Deserialize, Default)]
pub(super) struct PushQuery {
    pub tag: Option<String>,
}

pub(super) fn tag(images: &Images, name: &str, q: &std::collections::HashMap<String, String>) -> Result<(), ApiError> {
    let rec = images.store.resolve(name).map_err(store_error)?;
    let repo = q.get("repo").filter(|r| !r.is_empty()).ok_or_else(|| ApiError::bad_request("repo is required"))?;
    let target = match q.get("tag").filter(|t| !t.is_empty()) {
        Some(t) => format!("{repo}:{t}"),
        None => repo.clone(),
    };
    let target = ImageRef::parse(&target).map_err(bad_reference)?;
    images.store.tag(&target, &rec.id).map_err(store_error)
}

pub(super) async fn push_image(images: Arc<Images>, name: &str, q: PushQuery, creds: Credentials) -> Response {
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
