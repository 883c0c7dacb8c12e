//! `GET /distribution/{name}/json`: what a registry holds for a name,
//! without pulling it — the descriptor of what the name resolves to and the
//! platforms it offers (from an index's entries, or an image's config).
//!
//! Owns the reply shape (`Descriptor`, `Platforms`). It must never write to
//! the store.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::error::{ApiError, json_response};
use super::registry_access::{Images, registry_auth};
use crate::image::manifest::{self, Fetched};
use crate::image::reference::ImageRef;
use crate::image::registry::{Registry, RegistryError};

pub async fn inspect(State(images): State<Arc<Images>>, Path(rest): Path<String>, headers: HeaderMap) -> Response {
    let Some(name) = rest.strip_suffix("/json") else {
        return ApiError::not_found(format!("page not found: /distribution/{rest}")).into_response();
    };
    let reference = match ImageRef::parse(name) {
        Ok(r) => r,
        Err(e) => return ApiError::bad_request(e.to_string()).into_response(),
    };
    match describe(&images, &reference, &headers).await {
        Ok(v) => json_response(StatusCode::OK, &v),
        Err(e) => e.into_response(),
    }
}

async fn describe(images: &Images, r: &ImageRef, headers: &HeaderMap) -> Result<Value, ApiError> {
    let registry_err = |e: RegistryError| {
        let status = match &e {
            RegistryError::NotFound { .. } => StatusCode::NOT_FOUND,
            RegistryError::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            RegistryError::Denied { .. } => StatusCode::FORBIDDEN,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, e.to_string())
    };
    let registry = Registry::connect(&images.registries, r, &registry_auth(headers)).await.map_err(registry_err)?;
    let (body, digest) = registry.fetch_manifest(r).await.map_err(registry_err)?;
    let bad = |e: manifest::ManifestError| ApiError::new(StatusCode::BAD_GATEWAY, format!("{r}: {e}"));
    let (media_type, platforms) = match manifest::parse(&body).map_err(bad)? {
        Fetched::Index(index) => {
            let platforms: Vec<Value> = index
                .manifests()
                .iter()
                .filter_map(|m| m.platform().as_ref())
                .map(|p| {
                    let mut v = json!({"architecture": p.architecture().to_string(), "os": p.os().to_string()});
                    if let Some(variant) = p.variant() {
                        v["variant"] = json!(variant);
                    }
                    v
                })
                .collect();
            let mt = index.media_type().as_ref().map_or(manifest::OCI_INDEX.to_string(), |m| m.to_string());
            (mt, platforms)
        }
        Fetched::Image { manifest: m, media_type } => {
            let config_digest = manifest::descriptor_digest(m.config()).map_err(bad)?;
            let config = registry.fetch_small_blob(r, &config_digest).await.map_err(registry_err)?;
            let c: Value = serde_json::from_slice(&config).unwrap_or(Value::Null);
            let platform = json!({
                "architecture": c.get("architecture").cloned().unwrap_or(json!("")),
                "os": c.get("os").cloned().unwrap_or(json!("")),
            });
            (media_type, vec![platform])
        }
    };
    Ok(json!({
        "Descriptor": {"mediaType": media_type, "digest": digest.to_string(), "size": body.len()},
        "Platforms": platforms,
    }))
}
