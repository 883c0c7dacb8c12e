//! `POST /auth` (docker login): checks credentials against the registry
//! and says whether they work. The engine stores nothing: the CLI keeps
//! the credentials and sends them with each pull and push
//! (`X-Registry-Auth`).
//!
//! Owns turning the CLI's `serveraddress` into a registry host and the
//! reply shapes: 200 `{"Status":"Login Succeeded","IdentityToken":""}`, or
//! 401 with a message naming the registry. It must never log a password.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::error::{ApiError, json_response};
use super::registry_access::Images;
use crate::image::reference::{DEFAULT_REGISTRY, ImageRef};
use crate::image::registry::{Credentials, Registry, RegistryError};

#[derive(serde::Deserialize, Default)]
#[serde(default)]
pub struct AuthConfig {
    username: String,
    password: String,
    serveraddress: String,
    identitytoken: String,
}

pub async fn login(State(images): State<Arc<Images>>, body: Option<Json<AuthConfig>>) -> Response {
    let Some(Json(cfg)) = body else {
        return ApiError::bad_request("the body must be JSON with username, password and serveraddress")
            .into_response();
    };
    let host = match registry_host(&cfg.serveraddress) {
        Some(h) => h,
        None => {
            return ApiError::bad_request(format!("invalid registry address {:?}", cfg.serveraddress)).into_response();
        }
    };
    let creds = if !cfg.identitytoken.is_empty() {
        Credentials::Token(cfg.identitytoken)
    } else {
        Credentials::Basic { username: cfg.username.clone(), password: cfg.password }
    };
    // Any repository will do: the answer is about the credentials.
    let probe = match ImageRef::parse(&format!("{host}/berth/login-check")) {
        Ok(r) => r,
        Err(e) => return ApiError::bad_request(e.to_string()).into_response(),
    };
    let checked = async {
        let registry = Registry::connect(&images.registries, &probe, &creds).await?;
        registry.check_login(&probe).await
    };
    match checked.await {
        Ok(()) => {
            tracing::info!(registry = %host, user = %cfg.username, "login succeeded");
            json_response(StatusCode::OK, &json!({"Status": "Login Succeeded", "IdentityToken": ""}))
        }
        Err(RegistryError::Unauthorized { .. } | RegistryError::Denied { .. }) => ApiError::new(
            StatusCode::UNAUTHORIZED,
            format!("login to {host} failed: unauthorized: incorrect username or password"),
        )
        .into_response(),
        Err(e) => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("login to {host}: {e}")).into_response(),
    }
}

/// `https://index.docker.io/v1/` → `docker.io`; `http://127.0.0.1:5000/` →
/// `127.0.0.1:5000`; empty → Docker Hub, as the CLI means it.
fn registry_host(address: &str) -> Option<String> {
    let rest = address.trim();
    let rest = rest.strip_prefix("https://").or_else(|| rest.strip_prefix("http://")).unwrap_or(rest);
    let host = rest.split('/').next().unwrap_or("");
    match host {
        "" | "index.docker.io" | "registry-1.docker.io" | "docker.io" => Some(DEFAULT_REGISTRY.to_string()),
        h if h.chars().all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c)) => Some(h.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_addresses_become_registry_hosts() {
        assert_eq!(registry_host("https://index.docker.io/v1/").as_deref(), Some("docker.io"));
        assert_eq!(registry_host("").as_deref(), Some("docker.io"));
        assert_eq!(registry_host("http://127.0.0.1:5000/").as_deref(), Some("127.0.0.1:5000"));
        assert_eq!(registry_host("localhost:5000").as_deref(), Some("localhost:5000"));
        assert_eq!(registry_host("bad host"), None);
    }
}
