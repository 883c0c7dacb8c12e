//! Bridges between HTTP bodies (async) and the image library's blocking
//! readers and writers: an upload read as `std::io::Read` (load, import)
//! and a download written through `std::io::Write` (save).
//!
//! Owns only the plumbing. A body that breaks off reads as an error, never
//! as a clean end, so a truncated upload cannot pass for a short archive.

use std::io::{Read, Write};

use axum::body::{Body, Bytes};
use tokio::sync::mpsc;

use crate::api::upload;

/// Reads an HTTP body from blocking code. Made on the async side with
/// [`BodyReader::spawn`], then moved into `spawn_blocking`.
pub struct BodyReader {
    rx: mpsc::Receiver<upload::Chunk>,
    current: Bytes,
}

impl BodyReader {
    pub fn spawn(body: Body) -> BodyReader {
        let (tx, rx) = mpsc::channel(16);
        tokio::spawn(upload::feed(body, tx));
        BodyReader { rx, current: Bytes::new() }
    }
}

impl Read for BodyReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(b)) => self.current = b,
                Some(Err(e)) => return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, e)),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}

/// Writes into an HTTP body from blocking code; the receiver side becomes
/// the response body. A client that goes away makes writes fail.
pub struct BodyWriter {
    tx: mpsc::Sender<Bytes>,
    buf: Vec<u8>,
}

const CHUNK: usize = 256 * 1024;

impl BodyWriter {
    pub fn new() -> (BodyWriter, Body) {
        let (tx, rx) = mpsc::channel::<Bytes>(8);
        let stream = futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|b| (Ok::<_, std::convert::Infallible>(b), rx))
        });
        (BodyWriter { tx, buf: Vec::with_capacity(CHUNK) }, Body::from_stream(stream))
    }

    fn send(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx
            .blocking_send(chunk)
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "client went away"))
    }
}

impl Write for BodyWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}
