//! Errors as the Docker API sends them: a status code and
//! `{"message": "..."}` with `Content-Type` exactly `application/json` (the
//! docker CLI does not accept a charset suffix there).
//!
//! Owns the one mapping from an error's [`ErrorKind`] to a status code:
//! every engine and domain error reaches the wire through
//! `From<EngineError>`, so handlers use `?` and never pick a code by hand.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::engine::EngineError;
use crate::error_kind::ErrorKind;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError { status, message: message.into() }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
}

/// Docker's status code for each kind of failure.
pub fn status_of(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::Invalid => StatusCode::BAD_REQUEST,
        ErrorKind::NotModified => StatusCode::NOT_MODIFIED,
        ErrorKind::Unauthorized => StatusCode::UNAUTHORIZED,
        ErrorKind::Forbidden => StatusCode::FORBIDDEN,
        ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::NotImplemented => StatusCode::NOT_IMPLEMENTED,
        ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> ApiError {
        let status = status_of(e.kind());
        if status.is_server_error() {
            tracing::warn!(error = %e, "engine operation failed");
        }
        ApiError::new(status, e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        // Docker's 304 has no body.
        if self.status == StatusCode::NOT_MODIFIED {
            return StatusCode::NOT_MODIFIED.into_response();
        }
        json_response(self.status, &serde_json::json!({ "message": self.message }))
    }
}

/// A JSON body with Docker's exact content type.
pub fn json_response(status: StatusCode, body: &impl serde::Serialize) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec());
    (status, [(header::CONTENT_TYPE, "application/json")], bytes).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::error::ContainerError;
    use crate::network::NetworkError;

    #[test]
    fn kinds_become_dockers_codes() {
        let cases: Vec<(ApiError, u16)> = vec![
            (EngineError::from(ContainerError::NotFound("x".into())).into(), 404),
            (EngineError::from(ContainerError::Conflict("running".into())).into(), 409),
            (EngineError::from(ContainerError::Invalid("bad".into())).into(), 400),
            (EngineError::from(ContainerError::NotModified).into(), 304),
            (EngineError::from(NetworkError::Predefined("bridge".into())).into(), 403),
            (EngineError::unavailable("This node is not a swarm manager.").into(), 503),
        ];
        for (e, code) in cases {
            assert_eq!(e.status.as_u16(), code, "{}", e.message);
        }
    }

    #[test]
    fn not_modified_has_no_body_and_errors_are_json() {
        let r = ApiError::from(EngineError::from(ContainerError::NotModified)).into_response();
        assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
        assert!(r.headers().get(header::CONTENT_TYPE).is_none());
        let r = ApiError::not_found("No such container: x").into_response();
        assert_eq!(r.headers()[header::CONTENT_TYPE], "application/json");
    }
}
