//! `POST /images/create` (pull; import with `fromSrc`), `POST
//! /images/{name}/tag` and `POST /images/{name}/push`.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::body::BodyReader;
use super::stream::{json_lines, line};
use crate::api::error::ApiError;
use crate::api::extract::DockerQuery;
use crate::api::registry_access::registry_auth;
use crate::engine::Engine;
use crate::engine::images::ImportImage;

type Result<T> = std::result::Result<T, ApiError>;

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct CreateQuery {
    #[serde(rename = "fromImage")]
    from_image: Option<String>,
    #[serde(rename = "fromSrc")]
    from_src: Option<String>,
    repo: Option<String>,
    tag: Option<String>,
    changes: Vec<String>,
    message: Option<String>,
}

/// An empty parameter is an absent one, as Docker reads them.
fn given(v: Option<String>) -> Option<String> {
    v.filter(|v| !v.is_empty())
}

/// `fromImage` pulls (JSON lines as it goes); `fromSrc=-` imports the body
/// (one line, the new image's ID as `status`).
pub(super) async fn create(
    State(engine): State<Arc<Engine>>,
    DockerQuery(q): DockerQuery<CreateQuery>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response> {
    if let Some(src) = given(q.from_src) {
        let req =
            ImportImage { src, repo: given(q.repo), tag: given(q.tag), changes: q.changes, message: given(q.message) };
        let info = engine.import_image(req, BodyReader::spawn(body)).await?;
        return Ok((StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], line(&info)).into_response());
    }
    let from = given(q.from_image).ok_or_else(|| ApiError::bad_request("fromImage or fromSrc is required"))?;
    Ok(json_lines(engine.pull_image(&from, given(q.tag).as_deref(), registry_auth(&headers)).await?))
}

/// The query of `tag` (`repo`, `tag`) and `push` (`tag`).
#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct TagQuery {
    repo: Option<String>,
    tag: Option<String>,
}

pub(super) fn tag(engine: &Engine, name: &str, q: TagQuery) -> Result<Response> {
    engine.tag_image(name, q.repo.as_deref(), q.tag.as_deref())?;
    Ok(StatusCode::CREATED.into_response())
}

pub(super) async fn push(engine: &Engine, name: &str, q: TagQuery, headers: &HeaderMap) -> Result<Response> {
    Ok(json_lines(engine.push_image(name, q.tag.as_deref(), registry_auth(headers)).await?))
}
