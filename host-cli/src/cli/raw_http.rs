//! The few engine routes the Docker client crate has no call for (`POST
//! /auth`) or models differently (`/system/df`), sent with berth-http; a
//! failure to talk to the engine becomes the CLI's "cannot connect" error.
//!
//! Owns only that mapping; it must never parse HTTP itself.

use std::time::Duration;

use berth_http::{Client, Endpoint as HttpEndpoint, Error, Reply, Request};

use super::error::CliError;
use crate::engine_target::Endpoint;

/// Replies of these routes are small JSON documents; anything bigger is
/// not the engine's answer.
const MAX_BODY: usize = 16 << 20;

pub async fn post_json(
    endpoint: &Endpoint,
    path: &str,
    body: &serde_json::Value,
    timeout: Duration,
) -> Result<Reply, CliError> {
    send(endpoint, Request::post(path).json(body), timeout).await
}

/// `GET path` (for replies whose shape changed after the API version the
/// client crate models, e.g. `/system/df`).
pub async fn get(endpoint: &Endpoint, path: &str, timeout: Duration) -> Result<Reply, CliError> {
    send(endpoint, Request::get(path), timeout).await
}

async fn send(endpoint: &Endpoint, req: Request, timeout: Duration) -> Result<Reply, CliError> {
    let unreachable = |e: Error| {
        // The endpoint is in the CLI's own line already.
        let reason = match e {
            Error::Connect { source, .. } => source.to_string(),
            other => other.to_string(),
        };
        CliError::Unreachable { endpoint: endpoint.clone(), reason }
    };
    let http = HttpEndpoint::from_url(&endpoint.url).map_err(unreachable)?;
    Client::new(http).timeout(timeout).send(req, MAX_BODY).await.map_err(unreachable)
}
