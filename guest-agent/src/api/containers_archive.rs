//! `docker cp` and `docker export`: `GET`/`HEAD`/`PUT
//! /containers/{id}/archive?path=` and `GET /containers/{id}/export`, over
//! the container's root filesystem as the shim mounts it.
//!
//! Owns the HTTP side only: query parameters, status codes, streaming the
//! tar through a blocking task. Every path inside the container is touched
//! by `crate::confined` (opened once as a [`Root`], then file descriptors);
//! this file must never resolve, stat, read or write one itself.

use std::io::Write;
use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures_util::StreamExt;

use super::error::ApiError;
use super::request::{Q, flag, lookup};
use crate::confined::{self, ConfinedError, ExtractOptions, Node, PathStat, Root};
use crate::engine::Engine;

pub fn routes() -> Router<Arc<Engine>> {
    Router::new()
        .route("/containers/{id}/archive", get(get_archive).head(head_archive).put(put_archive))
        .route("/containers/{id}/export", get(export))
}

fn not_found(id: &str, path: &str) -> ApiError {
    ApiError::not_found(format!("Could not find the file {path} in container {id}"))
}

/// The container's mounted root: the live shim's, or a fresh shim's for a
/// container whose shim is gone.
async fn rootfs(engine: &Engine, id: &str) -> Result<(PathBuf, String), ApiError> {
    let c = lookup(engine, id)?;
    let shim = match c.shim() {
        Some(s) => s,
        None => engine.containers.shim_for_attach(&c).await?,
    };
    Ok((shim.rootfs(), c.id.clone()))
}

fn archive_path(q: &std::collections::HashMap<String, String>) -> Result<String, ApiError> {
    q.get("path").filter(|p| !p.is_empty()).cloned().ok_or_else(|| ApiError::bad_request("path is required"))
}

/// The `path` query, what it names in the container (held, resolved once
/// for the header and the archive alike) and its
/// `X-Docker-Container-Path-Stat` header: what HEAD and GET both answer with.
async fn stat_of(
    engine: &Arc<Engine>,
    id: &str,
    q: &std::collections::HashMap<String, String>,
) -> Result<(String, Node, HeaderValue), ApiError> {
    let path = archive_path(q)?;
    let (root, cid) = open_root(engine, id).await?;
    let node = root.resolve_nofollow(FsPath::new(&path)).map_err(|_| not_found(&cid, &path))?;
    let stat = PathStat::of(&root, FsPath::new(&path), &node).map_err(|_| not_found(&cid, &path))?;
    let stat = HeaderValue::from_str(&stat.header())
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    Ok((path, node, stat))
}

/// The container's mounted root, opened as a confined [`Root`].
async fn open_root(engine: &Engine, id: &str) -> Result<(Root, String), ApiError> {
    let (rootfs, cid) = rootfs(engine, id).await?;
    let root = Root::open(&rootfs).map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    Ok((root, cid))
}

async fn head_archive(
    State(engine): State<Arc<Engine>>,
    Path(id): Path<String>,
    Query(q): Q,
) -> Result<Response, ApiError> {
    let (_, _, stat) = stat_of(&engine, &id, &q).await?;
    let mut resp = StatusCode::OK.into_response();
    resp.headers_mut().insert("X-Docker-Container-Path-Stat", stat);
    Ok(resp)
}

/// Streams a tar written by a blocking task.
fn tar_body(
    build: impl FnOnce(&mut tar::Builder<ChannelWriter>) -> Result<(), ConfinedError> + Send + 'static,
) -> Body {
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(16);
    tokio::task::spawn_blocking(move || {
        let mut b = tar::Builder::new(ChannelWriter { tx, buf: Vec::new() });
        b.follow_symlinks(false);
        let r = build(&mut b).map_err(std::io::Error::from).and_then(|()| b.finish());
        if let Err(e) = r {
            tracing::warn!(error = %e, "writing a container archive");
        }
        if let Ok(mut w) = b.into_inner() {
            let _ = w.flush();
        }
    });
    Body::from_stream(super::channel_stream::tokio_stream_from(rx).map(Ok::<_, std::io::Error>))
}

