//! `docker cp` and `docker export`: `GET`/`HEAD`/`PUT
//! /containers/{id}/archive?path=` and `GET /containers/{id}/export`.
//!
//! Owns the HTTP side only: query parameters, the stat header, streaming
//! the tar both ways. The work is `engine/archive.rs`'s over
//! `crate::confined`; this file must never resolve, stat, read or write a
//! path of a container itself.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures_util::StreamExt;
use serde::Deserialize;

use super::error::ApiError;
use super::extract::{self as de, DockerQuery};
use super::upload;
use crate::engine::Engine;

const STAT_HEADER: &str = "X-Docker-Container-Path-Stat";

pub fn routes() -> Router<Arc<Engine>> {
    Router::new()
        .route("/containers/{id}/archive", get(get_archive).head(head_archive).put(put_archive))
        .route("/containers/{id}/export", get(export))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ArchiveQuery {
    path: String,
    #[serde(rename = "noOverwriteDirNonDir", deserialize_with = "de::flag")]
    no_overwrite_dir_non_dir: bool,
}

fn with_stat(mut resp: Response, stat: &str) -> Result<Response, ApiError> {
    let v = HeaderValue::from_str(stat).map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    resp.headers_mut().insert(STAT_HEADER, v);
    Ok(resp)
}

fn tar_body(chunks: tokio::sync::mpsc::Receiver<bytes::Bytes>) -> Body {
    Body::from_stream(super::channel_stream::tokio_stream_from(chunks).map(Ok::<_, std::io::Error>))
}

async fn head_archive(
    State(engine): State<Arc<Engine>>,
    Path(id): Path<String>,
    DockerQuery(q): DockerQuery<ArchiveQuery>,
) -> Result<Response, ApiError> {
    let found = engine.container_path(&id, &q.path).await?;
    with_stat(StatusCode::OK.into_response(), &found.stat_header)
}

async fn get_archive(
    State(engine): State<Arc<Engine>>,
    Path(id): Path<String>,
    DockerQuery(q): DockerQuery<ArchiveQuery>,
) -> Result<Response, ApiError> {
    let found = engine.container_path(&id, &q.path).await?;
    let stat = found.stat_header.clone();
    let resp = (StatusCode::OK, [(header::CONTENT_TYPE, "application/x-tar")], tar_body(found.into_tar()));
    with_stat(resp.into_response(), &stat)
}

async fn export(State(engine): State<Arc<Engine>>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let tar = engine.export_container(&id).await?;
    Ok((StatusCode::OK, [(header::CONTENT_TYPE, "application/x-tar")], tar_body(tar)).into_response())
}

/// `PUT /containers/{id}/archive?path=&noOverwriteDirNonDir=`: the body is
/// carried to the engine's extractor as it arrives.
async fn put_archive(
    State(engine): State<Arc<Engine>>,
    Path(id): Path<String>,
    DockerQuery(q): DockerQuery<ArchiveQuery>,
    body: Body,
) -> Result<Response, ApiError> {
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    let (_, done) = tokio::join!(
        upload::feed(body, tx),
        engine.extract_into_container(&id, &q.path, q.no_overwrite_dir_non_dir, rx)
    );
    done?;
    Ok(StatusCode::OK.into_response())
}
