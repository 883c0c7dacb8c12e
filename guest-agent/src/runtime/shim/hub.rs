//! A process's output fan-out: every chunk goes to the json-file log (for
//! the container, not for execs) and to each attached client, framed with
//! Docker's 8-byte header unless the process has a TTY.
//!
//! Each client gets a bounded queue of [`CLIENT_QUEUE`] chunks: a client
//! that reads slower than the process writes holds the pump back (and so
//! the process's writes, as Docker's unbuffered attach broadcaster does)
//! instead of growing the shim's memory without end.

use std::cell::{Cell, RefCell};
use std::io::Write;

use tokio::sync::mpsc;

use crate::runtime::AttachStreams;
use crate::runtime::log_rotation::{LogRotation, rotated};
use crate::runtime::types::rfc3339_nano;

pub use crate::runtime::frames::{STDERR, STDOUT};

/// A line longer than this is logged in pieces (Docker: 16 KiB).
const MAX_LOG_LINE: usize = 16 * 1024;

/// Chunks (each at most one pump read, 32 KiB, plus its frame header)
/// queued for one attached client before the pump waits for it.
pub const CLIENT_QUEUE: usize = 64;

struct Sub {
    streams: AttachStreams,
    tx: mpsc::Sender<Vec<u8>>,
}

pub struct Hub {
    tty: bool,
    subs: RefCell<Vec<Sub>>,
    closed: Cell<bool>,
    log: RefCell<Option<LogWriter>>,
}

impl Hub {
    pub fn new(tty: bool, log: Option<LogWriter>) -> Self {
        Hub { tty, subs: RefCell::new(Vec::new()), closed: Cell::new(false), log: RefCell::new(log) }
    }

    /// None once the process's output has ended: the caller closes at once.
    pub fn subscribe(&self, streams: AttachStreams) -> Option<mpsc::Receiver<Vec<u8>>> {
        if self.closed.get() {
            return None;
        }
        let (tx, rx) = mpsc::channel(CLIENT_QUEUE);
        self.subs.borrow_mut().push(Sub { streams, tx });
        Some(rx)
    }

    /// Logs the chunk, then queues it for every client that wants its
    /// stream, waiting while a client's queue is full; a client that went
    /// away is dropped.
    pub async fn publish(&self, stream: u8, data: &[u8]) {
        if let Some(log) = self.log.borrow_mut().as_mut() {
            log.write(stream, data);
        }
        let framed = if self.tty { data.to_vec() } else { crate::runtime::frames::encode(stream, data) };
        // Senders cloned out first: no borrow is held across the waits.
        let targets: Vec<mpsc::Sender<Vec<u8>>> = self
            .subs
            .borrow()
            .iter()
            .filter(|s| if stream == STDERR { s.streams.stderr } else { s.streams.stdout })
            .map(|s| s.tx.clone())
            .collect();
        let mut gone = Vec::new();
        for tx in targets {
            if tx.send(framed.clone()).await.is_err() {
                gone.push(tx);
            }
        }
        if !gone.is_empty() {
            self.subs.borrow_mut().retain(|s| !gone.iter().any(|g| g.same_channel(&s.tx)));
        }
    }

    /// Output is over: flush the log, end every attach stream.
    pub fn close(&self) {
        self.closed.set(true);
        self.subs.borrow_mut().clear();
        if let Some(log) = self.log.borrow_mut().as_mut() {
            log.flush_partial();
        }
    }
}

/// Docker's json-file format: one JSON object per line of output.
/// With `max-size`, rotated as Docker's json-file driver: once the live
/// file would pass it, `<log>.1` becomes `<log>.2` and so on up to
/// `max-file - 1`, the live file becomes `<log>.1` and a new one starts
/// (with `max-file` 1 the file is truncated in place).
pub struct LogWriter {
    file: std::fs::File,
    path: std::path::PathBuf,
    rotation: Option<LogRotation>,
    size: u64,
    partial: [Vec<u8>; 2],
}

