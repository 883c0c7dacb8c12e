//! A container's streams over HTTP: attach (hijacked), wait (headers at
//! once, the exit status when it comes) and logs (framed unless TTY,
//! optionally followed).
//!
//! Owns the wire side of those streams; it must never buffer a whole
//! stream, nor hold a container lock while a client is slow.

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bollard_stubs::models::ContainerWaitResponse;
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;

use super::error::ApiError;
use super::hijack::{self, MULTIPLEXED, RAW};
use super::request::{Q, flag, flag_or, lookup};
use crate::container::Container;
use crate::container::lifecycle::WaitCondition;
use crate::container::logs::{self, LogQuery};
use crate::engine::Engine;
use crate::runtime::AttachStreams;

pub fn routes() -> Router<Arc<Engine>> {
    Router::new()
        .route("/containers/{id}/attach", post(attach))
        .route("/containers/{id}/wait", post(wait))
        .route("/containers/{id}/logs", get(logs_route))
}

fn is_tty(c: &Container) -> bool {
    c.record().config.tty.unwrap_or(false)
}

/// `POST /containers/{id}/attach?stream=1&stdin=&stdout=&stderr=`.
async fn attach(
    State(engine): State<Arc<Engine>>,
    Path(id): Path<String>,
    Query(q): Q,
    req: Request,
) -> Result<Response, ApiError> {
    let c = lookup(&engine, &id)?;
    let streams = AttachStreams { stdin: flag(&q, "stdin"), stdout: flag(&q, "stdout"), stderr: flag(&q, "stderr") };
    if !flag(&q, "stream") && !flag(&q, "logs") {
        return Err(ApiError::bad_request("at least one of stream or logs must be set"));
    }
    let tty = is_tty(&c);
    let shim = engine.containers.shim_for_attach(&c).await?;
    let io = shim.attach(streams).await.map_err(crate::container::error::ContainerError::from)?;
    engine.containers.events.container("attach", &c.id, c.record().event_attributes());
    let content_type = if tty { RAW } else { MULTIPLEXED };
    Ok(hijack::hijack(req, content_type, move |conn| async move {
        hijack::pump(conn, io, streams.stdin).await;
    }))
}

/// `POST /containers/{id}/wait?condition=`: the 200 and its headers go out
/// at once (the docker CLI waits for them before it starts the
/// container); the body follows at the exit.
async fn wait(State(engine): State<Arc<Engine>>, Path(id): Path<String>, Query(q): Q) -> Result<Response, ApiError> {
    let c = lookup(&engine, &id)?;
    let cond = WaitCondition::parse(q.get("condition").map(String::as_str))?;
    let life = c.life();
    drop(c);
    let body = futures_util::stream::once(async move {
        let l = Container::wait(life, cond).await;
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

/// `GET /containers/{id}/logs?follow=&stdout=&stderr=&since=&until=&timestamps=&tail=`.
async fn logs_route(
    State(engine): State<Arc<Engine>>,
    Path(id): Path<String>,
    Query(q): Q,
) -> Result<Response, ApiError> {
    let c = lookup(&engine, &id)?;
    let query = LogQuery {
        stdout: flag_or(&q, "stdout", false),
        stderr: flag_or(&q, "stderr", false),
        since: crate::container::clock::parse_query(q.get("since").map_or("", String::as_str))
            .map_err(ApiError::bad_request)?,
        until: crate::container::clock::parse_query(q.get("until").map_or("", String::as_str))
            .map_err(ApiError::bad_request)?,
        tail: logs::parse_tail(q.get("tail").map_or("", String::as_str)).map_err(ApiError::bad_request)?,
        follow: flag(&q, "follow"),
    };
    if !query.stdout && !query.stderr {
        return Err(ApiError::bad_request("Bad parameters: you must choose at least one stream"));
    }
    let timestamps = flag(&q, "timestamps");
    let tty = is_tty(&c);
    let rec = c.record();
    let rx = logs::spawn_reader(rec.log_path.clone(), query, c.running_watch());
    drop(c);
    let stream = super::channel_stream::tokio_stream_from(rx).map(move |e| {
        let mut line = Vec::with_capacity(e.bytes.len() + 32);
        if timestamps {
            line.extend_from_slice(e.time_text.as_bytes());
            line.push(b' ');
        }
        line.extend_from_slice(&e.bytes);
        let out = if tty { line } else { hijack::frame(e.stream.frame_id(), &line) };
        Ok::<_, std::io::Error>(Bytes::from(out))
    });
    let content_type = if tty { RAW } else { MULTIPLEXED };
    Ok((StatusCode::OK, [(header::CONTENT_TYPE, content_type)], Body::from_stream(stream)).into_response())
}

/// Writes an engine error into a hijacked stream the way Docker does
/// after the upgrade: on stderr (framed unless TTY), then closes it.
pub async fn write_stream_error(mut conn: hijack::Conn, tty: bool, message: &str) {
    let text = format!("{message}\r\n");
    let bytes = if tty { text.into_bytes() } else { hijack::frame(2, text.as_bytes()) };
    let _ = conn.write_all(&bytes).await;
    let _ = conn.shutdown().await;
}
