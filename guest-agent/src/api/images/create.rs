//! `POST /images/create` (pull; import with `fromSrc`), `POST
//! /images/{name}/tag` and `POST /images/{name}/push`.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::stream::stream_json_lines;
use super::{Images, bad_reference, registry_auth, store_error};
use crate::api::error::ApiError;
use crate::image::reference::ImageRef;
use crate::image::registry::{Credentials, RegistryError};
use crate::image::{pull, push};

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub(super) struct CreateQuery {
    from_image: Option<String>,
    from_src: Option<String>,
    pub tag: Option<String>,
}

/// `POST /images/create?fromImage=…&tag=…`: a pull. The reply is 200 with
/// JSON lines as the pull goes; a failure is the last line, carrying both
/// `error` and `errorDetail` (the CLI reads one, docker-py the other).
pub(super) async fn create(
    State(images): State<Arc<Images>>,
    Query(q): Query<CreateQuery>,
    headers: HeaderMap,
) -> Response {
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
