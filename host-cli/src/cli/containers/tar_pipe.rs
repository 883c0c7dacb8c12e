//! The bridge between the engine's archive streams (async, chunk by chunk)
//! and the tar crate (blocking `Read`/`Write`), so that `berth cp` holds a
//! few chunks in memory whatever the size of what it copies: a bounded
//! channel between a blocking task and the HTTP body, each side waiting
//! for the other.
//!
//! Owns only the carrying of bytes; it must never look into the archive.

use std::io::{Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use tokio::sync::mpsc;

/// Chunks in flight between the two sides.
const IN_FLIGHT: usize = 16;
/// The size of each chunk a writer sends.
const CHUNK: usize = 64 * 1024;

/// The writing end, for a blocking task: what it writes becomes the
/// chunks of [`Chunks`].
pub struct ChannelWriter {
    tx: mpsc::Sender<std::io::Result<Bytes>>,
    buf: Vec<u8>,
    failed: Arc<AtomicBool>,
}

/// Ends a [`ChannelWriter`]'s stream with an error, from beside it (the
/// writer may be inside a `tar::Builder`, whose drop would otherwise end
/// a cut archive with the end blocks, as if whole).
pub struct Failer {
    tx: mpsc::Sender<std::io::Result<Bytes>>,
    failed: Arc<AtomicBool>,
}

impl Failer {
    /// The stream's reader sees `e`; the writer writes nothing more.
    pub fn fail(self, e: std::io::Error) {
        self.failed.store(true, Ordering::SeqCst);
        let _ = self.tx.blocking_send(Err(e));
    }
}

/// The chunks a [`ChannelWriter`] sent, as an HTTP body takes them.
pub type Chunks = mpsc::Receiver<std::io::Result<Bytes>>;

/// A writer for a blocking task and the chunks it sends.
pub fn writer() -> (ChannelWriter, Chunks) {
    let (tx, rx) = mpsc::channel(IN_FLIGHT);
    (ChannelWriter { tx, buf: Vec::with_capacity(CHUNK), failed: Arc::new(AtomicBool::new(false)) }, rx)
}

impl ChannelWriter {
    fn send(&mut self) -> std::io::Result<()> {
        if self.failed.load(Ordering::SeqCst) {
            return Err(std::io::Error::from(std::io::ErrorKind::BrokenPipe));
        }
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx.blocking_send(Ok(chunk)).map_err(|_| std::io::Error::from(std::io::ErrorKind::BrokenPipe))
    }

    /// What ends this writer's stream with an error.
    pub fn failer(&self) -> Failer {
        Failer { tx: self.tx.clone(), failed: self.failed.clone() }
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if self.failed.load(Ordering::SeqCst) {
            return Err(std::io::Error::from(std::io::ErrorKind::BrokenPipe));
        }
        let n = data.len().min(CHUNK - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == CHUNK {
            self.send()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}

impl Drop for ChannelWriter {
    fn drop(&mut self) {
        let _ = self.send();
    }
}

/// The reading end, for a blocking task: it reads the chunks the async
/// side sends into [`reader`]'s sender, and ends when that is dropped.
pub struct ChannelReader {
    rx: mpsc::Receiver<Bytes>,
    chunk: Bytes,
}

/// A sender for the async side and the reader for a blocking task.
pub fn reader() -> (mpsc::Sender<Bytes>, ChannelReader) {
    let (tx, rx) = mpsc::channel(IN_FLIGHT);
    (tx, ChannelReader { rx, chunk: Bytes::new() })
}

impl Read for ChannelReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.chunk.is_empty() {
            match self.rx.blocking_recv() {
                Some(c) => self.chunk = c,
                None => return Ok(0),
            }
        }
        let n = out.len().min(self.chunk.len());
        out[..n].copy_from_slice(&self.chunk.split_to(n));
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_cross_in_bounded_chunks_both_ways() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let (w, mut chunks) = writer();
            let total = 10 * CHUNK + 5;
            let task = tokio::task::spawn_blocking(move || {
                let mut w = w;
                w.write_all(&vec![7u8; total]).unwrap();
            });
            let mut got = 0;
            while let Some(c) = chunks.recv().await {
                let c = c.unwrap();
                assert!(c.len() <= CHUNK);
                got += c.len();
            }
            task.await.unwrap();
            assert_eq!(got, total);

            let (tx, r) = reader();
            let task = tokio::task::spawn_blocking(move || {
                let mut r = r;
                let mut all = Vec::new();
                r.read_to_end(&mut all).unwrap();
                all
            });
            for i in 0..40u8 {
                tx.send(Bytes::from(vec![i; 1000])).await.unwrap();
            }
            drop(tx);
            let all = task.await.unwrap();
            assert_eq!(all.len(), 40_000);
            assert_eq!(all[39_999], 39);
        });
    }

    #[test]
    fn a_failed_writer_ends_the_chunks_with_its_error() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let (w, mut chunks) = writer();
            let failer = w.failer();
            tokio::task::spawn_blocking(move || {
                let mut b = tar::Builder::new(w);
                let mut h = tar::Header::new_gnu();
                h.set_size(3);
                b.append_data(&mut h, "a", &b"abc"[..]).unwrap();
                failer.fail(std::io::Error::other("source vanished"));
                // The builder's drop writes its end blocks: they must not go.
            })
            .await
            .unwrap();
            let e = chunks.recv().await.unwrap().unwrap_err();
            assert_eq!(e.to_string(), "source vanished");
            assert!(chunks.recv().await.is_none(), "nothing after the error: no end blocks of a cut archive");
        });
    }
}
