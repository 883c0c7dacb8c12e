//! Hijacked connections, as Docker's attach and exec start use them: the
//! client asks for `Upgrade: tcp`, the engine answers `101 UPGRADED` and the
//! connection becomes a raw duplex stream (stdout/stderr in Docker's 8-byte
//! frames unless there is a TTY, stdin the other way, a half-close for
//! stdin's EOF). A client that does not ask to upgrade gets `200` and the
//! output as the body, as Docker's own server does; it has no stdin.
//!
//! Owns the HTTP side of that switch and the frame format; it must never
//! know what is on the other end (a container, an exec).

use std::pin::Pin;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Any byte stream both ways.
pub trait Duplex: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Duplex for T {}

pub type Conn = Pin<Box<dyn Duplex>>;

pub const MULTIPLEXED: &str = "application/vnd.docker.multiplexed-stream";
pub const RAW: &str = "application/vnd.docker.raw-stream";

/// Docker's frame header: `[stream, 0, 0, 0, len (u32 big-endian)]`, then
/// the bytes. Stream 1 stdout, 2 stderr, 3 an error from the engine.
pub fn frame(stream: u8, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + data.len());
    out.push(stream);
    out.extend_from_slice(&[0, 0, 0]);
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(data);
    out
}

/// How long to hold back bytes that are ready the moment a stream is
/// taken over (an attach's log replay). A client that reads the 101 head
/// through a buffer and then the stream from the raw socket (docker-py)
/// loses whatever came in the same read as the head; Docker's own replay
/// starts after it has opened the log, by which time the client has read
/// the head.
pub const HEAD_SETTLE: std::time::Duration = std::time::Duration::from_millis(50);

fn wants_upgrade(req: &Request) -> bool {
    req.headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("tcp") || v.eq_ignore_ascii_case("h2c"))
}

/// Answers the request with a hijacked connection handed to `serve` (which
/// runs in its own task once the switch is done), `content_type` saying
/// whether the stream is framed.
pub fn hijack<F, Fut>(mut req: Request, content_type: &'static str, serve: F) -> Response
where
    F: FnOnce(Conn) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    if wants_upgrade(&req) {
        let on_upgrade = hyper::upgrade::on(&mut req);
        tokio::spawn(async move {
            match on_upgrade.await {
                Ok(upgraded) => serve(Box::pin(TokioIo::new(upgraded))).await,
                Err(e) => tracing::debug!(error = %e, "client went away before the upgrade"),
            }
        });
        let mut resp = StatusCode::SWITCHING_PROTOCOLS.into_response();
        let h = resp.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        h.insert(header::UPGRADE, HeaderValue::from_static("tcp"));
        return resp;
    }
    // No upgrade: the output is the response body; stdin reads EOF at once.
    let (ours, theirs) = tokio::io::duplex(64 * 1024);
    let (body_side, mut stdin_side) = tokio::io::split(theirs);
    tokio::spawn(async move {
        let _ = stdin_side.shutdown().await;
        serve(Box::pin(ours)).await;
    });
    let stream = futures_util::stream::unfold(body_side, |mut r| async move {
        let mut buf = vec![0u8; 32 * 1024];
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok::<_, std::io::Error>(axum::body::Bytes::from(buf)), r))
            }
        }
    });
    (StatusCode::OK, [(header::CONTENT_TYPE, content_type)], Body::from_stream(stream)).into_response()
}

/// Copies between a client connection and a stream-side duplex (a
/// container's or exec's stdio) until the output ends. Client bytes go to
/// `stdin` only when the client attached stdin; the client's half-close
/// becomes stdin's EOF. Returns when the output side is done.
pub async fn pump<S>(client: Conn, side: S, attach_stdin: bool)
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    pump_then(client, side, attach_stdin, std::future::ready(())).await;
}

/// [`pump`], closing the client's side only once `before_close` resolves
/// (an exec's exit code is recorded by then).
pub async fn pump_then<S, F>(client: Conn, side: S, attach_stdin: bool, before_close: F)
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    F: std::future::Future<Output = ()>,
{
    let (mut client_r, mut client_w) = tokio::io::split(client);
    let (mut side_r, mut side_w) = tokio::io::split(side);
    let input = tokio::spawn(async move {
        if attach_stdin {
            let _ = tokio::io::copy(&mut client_r, &mut side_w).await;
            let _ = side_w.shutdown().await;
        } else {
            // Drain and ignore what the client sends; a read error or EOF
            // is no reason to stop the output.
            let mut sink = tokio::io::sink();
            let _ = tokio::io::copy(&mut client_r, &mut sink).await;
        }
    });
    let _ = tokio::io::copy(&mut side_r, &mut client_w).await;
    before_close.await;
    let _ = client_w.flush().await;
    let _ = client_w.shutdown().await;
    input.abort();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_have_dockers_header() {
        assert_eq!(frame(1, b"hi\n"), [1, 0, 0, 0, 0, 0, 0, 3, b'h', b'i', b'\n']);
        assert_eq!(frame(2, b"")[..8], [2, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(&frame(1, &[0u8; 300])[4..8], &300u32.to_be_bytes());
    }

    #[tokio::test]
    async fn pump_forwards_stdin_half_close_and_output() {
        let (client, mut client_far) = tokio::io::duplex(1024);
        let (side, mut side_far) = tokio::io::duplex(1024);
        let task = tokio::spawn(pump(Box::pin(client), side, true));
        client_far.write_all(b"input").await.unwrap();
        client_far.shutdown().await.unwrap();
        let mut got = Vec::new();
        side_far.read_to_end(&mut got).await.unwrap_or_default();
        // read_to_end on a duplex ends when our write half shut down.
        assert_eq!(got, b"input");
        side_far.write_all(b"output").await.unwrap();
        drop(side_far);
        task.await.unwrap();
        let mut out = Vec::new();
        client_far.read_to_end(&mut out).await.unwrap();
        assert_eq!(out, b"output");
    }

    #[tokio::test]
    async fn without_stdin_client_bytes_are_dropped() {
        let (client, mut client_far) = tokio::io::duplex(1024);
        let (side, mut side_far) = tokio::io::duplex(1024);
        let task = tokio::spawn(pump(Box::pin(client), side, false));
        client_far.write_all(b"ignored").await.unwrap();
        side_far.write_all(b"out").await.unwrap();
        drop(side_far);
        task.await.unwrap();
        let mut out = Vec::new();
        client_far.read_to_end(&mut out).await.unwrap();
        assert_eq!(out, b"out");
    }
}
