//! What most handlers read first from a request: the query string, with
//! Docker's spellings of booleans and integers, and the container the path
//! names.
//!
//! Owns those readings only; a handler's own parameters stay with it. It
//! must never answer a request itself.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::Query;

use super::error::ApiError;
use crate::container::Container;
use crate::engine::Engine;

/// The query string as Docker clients send it.
pub type Q = Query<HashMap<String, String>>;

/// Docker's boolean query values: `1`, `true`, `True`; absent is false.
pub fn flag(q: &HashMap<String, String>, key: &str) -> bool {
    q.get(key).is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "1" | "true" | "yes"))
}

/// A boolean that defaults to true when absent (`stdout` of logs, …).
pub fn flag_or(q: &HashMap<String, String>, key: &str, default: bool) -> bool {
    match q.get(key) {
        Some(_) => flag(q, key),
        None => default,
    }
}

/// An integer parameter; absent or empty is None, anything else that is
/// no integer is a 400.
pub fn int(q: &HashMap<String, String>, key: &str) -> Result<Option<i64>, ApiError> {
    match q.get(key).map(String::as_str) {
        None | Some("") => Ok(None),
        Some(v) => v.parse().map(Some).map_err(|_| ApiError::bad_request(format!("invalid value for {key}: {v:?}"))),
    }
}

/// The container a path names, by id, id prefix or name; 404 if none.
pub fn lookup(engine: &Engine, id: &str) -> Result<Arc<Container>, ApiError> {
    engine.containers.get(id).map_err(ApiError::from)
}
