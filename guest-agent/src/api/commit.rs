//! `POST /commit` (`docker commit`): decodes the query (`container`,
//! `repo`, `tag`, `comment`, `author`, `pause`, repeated `changes`) and the
//! optional body (a container config to commit instead of the
//! container's), calls the engine, answers `201 {"Id": "sha256:…"}`.
//!
//! Owns the HTTP side only; it must never hold commit semantics.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::post;
use bollard_stubs::models::ContainerConfig;
use serde::Deserialize;

use super::error::{ApiError, json_response};
use super::extract::{self as de, DockerQuery, OptionalJson};
use crate::engine::Engine;
use crate::engine::commit::CommitRequest;

pub fn routes() -> Router<Arc<Engine>> {
    Router::new().route("/commit", post(commit))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct CommitQuery {
    container: String,
    repo: Option<String>,
    tag: Option<String>,
    comment: String,
    author: String,
    /// Absent is true (Docker pauses unless told `pause=0`).
    #[serde(deserialize_with = "de::opt_flag")]
    pause: Option<bool>,
    changes: Vec<String>,
}

async fn commit(
    State(engine): State<Arc<Engine>>,
    DockerQuery(q): DockerQuery<CommitQuery>,
    OptionalJson(config): OptionalJson<Option<ContainerConfig>>,
) -> Result<Response, ApiError> {
    let req = CommitRequest {
        container: q.container,
        repo: q.repo,
        tag: q.tag,
        comment: q.comment,
        author: q.author,
        pause: q.pause.unwrap_or(true),
        changes: q.changes,
        config,
    };
    let id = engine.commit_container(req).await?;
    Ok(json_response(StatusCode::CREATED, &serde_json::json!({ "Id": id })))
}
