//! `GET /images/get?names=…`, `GET /images/{name}/get` (docker save) and
//! `POST /images/load` (docker load).
//!
//! Owns the HTTP side: which images a save means, the streamed tar reply,
//! and load's reply — JSON lines (`{"stream":"Loaded image: …\n"}`) with
//! `Content-Type: application/json`, which is what makes the docker CLI
//! render them (anything else it prints raw).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::body::{BodyReader, BodyWriter};
use super::wire::{query_pairs, store_error};
use crate::api::error::ApiError;
use crate::api::registry_access::Images;
use crate::image::archive::load::{self, LoadError};
use crate::image::archive::save::{self, SaveItem};
use crate::image::ingest::IngestError;
use crate::image::reference::ImageRef;
use crate::image::store::{Store, StoreError};

/// `GET /images/get?names=a&names=b`.
pub(super) async fn get_many(State(images): State<Arc<Images>>, RawQuery(raw): RawQuery) -> Response {
    let names: Vec<String> = query_pairs(raw).into_iter().filter(|(k, _)| k == "names").map(|(_, v)| v).collect();
    save_response(&images, &names)
}

/// `GET /images/{name}/get`.
pub(super) fn get_one(images: &Arc<Images>, name: &str) -> Response {
    save_response(images, &[name.to_string()])
}

fn save_response(images: &Arc<Images>, names: &[String]) -> Response {
    if names.is_empty() {
        return ApiError::bad_request("names is required").into_response();
    }
    let items = match save_items(&images.store, names) {
        Ok(items) => items,
        Err(e) => return e.into_response(),
    };
    let (writer, body) = BodyWriter::new();
    let store = images.store.clone();
    tokio::task::spawn_blocking(move || {
        if let Err(e) = save::save(&store, &items, writer) {
            // Headers are gone: all a client can see is the tar ending early.
            tracing::warn!(error = %e, "image save stopped");
        }
    });
    (StatusCode::OK, [(header::CONTENT_TYPE, "application/x-tar")], body).into_response()
}

/// Resolves every name first, so a missing one is a 404 before any byte.
/// Names given as references are recorded in the archive; IDs are not.
fn save_items(store: &Store, names: &[String]) -> Result<Vec<SaveItem>, ApiError> {
    let mut items: Vec<SaveItem> = Vec::new();
    let list = store.list();
    for name in names {
        let rec = store.resolve(name).map_err(store_error)?;
        let tagged = ImageRef::parse(name).ok().and_then(|r| {
            let key = r.tagged_key()?;
            let summary = list.iter().find(|s| s.record.id == rec.id)?;
            summary.tags.contains(&key).then(|| {
                let familiar = format!("{}:{}", r.familiar_name(), r.tag.clone().unwrap_or_default());
                (key, familiar)
            })
        });
        let item = match items.iter_mut().find(|i| i.record.id == rec.id) {
            Some(i) => i,
            None => {
                items.push(SaveItem { record: rec, names: Vec::new() });
                items.last_mut().expect("just pushed")
            }
        };
        if let Some(n) = tagged
            && !item.names.contains(&n)
        {
            item.names.push(n);
        }
    }
    Ok(items)
}

/// `POST /images/load?quiet=`: the body is the archive.
pub(super) async fn load(State(images): State<Arc<Images>>, body: Body) -> Response {
    let reader = BodyReader::spawn(body);
    let store = images.store.clone();
    let result = tokio::task::spawn_blocking(move || load::load(&store, reader, |_| {})).await;
    let loaded = match result {
        Ok(Ok(l)) => l,
        Ok(Err(e)) => return load_error(e).into_response(),
        Err(e) => return ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("load failed: {e}")).into_response(),
    };
    let mut out = Vec::new();
    for l in &loaded {
        let lines: Vec<String> = if l.tags.is_empty() {
            vec![format!("Loaded image ID: {}", l.record.id)]
        } else {
            l.tags.iter().map(|t| format!("Loaded image: {t}")).collect()
        };
        for line in lines {
            let mut b = serde_json::to_vec(&json!({"stream": format!("{line}\n")})).unwrap_or_default();
            b.push(b'\n');
            out.extend(b);
        }
    }
    (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], out).into_response()
}

/// A bad archive is the client's fault (400); a store failure is ours.
fn load_error(e: LoadError) -> ApiError {
    let status = match &e {
        LoadError::Ingest(IngestError::Store(StoreError::Io { .. })) => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_REQUEST,
    };
    ApiError::new(status, e.to_string())
}
