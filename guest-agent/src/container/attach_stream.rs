//! An attached client's end of a container's or an exec's stdio, the way
//! Docker hands it out: framed or raw as the *client's* request says (an
//! exec's output is framed by its start request's `Tty`, whatever its
//! process has), and, when the process has a TTY and the client sends
//! stdin, watched for the detach keys (ctrl-p,ctrl-q unless set): typing
//! them ends the attachment — the output side reads EOF, the process keeps
//! running and keeps its stdin.
//!
//! Owns those two rules over the runtime's stream ([`crate::runtime::AttachIo`]);
//! the key grammar and matching are `docker_vocab::detach_keys`', the frame
//! format `crate::runtime::frames`'. It must never close a process's stdin
//! because of a detach.

use std::pin::Pin;
use std::task::{Context, Poll, Waker, ready};

use docker_vocab::detach_keys::EscapeScanner;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::watch;

use crate::runtime::frames::{self, FrameDecoder, STDOUT};

/// How the process's output becomes what the client reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// As the runtime gives it (frames without a TTY, raw with one).
    AsIs,
    /// A TTY's raw bytes, framed as stdout: an exec with a TTY started by
    /// a request without `Tty`.
    FrameAsStdout,
    /// Frames unwrapped, stdout's bytes only: an exec without a TTY started
    /// with `Tty` (Docker attaches no stderr then).
    StdoutOnly,
}

impl Framing {
    /// moby's rule for an exec: the process has a TTY per its create
    /// request; the stream is framed unless the start request says `Tty`.
    pub fn for_exec(process_tty: bool, start_tty: bool) -> Framing {
        match (process_tty, start_tty) {
            (true, false) => Framing::FrameAsStdout,
            (false, true) => Framing::StdoutOnly,
            _ => Framing::AsIs,
        }
    }
}

/// What a detach says when the client writes after it, in moby's words.
fn escape_error() -> std::io::Error {
    std::io::Error::other("read escape sequence")
}

type OnDetach = Box<dyn FnOnce() + Send>;

