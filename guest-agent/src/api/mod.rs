//! The Docker Engine API, served by the engine over HTTP/1.1.
//!
//! Owns routing and the wire format (versioned paths, JSON errors, headers);
//! it must never hold engine logic of its own: handlers translate between
//! HTTP and the engine.

pub mod auth;
pub mod build;
pub mod channel_stream;
pub mod commit;
pub mod containers;
pub mod containers_archive;
pub mod containers_io;
pub mod containers_stats;
pub mod distribution;
pub mod error;
pub mod events;
pub mod exec;
pub mod extract;
pub mod filters;
pub mod hijack;
pub mod images;
pub mod machine;
pub mod networks;
pub mod registry_access;
pub mod system;
pub mod upload;
pub mod version;
pub mod volumes;

use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::middleware;
use axum::response::Response;
use axum::routing::{get, post};

use crate::engine::Engine;
use error::ApiError;

/// The whole API as one service.
pub fn app(engine: Arc<Engine>) -> Router {
    let routes = Router::new()
        .route("/_ping", get(system::ping).head(system::ping))
        .route("/version", get(system::version))
        .route("/info", get(system::info))
        .route("/system/df", get(system::df))
        .route("/berth/v1/health", get(machine::health))
        .route("/berth/v1/shutdown", post(machine::shutdown))
        .route("/berth/v1/logs/engine", get(machine::engine_log))
        .route("/berth/v1/shell", post(machine::shell::start))
        .route("/berth/v1/shell/{id}/resize", post(machine::shell::resize))
        .route("/berth/v1/shell/{id}/json", get(machine::shell::inspect))
        .route("/auth", post(auth::login))
        .route("/distribution/{*rest}", get(distribution::inspect))
        .merge(images::routes())
        .merge(containers::routes())
        .merge(commit::routes())
        .merge(build::routes())
        .merge(exec::routes())
        .merge(events::routes())
        .merge(networks::routes())
        .merge(volumes::routes())
        .merge(system::swarm_routes())
        .fallback(not_found)
        .with_state(engine);
    // The version prefix is stripped before `routes` sees the request, so the
    // middleware wraps a router that has nothing but `routes` as fallback.
    with_common_layers(Router::new().fallback_service(routes))
}

/// What wraps every route: version negotiation, the `Server` header, a 500
/// for a panicking handler, and a tracing span per request.
fn with_common_layers(router: Router) -> Router {
    router
        .layer(middleware::from_fn(version::negotiate))
        .layer(middleware::map_response(server_header))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(panic_response))
        .layer(
            tower_http::trace::TraceLayer::new_for_http()
                .make_span_with(|req: &axum::http::Request<_>| {
                    tracing::debug_span!("request", method = %req.method(), path = %req.uri().path())
                })
                .on_failure(tower_http::trace::DefaultOnFailure::new().level(tracing::Level::WARN)),
        )
}

/// A handler that panicked: Docker's error shape with a 500, and the engine
/// serves on (the connection is answered, not dropped).
fn panic_response(err: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let what = err
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| err.downcast_ref::<&str>().copied())
        .unwrap_or("a handler panicked");
    tracing::error!(panic = what, "request handler panicked");
    axum::response::IntoResponse::into_response(ApiError::new(
        axum::http::StatusCode::INTERNAL_SERVER_ERROR,
        format!("internal error: {what}"),
    ))
}

async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::not_found(format!("page not found: {}", uri.path()))
}

/// `Server: berth/<version> (linux)`: clients read the engine's OS from the
/// parenthesis (docker stats does).
async fn server_header(mut resp: Response) -> Response {
    let value = format!("berth/{} (linux)", crate::engine::system::ENGINE_VERSION);
    if let Ok(v) = HeaderValue::from_str(&value) {
        resp.headers_mut().insert(header::SERVER, v);
    }
    resp
}

#[cfg(test)]
mod tests;
