//! Streaming replies as JSON lines (pull, push, load, import progress).

use std::convert::Infallible;

use axum::body::{Body, Bytes};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tokio::sync::mpsc;

use crate::api::error::ApiError;
use crate::image::progress::Progress;

/// Runs `work` and streams its progress events as JSON lines. Until the
/// first event the reply is undecided: work that fails before saying
/// anything gets a plain HTTP error (Docker's behaviour, which docker-py and
/// `docker pull` rely on); once streaming, an error is the last line, with
/// both `error` and `errorDetail` (the CLI reads one, docker-py the other).
pub(super) async fn stream_json_lines<F, Fut>(work: F) -> Response
where
    F: FnOnce(Progress) -> Fut + Send + 'static,
    Fut: Future<Output = Result<(), ApiError>> + Send + 'static,
{
    let (progress, mut events) = Progress::channel();
    let job = tokio::spawn(work(progress));
    // `None` means the work ended (and dropped its sender) silently.
    let Some(first) = events.recv().await else {
        return match job.await {
            Ok(Ok(())) => (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], "").into_response(),
            Ok(Err(e)) => e.into_response(),
            Err(e) => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("internal error: {e}")).into_response(),
        };
    };
    let (tx, rx) = mpsc::unbounded_channel::<Bytes>();
    tokio::spawn(async move {
        let _ = tx.send(line(&first));
        while let Some(ev) = events.recv().await {
            let _ = tx.send(line(&ev));
        }
        let failure = match job.await {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(e.message),
            Err(e) => Some(format!("internal error: {e}")),
        };
        if let Some(message) = failure {
            let _ = tx.send(line(&json!({"errorDetail": {"message": message}, "error": message})));
        }
    });
    let body =
        futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|b| (Ok::<_, Infallible>(b), rx)) });
    (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], Body::from_stream(body)).into_response()
}

pub(super) fn line(v: &impl serde::Serialize) -> Bytes {
    let mut b = serde_json::to_vec(v).unwrap_or_else(|_| b"{}".to_vec());
    b.push(b'\n');
    Bytes::from(b)
}
