//! What the routes that reach registries (pull, push, `/distribution`)
//! share: the credentials a client sends in `X-Registry-Auth`, and the
//! per-registry ones of a build's `X-Registry-Config`.
//!
//! Owns reading that header; it must never log or keep what it decodes.

use std::collections::HashMap;

use axum::http::HeaderMap;
use base64::Engine as _;

use crate::image::registry::Credentials;

/// One registry's credentials as clients encode them (Docker's
/// `AuthConfig`): `username`/`password`, `auth` (base64 `user:pass`), or a
/// token.
#[derive(serde::Deserialize, Default)]
struct Auth {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    auth: String,
    #[serde(default, alias = "identitytoken")]
    registrytoken: String,
}

impl Auth {
    fn credentials(self) -> Credentials {
        if !self.registrytoken.is_empty() {
            return Credentials::Token(self.registrytoken);
        }
        if !self.username.is_empty() {
            return Credentials::Basic { username: self.username, password: self.password };
        }
        let pair = decode(&self.auth).and_then(|b| String::from_utf8(b).ok());
        match pair.as_deref().and_then(|p| p.split_once(':')) {
            Some((u, p)) if !u.is_empty() => Credentials::Basic { username: u.to_string(), password: p.to_string() },
            _ => Credentials::Anonymous,
        }
    }
}

/// Base64 as clients write it: URL-safe (Go's `URLEncoding`), with or
/// without padding, or the standard alphabet.
fn decode(raw: &str) -> Option<Vec<u8>> {
    let engines = [
        base64::engine::general_purpose::URL_SAFE,
        base64::engine::general_purpose::URL_SAFE_NO_PAD,
        base64::engine::general_purpose::STANDARD,
    ];
    engines.iter().find_map(|e| e.decode(raw.trim()).ok())
}

/// `X-Registry-Auth`: base64url JSON with `username`/`password` or a
/// `registrytoken`. Absent or unreadable means anonymous, as in Docker.
pub fn registry_auth(headers: &HeaderMap) -> Credentials {
    let Some(raw) = headers.get("x-registry-auth").and_then(|v| v.to_str().ok()) else {
        return Credentials::Anonymous;
    };
    let auth: Auth = decode(raw).and_then(|d| serde_json::from_slice(&d).ok()).unwrap_or_default();
    auth.credentials()
}

/// `X-Registry-Config` (`POST /build`): base64url JSON mapping each
/// registry the client has credentials for to them, keyed as the client's
/// config names it (`host`, `https://host/v1/`, and for Docker Hub
/// `https://index.docker.io/v1/`); here keyed by the registry's host as
/// references name it (`docker.io` for Hub). Unreadable means none.
pub fn registry_config(headers: &HeaderMap) -> HashMap<String, Credentials> {
    let Some(raw) = headers.get("x-registry-config").and_then(|v| v.to_str().ok()) else {
        return HashMap::new();
    };
    let all: HashMap<String, Auth> = decode(raw).and_then(|d| serde_json::from_slice(&d).ok()).unwrap_or_default();
    all.into_iter()
        .map(|(key, auth)| (registry_host(&key), auth.credentials()))
        .filter(|(_, c)| !matches!(c, Credentials::Anonymous))
        .collect()
}

/// `https://index.docker.io/v1/` → `docker.io`, `http://h:5000/` → `h:5000`.
fn registry_host(key: &str) -> String {
    let host = key.trim_start_matches("https://").trim_start_matches("http://");
    let host = host.split('/').next().unwrap_or_default().to_ascii_lowercase();
    match host.as_str() {
        "index.docker.io" | "registry-1.docker.io" => docker_vocab::reference::DEFAULT_REGISTRY.to_string(),
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

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

    #[test]
    fn registry_config_maps_each_registry_to_its_credentials() {
        let enc = |v: Value| base64::engine::general_purpose::URL_SAFE.encode(v.to_string());
        let mut h = HeaderMap::new();
        assert!(registry_config(&h).is_empty());
        let pair = base64::engine::general_purpose::STANDARD.encode("ann:pw");
        let v = json!({
            "https://index.docker.io/v1/": {"username": "hub", "password": "x"},
            "127.0.0.1:5000": {"auth": pair},
            "https://ghcr.example/v1/": {"identitytoken": "tok"},
            "empty.example": {},
        });
        h.insert("x-registry-config", enc(v).parse().expect("header"));
        let m = registry_config(&h);
        assert!(matches!(&m["docker.io"], Credentials::Basic { username, .. } if username == "hub"));
        assert!(
            matches!(&m["127.0.0.1:5000"], Credentials::Basic { username, password } if username == "ann" && password == "pw")
        );
        assert!(matches!(&m["ghcr.example"], Credentials::Token(t) if t == "tok"));
        assert!(!m.contains_key("empty.example"), "an entry without credentials is anonymous");
        h.insert("x-registry-config", "not base64 json".parse().expect("header"));
        assert!(registry_config(&h).is_empty());
    }
}
