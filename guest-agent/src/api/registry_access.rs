//! What the routes that reach registries (pull, push, `/distribution`)
//! share: the credentials a client sends in `X-Registry-Auth`.
//!
//! Owns reading that header; it must never log or keep what it decodes.

use axum::http::HeaderMap;
use base64::Engine as _;

use crate::image::registry::Credentials;

/// `X-Registry-Auth`: base64url JSON with `username`/`password` or a
/// `registrytoken`. Absent or unreadable means anonymous, as in Docker.
pub fn registry_auth(headers: &HeaderMap) -> Credentials {
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
}
