//! A container's streams over HTTP: attach (hijacked), wait (headers at
//! once, the exit status when it comes) and logs (framed unless TTY,
//! optionally followed).
//!
//! Owns the wire side of those streams; it must never buffer a whole
//! stream, nor hold a container lock while a client is slow.

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bollard_stubs::models::ContainerWaitResponse;
use futures_util::StreamExt;
use serde::Deserialize;
use tokio::io::AsyncWriteExt;

use super::error::ApiError;
use super::extract::{self as de, DockerQuery};
use super::hijack::{self, MULTIPLEXED, RAW};
use crate::container::logs::{self, LogEntry, LogQuery};
use crate::engine::Engine;
use crate::engine::containers::AttachRequest;

pub fn routes() -> Router<Arc<Engine>> {
    Router::new()
        .route("/containers/{id}/attach", post(attach))
        .route("/containers/{id}/wait", post(wait))
        .route("/containers/{id}/logs", get(logs_route))
}

fn content_type(tty: bool) -> &'static str {
    if tty { RAW } else { MULTIPLEXED }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct AttachQuery {
    #[serde(deserialize_with = "de::flag")]
    stream: bool,
    #[serde(deserialize_with = "de::flag")]
    logs: bool,
    #[serde(deserialize_with = "de::flag")]
    stdin: bool,
    #[serde(deserialize_with = "de::flag")]
    stdout: bool,
    #[serde(deserialize_with = "de::flag")]
    stderr: bool,
    #[serde(rename = "detachKeys")]
    detach_keys: String,
}

/// `POST /containers/{id}/attach?stream=&logs=&stdin=&stdout=&stderr=&detachKeys=`:
/// the log so far (`logs`), then the live streams (`stream`); without
/// `stream` the connection ends after the log.
async fn attach(
    State(engine): State<Arc<Engine>>,
    Path(id): Path<String>,
    DockerQuery(q): DockerQuery<AttachQuery>,
    req: Request,
) -> Result<Response, ApiError> {
    if !q.stream && !q.logs {
        return Err(ApiError::bad_request("at least one of stream or logs must be set"));
    }
    let ask = AttachRequest {
        stdin: q.stdin,
        stdout: q.stdout,
        stderr: q.stderr,
        logs: q.logs,
        stream: q.stream,
        detach_keys: &q.detach_keys,
    };
    let attached = engine.attach_container(&id, ask).await?;
    let (stdin, tty) = (q.stdin, attached.tty);
    Ok(hijack::hijack(req, content_type(tty), move |mut conn| async move {
        if let Some(mut logs) = attached.logs {
            tokio::time::sleep(hijack::HEAD_SETTLE).await;
            while let Some(e) = logs.recv().await {
                if conn.write_all(&log_bytes(&e, tty, false)).await.is_err() {
                    return;
                }
            }
        }
        match attached.io {
            Some(io) => hijack::pump(conn, io, stdin).await,
            None => {
                let _ = conn.shutdown().await;
            }
        }
    }))
}

/// A log entry on the wire: its time first if asked, framed unless TTY.
fn log_bytes(e: &LogEntry, tty: bool, timestamps: bool) -> Vec<u8> {
    let mut line = Vec::with_capacity(e.bytes.len() + 32);
    if timestamps {
        line.extend_from_slice(e.time_text.as_bytes());
        line.push(b' ');
    }
    line.extend_from_slice(&e.bytes);
    if tty { line } else { hijack::frame(e.stream.frame_id(), &line) }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct WaitQuery {
    condition: Option<String>,
}

/// `POST /containers/{id}/wait?condition=`: the 200 and its headers go out
/// at once (the docker CLI waits for them before it starts the
/// container); the body follows at the exit.
async fn wait(
    State(engine): State<Arc<Engine>>,
    Path(id): Path<String>,
    DockerQuery(q): DockerQuery<WaitQuery>,
) -> Result<Response, ApiError> {
    let exited = engine.wait_container(&id, q.condition.as_deref())?;
    let body = futures_util::stream::once(async move {
        let l = exited.await;
        let resp = ContainerWaitResponse { status_code: l.exit_code, error: None };
        // Docker writes `"Error": null`; the model would leave it out.
        let mut v = serde_json::to_value(&resp).unwrap_or_default();
        if let Some(m) = v.as_object_mut() {
            m.entry("Error").or_insert(serde_json::Value::Null);
        }
        let mut bytes = serde_json::to_vec(&v).unwrap_or_default();
        bytes.push(b'\n');
        Ok::<_, std::io::Error>(Bytes::from(bytes))
    });
    Ok((StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], Body::from_stream(body)).into_response())
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct LogsQuery {
    #[serde(deserialize_with = "de::flag")]
    follow: bool,
    #[serde(deserialize_with = "de::flag")]
    stdout: bool,
    #[serde(deserialize_with = "de::flag")]
    stderr: bool,
    #[serde(deserialize_with = "de::flag")]
    timestamps: bool,
    since: String,
    until: String,
    tail: String,
}

/// `GET /containers/{id}/logs?follow=&stdout=&stderr=&since=&until=&timestamps=&tail=`.
async fn logs_route(
    State(engine): State<Arc<Engine>>,
    Path(id): Path<String>,
    DockerQuery(q): DockerQuery<LogsQuery>,
) -> Result<Response, ApiError> {
    let time = |s: &str| crate::container::clock::parse_query(s).map_err(ApiError::bad_request);
    let query = LogQuery {
        stdout: q.stdout,
        stderr: q.stderr,
        since: time(&q.since)?,
        until: time(&q.until)?,
        tail: logs::parse_tail(&q.tail).map_err(ApiError::bad_request)?,
        follow: q.follow,
    };
    let log = engine.container_logs(&id, query)?;
    let (tty, timestamps) = (log.tty, q.timestamps);
    let stream = super::channel_stream::tokio_stream_from(log.entries)
        .map(move |e| Ok::<_, std::io::Error>(Bytes::from(log_bytes(&e, tty, timestamps))));
    Ok((StatusCode::OK, [(header::CONTENT_TYPE, content_type(tty))], Body::from_stream(stream)).into_response())
}

/// Writes an engine error into a hijacked stream the way Docker does
/// after the upgrade: on stdout (framed unless TTY), then closes it.
pub async fn write_stream_error(mut conn: hijack::Conn, tty: bool, message: &str) {
    let text = format!("{message}\r\n");
    let bytes = if tty { text.into_bytes() } else { hijack::frame(1, text.as_bytes()) };
    let _ = conn.write_all(&bytes).await;
    let _ = conn.shutdown().await;
}
