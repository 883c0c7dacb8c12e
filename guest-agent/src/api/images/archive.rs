//! `GET /images/get?names=…`, `GET /images/{name}/get` (docker save) and
//! `POST /images/load` (docker load).
//!
//! Owns the HTTP side: the streamed tar reply, and load's reply — JSON
//! lines (`{"stream":"Loaded image: …\n"}`) with `Content-Type:
//! application/json`, which is what makes the docker CLI render them
//! (anything else it prints raw), sent chunked (see `stream.rs`).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::body::{BodyReader, BodyWriter};
use super::stream::json_lines;
use crate::api::error::ApiError;
use crate::api::extract::DockerQuery;
use crate::engine::Engine;

type Result<T> = std::result::Result<T, ApiError>;

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct SaveQuery {
    names: Vec<String>,
}

/// `GET /images/get?names=a&names=b`.
pub(super) async fn get_many(
    State(engine): State<Arc<Engine>>,
    DockerQuery(q): DockerQuery<SaveQuery>,
) -> Result<Response> {
    save(&engine, &q.names)
}

/// `GET /images/{name}/get`.
pub(super) fn get_one(engine: &Engine, name: &str) -> Result<Response> {
    save(engine, &[name.to_string()])
}

fn save(engine: &Engine, names: &[String]) -> Result<Response> {
    let (writer, body) = BodyWriter::new();
    engine.save_images(names, writer)?;
    Ok((StatusCode::OK, [(header::CONTENT_TYPE, "application/x-tar")], body).into_response())
}

/// `POST /images/load?quiet=`: the body is the archive.
pub(super) async fn load(State(engine): State<Arc<Engine>>, body: Body) -> Result<Response> {
    Ok(json_lines(engine.load_images(BodyReader::spawn(body)).await?))
}
