//! Request bodies carried to the engine as they arrive (`docker load`,
//! `import`, `cp` into a container): chunks over a bounded channel, so a
//! slow extractor holds the client back instead of buffering the upload.
//!
//! Owns one rule besides the plumbing: when the engine stops reading early
//! (it failed, or an archive ended before its body did — a tar's trailing
//! zero blocks), the rest of the body is read and dropped, up to
//! [`DRAIN_LIMIT`]. A connection closed with the client's bytes unread is
//! reset, and over a machine's vsock path the reset can overtake the reply:
//! the client then sees `connection reset by peer` instead of Docker's
//! answer (CI, `docker load` in a machine, 2026-12-02). It never parses
//! the body.

use axum::body::{Body, Bytes};
use futures_util::StreamExt;
use tokio::sync::mpsc;

/// How much of a body nobody reads is still taken off the connection
/// before it is closed instead (Go's HTTP server drains 256 KiB the same
/// way).
pub const DRAIN_LIMIT: usize = 1 << 20;

/// A chunk of the body, or why the body broke off.
pub type Chunk = Result<Bytes, String>;

/// Sends `body`'s chunks to `tx` until the body ends, breaks off (the
/// error is sent, then nothing) or the receiver is gone (the rest is
/// drained).
pub async fn feed(body: Body, tx: mpsc::Sender<Chunk>) {
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| e.to_string());
        let failed = chunk.is_err();
        if tx.send(chunk).await.is_err() {
            break;
        }
        if failed {
            return;
        }
    }
    let mut left = DRAIN_LIMIT;
    while let Some(Ok(chunk)) = stream.next().await {
        let Some(rest) = left.checked_sub(chunk.len()) else {
            tracing::debug!("closing a connection whose unread body is over the drain limit");
            return;
        };
        left = rest;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body_of(chunks: Vec<&'static [u8]>) -> Body {
        let s = futures_util::stream::iter(chunks.into_iter().map(|c| Ok::<_, std::io::Error>(Bytes::from_static(c))));
        Body::from_stream(s)
    }

    #[tokio::test]
    async fn the_receiver_gets_every_chunk() {
        let (tx, mut rx) = mpsc::channel(4);
        tokio::spawn(feed(body_of(vec![b"ab", b"cd"]), tx));
        let mut got = Vec::new();
        while let Some(c) = rx.recv().await {
            got.extend_from_slice(&c.unwrap());
        }
        assert_eq!(got, b"abcd");
    }

    #[tokio::test]
    async fn a_body_left_unread_is_still_consumed_to_its_end() {
        let consumed = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let seen = consumed.clone();
        let s = futures_util::stream::iter(0..100).map(move |_| {
            seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok::<_, std::io::Error>(Bytes::from_static(&[0u8; 512]))
        });
        let (tx, rx) = mpsc::channel(1);
        drop(rx);
        feed(Body::from_stream(s), tx).await;
        assert_eq!(consumed.load(std::sync::atomic::Ordering::SeqCst), 100, "every chunk was read off the connection");
    }

    #[tokio::test]
    async fn a_huge_unread_body_is_not_drained_forever() {
        let s = futures_util::stream::repeat_with(|| Ok::<_, std::io::Error>(Bytes::from_static(&[0u8; 64 * 1024])));
        let (tx, rx) = mpsc::channel(1);
        drop(rx);
        // Returns (the connection is then closed) after about DRAIN_LIMIT.
        tokio::time::timeout(std::time::Duration::from_secs(10), feed(Body::from_stream(s), tx))
            .await
            .expect("the drain stops at its limit");
    }
}