impl LogWriter {
    pub fn open(path: &std::path::Path, rotation: Option<LogRotation>) -> std::io::Result<Self> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let file = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
        let size = file.metadata()?.len();
        Ok(LogWriter { file, path: path.to_path_buf(), rotation, size, partial: [Vec::new(), Vec::new()] })
    }

    fn rotate(&mut self, r: LogRotation) -> std::io::Result<()> {
        if r.max_files <= 1 {
            self.file.set_len(0)?;
        } else {
            for n in (1..r.max_files - 1).rev() {
                match std::fs::rename(rotated(&self.path, n), rotated(&self.path, n + 1)) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                    _ => {}
                }
            }
            std::fs::rename(&self.path, rotated(&self.path, 1))?;
            self.file = std::fs::OpenOptions::new().create(true).append(true).open(&self.path)?;
        }
        self.size = 0;
        Ok(())
    }

    /// One `write(2)` for every whole line in `data` (a chunk of `yes` is
    /// thousands of lines).
    fn write(&mut self, stream: u8, data: &[u8]) {
        let idx = usize::from(stream == STDERR);
        let mut buf = std::mem::take(&mut self.partial[idx]);
        buf.extend_from_slice(data);
        let mut out = Vec::new();
        let mut start = 0;
        while let Some(nl) = buf[start..].iter().position(|b| *b == b'\n') {
            let end = start + nl + 1;
            entry(&mut out, stream, &buf[start..end]);
            start = end;
        }
        while buf.len() - start >= MAX_LOG_LINE {
            entry(&mut out, stream, &buf[start..start + MAX_LOG_LINE]);
            start += MAX_LOG_LINE;
        }
        self.partial[idx] = buf[start..].to_vec();
        self.append(&out);
    }

    fn flush_partial(&mut self) {
        let mut out = Vec::new();
        for (idx, stream) in [(0, STDOUT), (1, STDERR)] {
            let rest = std::mem::take(&mut self.partial[idx]);
            if !rest.is_empty() {
                entry(&mut out, stream, &rest);
            }
        }
        self.append(&out);
    }

    fn append(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        let Some(r) = self.rotation else {
            self.write_out(bytes);
            return;
        };
        // Whole lines, as many as fit under max-size per write; rotate when
        // the next one does not (a line longer than max-size goes alone).
        let mut rest = bytes;
        while !rest.is_empty() {
            let room = r.max_size.saturating_sub(self.size) as usize;
            let mut take = 0;
            for (i, b) in rest.iter().enumerate() {
                if i >= room {
                    break;
                }
                if *b == b'\n' {
                    take = i + 1;
                }
            }
            if take == 0 {
                if self.size > 0 {
                    if let Err(e) = self.rotate(r) {
                        tracing::warn!(error = %e, "cannot rotate the container log");
                        self.write_out(rest);
                        return;
                    }
                    continue;
                }
                take = rest.iter().position(|b| *b == b'\n').map_or(rest.len(), |i| i + 1);
            }
            self.write_out(&rest[..take]);
            rest = &rest[take..];
        }
    }

    fn write_out(&mut self, bytes: &[u8]) {
        match self.file.write_all(bytes) {
            Ok(()) => self.size += bytes.len() as u64,
            Err(e) => tracing::warn!(error = %e, "cannot write the container log"),
        }
    }
}

