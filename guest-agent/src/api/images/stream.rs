//! Replies that stream as JSON lines (pull, push, load): one line per
//! message of the engine's [`Transfer`], and a failure after the first as
//! the last line, with both `error` and `errorDetail` (the CLI reads one,
//! docker-py the other).
//!
//! The body is a stream, so it goes out with `Transfer-Encoding: chunked`
//! and no `Content-Length`: docker-py reads a reply that has one as a
//! single JSON document and fails on the second line. Owns that encoding
//! only; when a failure is an HTTP error instead is the engine's rule.

use std::convert::Infallible;

use axum::body::{Body, Bytes};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::engine::transfer::Transfer;

pub(crate) fn json_lines<T: serde::Serialize + Send + 'static>(transfer: Transfer<T>) -> Response {
    let lines = futures_util::stream::unfold(Some(transfer), |state| async move {
        let mut transfer = state?;
        match transfer.next().await? {
            Ok(m) => Some((Ok::<_, Infallible>(line(&m)), Some(transfer))),
            Err(e) => {
                tracing::warn!(error = %e, "streamed operation failed");
                let message = e.to_string();
                Some((Ok(line(&json!({"errorDetail": {"message": message}, "error": message}))), None))
            }
        }
    });
    (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], Body::from_stream(lines)).into_response()
}

pub(super) fn line(v: &impl serde::Serialize) -> Bytes {
    let mut b = serde_json::to_vec(v).unwrap_or_else(|_| b"{}".to_vec());
    b.push(b'\n');
    Bytes::from(b)
}
