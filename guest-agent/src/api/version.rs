//! API versions: every route is served both unversioned and under
//! `/vX.Y/`, as Docker does. The prefix is stripped before routing, so the
//! routes are written once; a version outside what the engine speaks gets
//! Docker's 400 instead of a 404.

use std::fmt;

use axum::extract::Request;
use axum::http::Uri;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ApiVersion(pub u16, pub u16);

/// The newest API the docker CLI 28 speaks; it uses the server's version
/// when that is lower.
pub const MAX: ApiVersion = ApiVersion(1, 50);
/// The oldest that Docker itself still accepts.
pub const MIN: ApiVersion = ApiVersion(1, 24);

impl fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.0, self.1)
    }
}

impl ApiVersion {
    fn parse(s: &str) -> Option<Self> {
        let (major, minor) = s.split_once('.')?;
        Some(ApiVersion(major.parse().ok()?, minor.parse().ok()?))
    }
}

/// Splits `/v1.41/containers/json` into `(Some(1.41), "/containers/json")`.
/// A first segment that is not `v<major>.<minor>` is left as part of the path.
pub fn split_prefix(path: &str) -> (Option<ApiVersion>, &str) {
    let Some(rest) = path.strip_prefix("/v") else { return (None, path) };
    let (segment, tail) = rest.find('/').map_or((rest, ""), |i| (&rest[..i], &rest[i..]));
    match ApiVersion::parse(segment) {
        Some(v) => (Some(v), if tail.is_empty() { "/" } else { tail }),
        None => (None, path),
    }
}

/// Middleware: strips the version prefix (recording the version the request
/// speaks, MAX when unversioned, as an [`ApiVersion`] extension) or answers
/// 400 for a version the engine does not speak.
pub async fn negotiate(mut req: Request, next: Next) -> Response {
    let path = req.uri().path();
    let (version, rest) = split_prefix(path);
    let Some(version) = version else {
        req.extensions_mut().insert(MAX);
        return next.run(req).await;
    };
    if version > MAX {
        return ApiError::bad_request(format!(
            "client version {version} is too new. Maximum supported API version is {MAX}"
        ))
        .into_response();
    }
    if version < MIN {
        return ApiError::bad_request(format!(
            "client version {version} is too old. Minimum supported API version is {MIN}, please upgrade your client to a newer version"
        ))
        .into_response();
    }
    let rewritten = match req.uri().query() {
        Some(q) => format!("{rest}?{q}"),
        None => rest.to_string(),
    };
    match rewritten.parse::<Uri>() {
        Ok(uri) => {
            *req.uri_mut() = uri;
            req.extensions_mut().insert(version);
            next.run(req).await
        }
        Err(_) => ApiError::bad_request("malformed request path").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_split() {
        assert_eq!(split_prefix("/v1.41/containers/json"), (Some(ApiVersion(1, 41)), "/containers/json"));
        assert_eq!(split_prefix("/v1.50/_ping"), (Some(ApiVersion(1, 50)), "/_ping"));
        assert_eq!(split_prefix("/v1.24"), (Some(ApiVersion(1, 24)), "/"));
        assert_eq!(split_prefix("/_ping"), (None, "/_ping"));
        assert_eq!(split_prefix("/volumes/x"), (None, "/volumes/x"));
        assert_eq!(split_prefix("/vx.y/_ping"), (None, "/vx.y/_ping"));
    }

    #[test]
    fn versions_order_numerically() {
        assert!(ApiVersion(1, 9) < ApiVersion(1, 10));
        assert!(ApiVersion(1, 50) > ApiVersion(1, 41));
        assert_eq!(MAX.to_string(), "1.50");
    }
}