/// One json-file line for `line`, appended to `out`.
fn entry(out: &mut Vec<u8>, stream: u8, line: &[u8]) {
    let obj = serde_json::json!({
        "log": String::from_utf8_lossy(line),
        "stream": if stream == STDERR { "stderr" } else { "stdout" },
        "time": rfc3339_nano(std::time::SystemTime::now()),
    });
    out.extend_from_slice(obj.to_string().as_bytes());
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime").block_on(f)
    }

    #[test]
    fn log_lines_split_and_partial_flushed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("c.log");
        let hub = Hub::new(false, Some(LogWriter::open(&path, None).expect("open")));
        let mut rx = hub.subscribe(AttachStreams { stdin: false, stdout: true, stderr: false }).expect("open hub");
        block_on(async {
            hub.publish(STDOUT, b"a\nb").await;
            hub.publish(STDERR, b"err\n").await;
            hub.publish(STDOUT, b"c\n").await;
        });
        hub.close();
        let text = std::fs::read_to_string(&path).expect("log");
        let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).expect("json")).collect();
        let logs: Vec<(&str, &str)> =
            lines.iter().map(|v| (v["log"].as_str().unwrap_or(""), v["stream"].as_str().unwrap_or(""))).collect();
        assert_eq!(logs, vec![("a\n", "stdout"), ("err\n", "stderr"), ("bc\n", "stdout")]);
        assert_eq!(rx.try_recv().expect("frame"), b"\x01\x00\x00\x00\x00\x00\x00\x03a\nb".to_vec());
        assert_eq!(rx.try_recv().expect("frame")[..8], [1, 0, 0, 0, 0, 0, 0, 2]);
        assert!(rx.try_recv().is_err(), "closed after the stderr frame was skipped");
        assert!(hub.subscribe(AttachStreams::default()).is_none());
    }

    /// A client that does not read holds at most CLIENT_QUEUE chunks: the
    /// next publish waits (the pump, and so the process, is held back);
    /// once the client reads, it goes on; a client that left is dropped
    /// and no longer holds anyone back.
    #[test]
    fn a_client_that_does_not_read_holds_the_output_back_with_bounded_memory() {
        let hub = Hub::new(true, None);
        let all = AttachStreams { stdin: false, stdout: true, stderr: true };
        let mut slow = hub.subscribe(all).expect("open hub");
        let left = hub.subscribe(all).expect("open hub");
        drop(left);
        block_on(async {
            let chunk = vec![b'x'; 32 * 1024];
            for _ in 0..CLIENT_QUEUE {
                hub.publish(STDOUT, &chunk).await;
            }
            assert_eq!(hub.subs.borrow().len(), 1, "the client that left is dropped");
            let next = tokio::time::timeout(std::time::Duration::from_millis(200), hub.publish(STDOUT, b"more"));
            assert!(next.await.is_err(), "a full queue holds the publisher back");
            assert_eq!(slow.len(), CLIENT_QUEUE, "and nothing more is queued: {} chunks", slow.len());
            slow.recv().await.expect("a chunk");
            hub.publish(STDOUT, b"more").await;
            assert_eq!(slow.len(), CLIENT_QUEUE);
        });
    }

    /// max-size 1000, max-file 3: the live file and two rotated ones, each
    /// under the cap, the oldest lines dropped; max-file 1 truncates.
    #[test]
    fn the_log_rotates_at_max_size_keeping_max_file_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("c.log");
        let mut w = LogWriter::open(&path, Some(LogRotation { max_size: 1000, max_files: 3 })).expect("open");
        for i in 0..200 {
            w.write(STDOUT, format!("line {i}\n").as_bytes());
        }
        let sizes: Vec<u64> = [path.clone(), rotated(&path, 1), rotated(&path, 2)]
            .iter()
            .map(|p| std::fs::metadata(p).expect("kept").len())
            .collect();
        assert!(sizes.iter().all(|&n| n > 0 && n <= 1000), "{sizes:?}");
        assert!(!rotated(&path, 3).exists(), "no more than max-file files");
        let live = std::fs::read_to_string(&path).expect("live");
        assert!(live.contains("line 199"), "{live}");
        assert!(!std::fs::read_to_string(rotated(&path, 2)).expect("oldest").contains("line 0\\n"));

        let one = dir.path().join("one.log");
        let mut w = LogWriter::open(&one, Some(LogRotation { max_size: 500, max_files: 1 })).expect("open");
        for i in 0..100 {
            w.write(STDERR, format!("line {i}\n").as_bytes());
        }
        assert!(std::fs::metadata(&one).expect("one").len() <= 500);
        assert!(!rotated(&one, 1).exists());
    }
}