/// The client's duplex: reading gives output as [`Framing`] says, writing
/// feeds stdin (minus the detach keys); after a detach reads end and
/// writes fail, and a shutdown leaves the process's stdin open.
pub struct AttachStream<S> {
    inner: S,
    framing: Framing,
    frames: FrameDecoder,
    scratch: Vec<u8>,
    /// Output ready for the client, from `out_at` on.
    out: Vec<u8>,
    out_at: usize,
    escape: Option<EscapeScanner>,
    /// Client bytes accepted but not yet written to the process.
    to_stdin: Vec<u8>,
    detached: watch::Sender<bool>,
    read_waker: Option<Waker>,
    on_detach: Option<OnDetach>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> AttachStream<S> {
    pub fn new(inner: S, framing: Framing) -> Self {
        AttachStream {
            inner,
            framing,
            frames: FrameDecoder::default(),
            scratch: vec![0u8; 32 * 1024],
            out: Vec::new(),
            out_at: 0,
            escape: None,
            to_stdin: Vec::new(),
            detached: watch::Sender::new(false),
            read_waker: None,
            on_detach: None,
        }
    }

    /// Watches stdin for `keys` (empty: ctrl-p,ctrl-q); `on_detach` runs
    /// once when they come (the `detach` event).
    pub fn with_detach_keys(mut self, keys: &[u8], on_detach: impl FnOnce() + Send + 'static) -> Self {
        self.escape = Some(EscapeScanner::new(keys));
        self.on_detach = Some(Box::new(on_detach));
        self
    }

    /// Turns true when the client detaches.
    pub fn detached(&self) -> watch::Receiver<bool> {
        self.detached.subscribe()
    }

    fn is_detached(&self) -> bool {
        *self.detached.borrow()
    }

    fn detach(&mut self) {
        self.detached.send_replace(true);
        if let Some(w) = self.read_waker.take() {
            w.wake();
        }
        if let Some(f) = self.on_detach.take() {
            f();
        }
    }

    /// Writes what is waiting for stdin.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        while !self.to_stdin.is_empty() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.to_stdin))?;
            if n == 0 {
                return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()));
            }
            self.to_stdin.drain(..n);
        }
        Poll::Ready(Ok(()))
    }

    /// Turns one piece of the process's output into the client's bytes.
    fn convert(&mut self, got: &[u8]) {
        match self.framing {
            Framing::AsIs => self.out.extend_from_slice(got),
            Framing::FrameAsStdout => self.out.extend(frames::encode(STDOUT, got)),
            Framing::StdoutOnly => {
                for (stream, data) in self.frames.push(got) {
                    if stream == STDOUT {
                        self.out.extend(data);
                    }
                }
            }
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for AttachStream<S> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        loop {
            if this.is_detached() {
                return Poll::Ready(Ok(()));
            }
            if this.out_at < this.out.len() {
                let n = buf.remaining().min(this.out.len() - this.out_at);
                buf.put_slice(&this.out[this.out_at..this.out_at + n]);
                this.out_at += n;
                if this.out_at == this.out.len() {
                    this.out.clear();
                    this.out_at = 0;
                }
                return Poll::Ready(Ok(()));
            }
            let mut scratch = std::mem::take(&mut this.scratch);
            let mut rb = ReadBuf::new(&mut scratch);
            let polled = Pin::new(&mut this.inner).poll_read(cx, &mut rb);
            let filled = rb.filled().len();
            let done = match polled {
                Poll::Pending => {
                    this.read_waker = Some(cx.waker().clone());
                    Some(Poll::Pending)
                }
                Poll::Ready(Err(e)) => Some(Poll::Ready(Err(e))),
                Poll::Ready(Ok(())) if filled == 0 => Some(Poll::Ready(Ok(()))),
                Poll::Ready(Ok(())) => {
                    this.convert(&scratch[..filled]);
                    None
                }
            };
            this.scratch = scratch;
            if let Some(p) = done {
                return p;
            }
            // A piece that made no client bytes (a stderr frame dropped, a
            // partial frame): read on.
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for AttachStream<S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        if this.is_detached() {
            return Poll::Ready(Err(escape_error()));
        }
        ready!(this.poll_drain(cx))?;
        let (pass, detach) = match this.escape.as_mut() {
            Some(scanner) => {
                let s = scanner.feed(buf);
                (s.pass, s.detach)
            }
            None => (buf.to_vec(), false),
        };
        this.to_stdin = pass;
        // Whatever cannot be written now goes with the next write or flush.
        if let Poll::Ready(Err(e)) = this.poll_drain(cx) {
            return Poll::Ready(Err(e));
        }
        if detach {
            this.detach();
            return Poll::Ready(Err(escape_error()));
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        if this.is_detached() {
            // A detach leaves the process's stdin as it is.
            return Poll::Ready(Ok(()));
        }
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn exec_framing_follows_the_start_request() {
        assert_eq!(Framing::for_exec(false, false), Framing::AsIs);
        assert_eq!(Framing::for_exec(true, true), Framing::AsIs);
        assert_eq!(Framing::for_exec(true, false), Framing::FrameAsStdout);
        assert_eq!(Framing::for_exec(false, true), Framing::StdoutOnly);
    }

    #[tokio::test]
    async fn a_tty_is_framed_for_a_client_that_wants_frames() {
        let (ours, mut process) = tokio::io::duplex(1024);
        let mut s = AttachStream::new(ours, Framing::FrameAsStdout);
        process.write_all(b"yay").await.unwrap();
        drop(process);
        let mut got = Vec::new();
        s.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, frames::encode(STDOUT, b"yay"));
    }

    #[tokio::test]
    async fn frames_unwrapped_keep_stdout_only() {
        let (ours, mut process) = tokio::io::duplex(1024);
        let mut s = AttachStream::new(ours, Framing::StdoutOnly);
        let mut wire = frames::encode(STDOUT, b"out ");
        wire.extend(frames::encode(2, b"err"));
        wire.extend(frames::encode(STDOUT, b"more"));
        // In awkward pieces, as a socket may deliver them.
        for piece in wire.chunks(5) {
            process.write_all(piece).await.unwrap();
        }
        drop(process);
        let mut got = Vec::new();
        s.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"out more");
    }

    #[tokio::test]
    async fn the_detach_keys_end_the_attachment_and_keep_stdin_open() {
        let (ours, mut process) = tokio::io::duplex(1024);
        let fired = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let f = fired.clone();
        let s = AttachStream::new(ours, Framing::AsIs)
            .with_detach_keys(&[], move || f.store(true, std::sync::atomic::Ordering::SeqCst));
        let mut detached = s.detached();
        let (mut r, mut w) = tokio::io::split(s);
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            r.read_to_end(&mut got).await.map(|_| got)
        });
        w.write_all(b"typed\x10").await.unwrap();
        w.flush().await.unwrap();
        let err = w.write_all(b"\x11").await.unwrap_err();
        assert_eq!(err.to_string(), "read escape sequence");
        // The reader ends although the process is still there.
        assert_eq!(reader.await.unwrap().unwrap(), b"");
        assert!(*detached.borrow_and_update());
        assert!(fired.load(std::sync::atomic::Ordering::SeqCst));
        w.shutdown().await.unwrap();
        // The process got what came before the keys, and its stdin is
        // still open: nothing more, no EOF.
        let mut got = [0u8; 16];
        let n = process.read(&mut got).await.unwrap();
        assert_eq!(&got[..n], b"typed");
        drop(w);
        // Only dropping the stream closes it.
        assert_eq!(process.read(&mut got).await.unwrap(), 0);
    }

    #[tokio::test]
    async fn without_detach_keys_bytes_and_eof_pass() {
        let (ours, mut process) = tokio::io::duplex(1024);
        let mut s = AttachStream::new(ours, Framing::AsIs);
        s.write_all(b"\x10\x11 stays").await.unwrap();
        s.shutdown().await.unwrap();
        let mut got = Vec::new();
        process.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"\x10\x11 stays");
    }
}