struct ChannelWriter {
    tx: tokio::sync::mpsc::Sender<Bytes>,
    buf: Vec<u8>,
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= 64 * 1024 {
            self.flush()?;
        }
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        if !self.buf.is_empty() {
            let chunk = Bytes::from(std::mem::take(&mut self.buf));
            self.tx.blocking_send(chunk).map_err(|_| std::io::Error::from(std::io::ErrorKind::BrokenPipe))?;
        }
        Ok(())
    }
}

async fn get_archive(
    State(engine): State<Arc<Engine>>,
    Path(id): Path<String>,
    Query(q): Q,
) -> Result<Response, ApiError> {
    let (path, node, stat) = stat_of(&engine, &id, &q).await?;
    // Entries are named after the last component the client gave (`.` for
    // `dir/.`, which copies the contents).
    let base = if path.ends_with("/.") {
        ".".to_string()
    } else {
        FsPath::new(&path).file_name().map_or(".".into(), |n| n.to_string_lossy().into_owned())
    };
    let body = tar_body(move |b| confined::append_node(node, FsPath::new(&base), b));
    let mut resp = (StatusCode::OK, [(header::CONTENT_TYPE, "application/x-tar")], body).into_response();
    resp.headers_mut().insert("X-Docker-Container-Path-Stat", stat);
    Ok(resp)
}

async fn export(State(engine): State<Arc<Engine>>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let (root, _) = open_root(&engine, &id).await?;
    let body = tar_body(move |b| confined::append_root(&root, b));
    Ok((StatusCode::OK, [(header::CONTENT_TYPE, "application/x-tar")], body).into_response())
}

/// `PUT /containers/{id}/archive?path=&noOverwriteDirNonDir=`: extracts a
/// tar into a directory of the container.
async fn put_archive(
    State(engine): State<Arc<Engine>>,
    Path(id): Path<String>,
    Query(q): Q,
    body: Body,
) -> Result<Response, ApiError> {
    let path = archive_path(&q)?;
    let no_overwrite = flag(&q, "noOverwriteDirNonDir");
    let (root, cid) = open_root(&engine, &id).await?;
    match root.dir(FsPath::new(&path)) {
        Ok(_) => {}
        Err(e) if e.errno() == Some(libc::ENOTDIR) => {
            return Err(ApiError::bad_request(format!("extraction point is not a directory: {path}")));
        }
        Err(_) => return Err(not_found(&cid, &path)),
    }
    // The body goes through a pipe to the blocking extractor.
    let (tx, rx) = std::sync::mpsc::sync_channel::<Bytes>(16);
    let dest = PathBuf::from(&path);
    let opts = ExtractOptions { no_overwrite_dir_non_dir: no_overwrite };
    let extract = tokio::task::spawn_blocking(move || {
        confined::extract(&root, &dest, ChannelReader { rx, cur: Bytes::new() }, opts)
    });
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| ApiError::bad_request(format!("reading the archive: {e}")))?;
        if tx.send(chunk).is_err() {
            break; // the extractor stopped: its error is below
        }
    }
    drop(tx);
    extract
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
        .map_err(|e| ApiError::bad_request(format!("extracting the archive into {path}: {e}")))?;
    Ok(StatusCode::OK.into_response())
}

struct ChannelReader {
    rx: std::sync::mpsc::Receiver<Bytes>,
    cur: Bytes,
}

impl std::io::Read for ChannelReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.cur.is_empty() {
            match self.rx.recv() {
                Ok(b) => self.cur = b,
                Err(_) => return Ok(0),
            }
        }
        let n = out.len().min(self.cur.len());
        out[..n].copy_from_slice(&self.cur[..n]);
        self.cur = self.cur.slice(n..);
        Ok(n)
    }
}
