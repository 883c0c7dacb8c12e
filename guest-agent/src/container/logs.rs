//! Reading a container's log, which the shim writes in Docker's json-file
//! format: one JSON object per line,
//! `{"log":"hi\n","stream":"stdout","time":"2026-01-02T03:04:05.123456789Z"}`.
//!
//! Owns `docker logs` semantics: stdout/stderr selection, `since`, `until`,
//! `tail`, and `follow` (new lines as they are written, ending when the
//! container stops and the file is drained). It must never write the log:
//! the shim owns it, so it survives an engine restart. A line that does not
//! parse (a torn write after a crash) is skipped, not fatal.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, watch};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    /// The stream byte of Docker's 8-byte frame header.
    pub fn frame_id(self) -> u8 {
        match self {
            Stream::Stdout => 1,
            Stream::Stderr => 2,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogEntry {
    pub stream: Stream,
    pub time: DateTime<Utc>,
    /// The raw `time` string: `--timestamps` prints it as written.
    pub time_text: String,
    pub bytes: Vec<u8>,
}

/// What `GET /containers/{id}/logs` asked for.
#[derive(Clone, Debug, Default)]
pub struct LogQuery {
    pub stdout: bool,
    pub stderr: bool,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    /// Only the last N entries of what is already written.
    pub tail: Option<usize>,
    pub follow: bool,
}

impl LogQuery {
    fn wants(&self, e: &LogEntry) -> bool {
        let stream_ok = match e.stream {
            Stream::Stdout => self.stdout,
            Stream::Stderr => self.stderr,
        };
        stream_ok && self.since.is_none_or(|s| e.time >= s)
    }

    fn past_until(&self, e: &LogEntry) -> bool {
        self.until.is_some_and(|u| e.time > u)
    }
}

/// Parses `tail`: `all`, empty or negative is everything (Docker's reading);
/// anything else that is not a number is an error.
pub fn parse_tail(s: &str) -> Result<Option<usize>, String> {
    match s {
        "" | "all" => Ok(None),
        n => match n.parse::<i64>() {
            Ok(n) if n < 0 => Ok(None),
            Ok(n) => Ok(Some(n as usize)),
            Err(_) => Err(format!("invalid tail value {s:?}: expected a number or \"all\"")),
        },
    }
}

#[derive(serde::Deserialize)]
struct JsonLine {
    log: String,
    #[serde(default)]
    stream: String,
    time: String,
}

pub fn parse_line(line: &[u8]) -> Option<LogEntry> {
    let j: JsonLine = serde_json::from_slice(line).ok()?;
    let time = super::clock::parse(&j.time)?;
    let stream = if j.stream == "stderr" { Stream::Stderr } else { Stream::Stdout };
    Some(LogEntry { stream, time, time_text: j.time, bytes: j.log.into_bytes() })
}

/// The complete lines in `buf`, and how many bytes they took (a trailing
/// partial line is left for the next read).
fn complete_lines(buf: &[u8]) -> (Vec<LogEntry>, usize) {
    let Some(last_nl) = buf.iter().rposition(|&b| b == b'\n') else {
        return (Vec::new(), 0);
    };
    let entries = buf[..last_nl].split(|&b| b == b'\n').filter(|l| !l.is_empty()).filter_map(parse_line).collect();
    (entries, last_nl + 1)
}

/// Streams the log at `path` to the returned receiver. With `follow`, it
/// keeps reading until `running` turns false and everything written before
/// that is sent (or the receiver is dropped, or `until` passes).
pub fn spawn_reader(path: PathBuf, q: LogQuery, running: watch::Receiver<bool>) -> mpsc::Receiver<LogEntry> {
    let (tx, rx) = mpsc::channel(256);
    tokio::spawn(async move {
        if let Err(e) = read_into(&path, &q, running, &tx).await {
            tracing::warn!(path = %path.display(), error = %e, "reading a container log");
        }
    });
    rx
}

async fn read_into(
    path: &Path,
    q: &LogQuery,
    mut running: watch::Receiver<bool>,
    tx: &mpsc::Sender<LogEntry>,
) -> std::io::Result<()> {
    let mut offset = 0u64;
    // What is already written: whole, then cut to `tail`.
    let (first, used) = read_from(path, offset).await?;
    offset += used as u64;
    let mut first: Vec<LogEntry> = first.into_iter().filter(|e| q.wants(e)).collect();
    if let Some(n) = q.tail {
        let skip = first.len().saturating_sub(n);
        first.drain(..skip);
    }
    for e in first {
        if q.past_until(&e) {
            return Ok(());
        }
        if tx.send(e).await.is_err() {
            return Ok(());
        }
    }
    if !q.follow {
        return Ok(());
    }
    loop {
        // Read the flag before the file: a container that stopped after this
        // point has written everything by the time the read below runs.
        let still_running = *running.borrow_and_update();
        let (more, used) = read_from(path, offset).await?;
        offset += used as u64;
        let got_any = !more.is_empty();
        for e in more.into_iter().filter(|e| q.wants(e)) {
            if q.past_until(&e) {
                return Ok(());
            }
            if tx.send(e).await.is_err() {
                return Ok(());
            }
        }
        if !still_running && !got_any {
            return Ok(());
        }
        if q.until.is_some_and(|u| Utc::now() > u) {
            return Ok(());
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
            _ = running.changed() => {}
            () = tx.closed() => return Ok(()),
        }
    }
}

/// Complete entries after `offset`; a missing file is an empty log.
async fn read_from(path: &Path, offset: u64) -> std::io::Result<(Vec<LogEntry>, usize)> {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let mut f = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), 0)),
            Err(e) => return Err(e),
        };
        f.seek(SeekFrom::Start(offset))?;
        let mut buf = Vec::new();
        f.read_to_end(&mut buf)?;
        Ok(complete_lines(&buf))
    })
    .await
    .map_err(std::io::Error::other)?
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn line(stream: &str, secs: i64, text: &str) -> String {
        let t = super::super::clock::format(DateTime::from_timestamp(secs, 0).unwrap());
        format!("{}\n", serde_json::json!({"log": text, "stream": stream, "time": t}))
    }

    async fn collect(mut rx: mpsc::Receiver<LogEntry>) -> Vec<String> {
        let mut out = Vec::new();
        while let Some(e) = rx.recv().await {
            out.push(String::from_utf8(e.bytes).unwrap());
        }
        out
    }

    fn all() -> LogQuery {
        LogQuery { stdout: true, stderr: true, ..Default::default() }
    }

    #[tokio::test]
    async fn streams_since_until_and_tail() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c-json.log");
        let mut text = String::new();
        text += &line("stdout", 100, "a\n");
        text += &line("stderr", 200, "b\n");
        text += "{torn line\n";
        text += &line("stdout", 300, "c\n");
        text += "{\"log\":\"partial"; // no newline yet: not an entry
        std::fs::write(&p, text).unwrap();
        let (_tx, rx) = watch::channel(false);

        assert_eq!(collect(spawn_reader(p.clone(), all(), rx.clone())).await, ["a\n", "b\n", "c\n"]);
        let q = LogQuery { stderr: false, ..all() };
        assert_eq!(collect(spawn_reader(p.clone(), q, rx.clone())).await, ["a\n", "c\n"]);
        let q = LogQuery { since: DateTime::from_timestamp(150, 0), ..all() };
        assert_eq!(collect(spawn_reader(p.clone(), q, rx.clone())).await, ["b\n", "c\n"]);
        let q = LogQuery { until: DateTime::from_timestamp(250, 0), ..all() };
        assert_eq!(collect(spawn_reader(p.clone(), q, rx.clone())).await, ["a\n", "b\n"]);
        let q = LogQuery { tail: Some(1), ..all() };
        assert_eq!(collect(spawn_reader(p.clone(), q, rx.clone())).await, ["c\n"]);
        let q = LogQuery { tail: Some(0), ..all() };
        assert!(collect(spawn_reader(p.clone(), q, rx.clone())).await.is_empty());
        let missing = dir.path().join("none.log");
        assert!(collect(spawn_reader(missing, all(), rx)).await.is_empty());
    }

    #[tokio::test]
    async fn follow_sees_new_lines_and_ends_when_the_container_stops() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c-json.log");
        std::fs::write(&p, line("stdout", 100, "one\n")).unwrap();
        let (running_tx, running) = watch::channel(true);
        let mut rx = spawn_reader(p.clone(), LogQuery { follow: true, ..all() }, running);
        assert_eq!(rx.recv().await.unwrap().bytes, b"one\n");
        let mut f = std::fs::OpenOptions::new().append(true).open(&p).unwrap();
        f.write_all(line("stderr", 101, "two\n").as_bytes()).unwrap();
        let e = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await.unwrap().unwrap();
        assert_eq!((e.stream, e.bytes.as_slice()), (Stream::Stderr, &b"two\n"[..]));
        // The last line lands just before the container stops.
        f.write_all(line("stdout", 102, "three\n").as_bytes()).unwrap();
        running_tx.send_replace(false);
        let rest = tokio::time::timeout(Duration::from_secs(5), collect(rx)).await.unwrap();
        assert_eq!(rest, ["three\n"]);
    }

    #[test]
    fn tail_values() {
        assert_eq!(parse_tail("all").unwrap(), None);
        assert_eq!(parse_tail("").unwrap(), None);
        assert_eq!(parse_tail("5").unwrap(), Some(5));
        assert_eq!(parse_tail("-1").unwrap(), None);
        assert!(parse_tail("x").is_err());
    }
}
