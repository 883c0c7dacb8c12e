//! Typed edges of a request: a query struct per handler and JSON bodies,
//! decoded with Docker's conventions and rejected with Docker's error shape
//! (`{"message": …}`, 400) rather than axum's plain-text rejections.
//!
//! Owns the decoding rules (booleans as moby's `httputils.BoolValue`,
//! integers where empty means absent, repeated keys into a `Vec`); it must
//! never interpret what a parameter means for an operation.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};

use super::error::ApiError;

/// The query string as `T` (serde, repeated keys allowed).
pub struct DockerQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for DockerQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        decode_query(parts.uri.query().unwrap_or("")).map(DockerQuery)
    }
}

pub fn decode_query<T: DeserializeOwned>(raw: &str) -> Result<T, ApiError> {
    serde_html_form::from_str(raw).map_err(|e| ApiError::bad_request(format!("invalid query parameters: {e}")))
}

/// A JSON body as `T`; an empty body is an error.
pub struct DockerJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for DockerJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let body = body_bytes(req, state).await?;
        if body.is_empty() {
            return Err(ApiError::bad_request("request body is empty: a JSON object is required"));
        }
        decode_json(&body).map(DockerJson)
    }
}

/// A JSON body as `T`, or `T::default()` when the body is empty (Docker
/// accepts both for `exec start`, `network prune`, …).
pub struct OptionalJson<T>(pub T);

impl<T: DeserializeOwned + Default, S: Send + Sync> FromRequest<S> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let body = body_bytes(req, state).await?;
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJson(T::default()));
        }
        decode_json(&body).map(OptionalJson)
    }
}

impl<T: DeserializeOwned + Default> OptionalJson<T> {
    /// From a body already split off its request (a handler that keeps the
    /// request's parts, to hijack the connection afterwards).
    pub async fn from_body(body: axum::body::Body, limit: usize) -> Result<Self, ApiError> {
        let bytes = axum::body::to_bytes(body, limit).await.map_err(|e| ApiError::bad_request(e.to_string()))?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJson(T::default()));
        }
        decode_json(&bytes).map(OptionalJson)
    }
}

async fn body_bytes<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state).await.map_err(|e| ApiError::new(e.status(), e.body_text()))
}

pub fn decode_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))
}

/// A JSON body as `T` with Go's key matching at its top level: moby's
/// decoder matches keys to fields whatever their case, and clients rely
/// on it (docker-py sends an exec's `detachKeys`), so a key that equals
/// one of `fields` but for case is read as that field.
pub fn decode_json_folded<T: DeserializeOwned>(mut v: serde_json::Value, fields: &[&str]) -> Result<T, ApiError> {
    if let serde_json::Value::Object(map) = &mut v {
        let keys: Vec<String> = map.keys().cloned().collect();
        for key in keys {
            let canonical = fields.iter().find(|f| **f != key && f.eq_ignore_ascii_case(&key));
            if let Some(f) = canonical
                && !map.contains_key(*f)
                && let Some(value) = map.remove(&key)
            {
                map.insert((*f).to_string(), value);
            }
        }
    }
    serde_json::from_value(v).map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))
}

/// Moby's `BoolValue`: false for absent, empty, `0`, `no`, `false` and
/// `none` (any case), true for anything else.
pub fn docker_bool(v: &str) -> bool {
    !matches!(v.trim().to_ascii_lowercase().as_str(), "" | "0" | "no" | "false" | "none")
}

// Serde helpers for query structs: `use super::extract as de;`, then
// `#[serde(default, deserialize_with = "de::flag")]`.

/// A boolean in Docker's spellings.
pub fn flag<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(docker_bool(&String::deserialize(d)?))
}

/// A boolean that keeps "absent" apart (`Option<bool>`), for parameters
/// whose default is true.
pub fn opt_flag<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    Ok(Some(docker_bool(&String::deserialize(d)?)))
}

/// An integer where an empty value means absent.
pub fn opt_int<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    let s = String::deserialize(d)?;
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    s.parse().map(Some).map_err(|_| serde::de::Error::custom(format!("{s:?} is not an integer")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize, Default, Debug)]
    #[serde(default)]
    struct Q {
        #[serde(deserialize_with = "flag")]
        force: bool,
        #[serde(deserialize_with = "opt_flag")]
        stdout: Option<bool>,
        #[serde(deserialize_with = "opt_int")]
        t: Option<i64>,
        tag: Vec<String>,
        name: Option<String>,
    }

    #[test]
    fn body_keys_match_fields_whatever_their_case() {
        #[derive(serde::Deserialize, Debug)]
        struct B {
            #[serde(rename = "DetachKeys")]
            detach_keys: Option<String>,
            #[serde(rename = "Tty")]
            tty: Option<bool>,
        }
        let fields = ["DetachKeys", "Tty"];
        let b: B = decode_json_folded(serde_json::json!({"detachKeys": "ctrl-x", "tty": true}), &fields).unwrap();
        assert_eq!((b.detach_keys.as_deref(), b.tty), (Some("ctrl-x"), Some(true)));
        // The exact spelling wins over another case of it.
        let b: B = decode_json_folded(serde_json::json!({"DetachKeys": "a", "detachkeys": "b"}), &fields).unwrap();
        assert_eq!(b.detach_keys.as_deref(), Some("a"));
        let e = decode_json_folded::<B>(serde_json::json!({"Tty": "yes"}), &fields).unwrap_err();
        assert_eq!(e.status.as_u16(), 400);
    }

    #[test]
    fn booleans_follow_moby() {
        for (v, want) in [("1", true), ("true", true), ("True", true), ("yes", true), ("on", true)] {
            assert_eq!(docker_bool(v), want, "{v}");
        }
        for v in ["", "0", "false", "FALSE", "no", "none", " 0 "] {
            assert!(!docker_bool(v), "{v}");
        }
    }

    #[test]
    fn queries_decode_with_docker_rules() {
        let q: Q = decode_query("force=1&stdout=0&t=10&tag=a&tag=b&name=x").unwrap();
        assert!(q.force);
        assert_eq!(q.stdout, Some(false));
        assert_eq!(q.t, Some(10));
        assert_eq!(q.tag, ["a", "b"]);
        assert_eq!(q.name.as_deref(), Some("x"));
        let q: Q = decode_query("t=").unwrap();
        assert_eq!((q.force, q.stdout, q.t), (false, None, None));
        let e = decode_query::<Q>("t=soon").unwrap_err();
        assert_eq!(e.status.as_u16(), 400);
        assert!(e.message.contains("soon"), "{}", e.message);
    }
}
