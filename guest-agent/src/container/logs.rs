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

use crate::runtime::log_rotation::rotated;

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
    // What is already written, the rotated files (json-file's max-file)
    // oldest first: from the first of the last `tail` entries, found
    // reading backwards, never a whole file at once.
    let files = {
        let path = path.to_path_buf();
        tokio::task::spawn_blocking(move || {
            let mut files: Vec<PathBuf> =
                (1..).map(|n| rotated(&path, n)).take_while(|p| p.exists()).take(MAX_ROTATED).collect();
            files.reverse();
            files.push(path);
            files
        })
        .await
        .map_err(std::io::Error::other)?
    };
    let (mut first, mut offset) = (0, 0);
    if let Some(n) = q.tail {
        let (files, q) = (files.clone(), q.clone());
        (first, offset) = tokio::task::spawn_blocking(move || {
            let mut left = n;
            for (i, f) in files.iter().enumerate().rev() {
                let (at, found) = tail_start(f, &q, left)?;
                if found >= left || i == 0 {
                    return Ok::<_, std::io::Error>((i, at));
                }
                left -= found;
            }
            Ok((0, 0))
        })
        .await
        .map_err(std::io::Error::other)??;
    }
    let last = files.len() - 1;
    for f in &files[first..last] {
        if drain(f, &mut offset, None, q, tx).await? == Drained::Stop {
            return Ok(());
        }
        offset = 0;
    }
    let mut live = match drain(path, &mut offset, None, q, tx).await? {
        Drained::Sent { ino, .. } if q.follow => ino,
        _ => return Ok(()),
    };
    loop {
        // Read the flag before the file: a container that stopped after this
        // point has written everything by the time the read below runs.
        let still_running = *running.borrow_and_update();
        let got_any = match drain(path, &mut offset, live, q, tx).await? {
            Drained::Stop => return Ok(()),
            Drained::Sent { read, ino } => {
                live = ino;
                read > 0
            }
            // Rotated since the last read: the rest of the old file is
            // `.1` now (unless it rotated on again), then the new file.
            Drained::Rotated(ino) => {
                if drain(&rotated(path, 1), &mut offset, live, q, tx).await? == Drained::Stop {
                    return Ok(());
                }
                (offset, live) = (0, Some(ino));
                continue;
            }
        };
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

#[derive(Debug, PartialEq, Eq)]
enum Drained {
    /// `until` passed or the receiver is gone.
    Stop,
    /// Entries read (wanted or not) up to the end of the complete lines, from
    /// the file with inode `ino` (None: no file).
    Sent { read: usize, ino: Option<u64> },
    /// The file at the path is not the inode expected: this one is there now.
    Rotated(u64),
}

/// Sends the wanted entries after `offset` a chunk at a time, up to the
/// last complete line, moving `offset` past them; all through one open
/// file, which must be inode `expect` when given. A file shorter than
/// `offset` was truncated (max-file 1): it is read from its start.
async fn drain(
    path: &Path,
    offset: &mut u64,
    expect: Option<u64>,
    q: &LogQuery,
    tx: &mpsc::Sender<LogEntry>,
) -> std::io::Result<Drained> {
    use std::os::unix::fs::MetadataExt;
    let opened = {
        let path = path.to_path_buf();
        tokio::task::spawn_blocking(move || match std::fs::File::open(&path) {
            Ok(f) => f.metadata().map(|m| Some((std::sync::Arc::new(f), m.ino(), m.len()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        })
        .await
        .map_err(std::io::Error::other)??
    };
    let Some((file, ino, len)) = opened else { return Ok(Drained::Sent { read: 0, ino: None }) };
    if expect.is_some_and(|e| e != ino) {
        return Ok(Drained::Rotated(ino));
    }
    if len < *offset {
        *offset = 0;
    }
    let mut read = 0;
    loop {
        let (entries, used) = read_chunk(file.clone(), *offset).await?;
        if used == 0 {
            return Ok(Drained::Sent { read, ino: Some(ino) });
        }
        *offset += used as u64;
        read += entries.len();
        for e in entries.into_iter().filter(|e| q.wants(e)) {
            if q.past_until(&e) || tx.send(e).await.is_err() {
                return Ok(Drained::Stop);
            }
        }
    }
}

/// How much of the log one read takes in (lines are far shorter: the shim
/// splits output at 16 KiB).
const CHUNK: usize = 1 << 20;
/// Blocks read backwards looking for the tail.
const BACK_BLOCK: u64 = 64 * 1024;

/// Complete entries in the next chunk of `file` after `offset`. A chunk
/// with no line end at all (not the shim's writing) is passed over whole.
async fn read_chunk(file: std::sync::Arc<std::fs::File>, offset: u64) -> std::io::Result<(Vec<LogEntry>, usize)> {
    use std::os::unix::fs::FileExt;
    tokio::task::spawn_blocking(move || {
        let mut buf = vec![0; CHUNK];
        let mut got = 0;
        while got < CHUNK {
            match file.read_at(&mut buf[got..], offset + got as u64)? {
                0 => break,
                n => got += n,
            }
        }
        buf.truncate(got);
        let (entries, used) = complete_lines(&buf);
        Ok(if used == 0 && got == CHUNK { (entries, CHUNK) } else { (entries, used) })
    })
    .await
    .map_err(std::io::Error::other)?
}

/// Rotated files looked at, at most.
const MAX_ROTATED: usize = 1000;

/// The offset of the first of the last `n` entries `q` wants (with `n` 0,
/// the end of the last complete line) and how many of them there were (at
/// most `n`), read from the end backwards a block at a time, holding at
/// most the line being looked at.
fn tail_start(path: &Path, q: &LogQuery, n: usize) -> std::io::Result<(u64, usize)> {
    let mut f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((0, 0)),
        Err(e) => return Err(e),
    };
    let len = f.metadata()?.len();
    let wanted = |line: &[u8]| parse_line(line).is_some_and(|e| q.wants(&e));
    // `data` holds the file from `pos`; `line_end` is the end (past its
    // newline) of the line looked at, once the last newline is found.
    let (mut pos, mut data, mut line_end) = (len, Vec::new(), None::<u64>);
    let mut found = 0;
    loop {
        loop {
            let limit = line_end.map_or(data.len(), |e| (e - pos) as usize - 1);
            let Some(k) = data[..limit].iter().rposition(|b| *b == b'\n') else { break };
            let start = pos + k as u64 + 1;
            if line_end.is_none() && n == 0 {
                return Ok((start, 0));
            }
            if line_end.is_some() && wanted(&data[k + 1..limit]) {
                found += 1;
                if found == n {
                    return Ok((start, found));
                }
            }
            line_end = Some(start);
            data.truncate(k + 1);
        }
        // A line longer than the shim ever writes: start after it.
        if pos == 0 {
            // The first line has no newline before it.
            if let Some(e) = line_end
                && wanted(&data[..(e - pos) as usize - 1])
            {
                found += 1;
            }
            return Ok((0, found));
        }
        if data.len() > 4 * CHUNK {
            return Ok((line_end.unwrap_or(len), found));
        }
        let start = pos.saturating_sub(BACK_BLOCK);
        let mut block = vec![0; (pos - start) as usize];
        f.seek(SeekFrom::Start(start))?;
        f.read_exact(&mut block)?;
        block.extend_from_slice(&data);
        (data, pos) = (block, start);
    }
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
        let q = LogQuery { tail: Some(2), stdout: false, ..all() };
        assert_eq!(collect(spawn_reader(p.clone(), q, rx.clone())).await, ["b\n"], "tail counts the wanted entries");
        let q = LogQuery { tail: Some(5), ..all() };
        assert_eq!(collect(spawn_reader(p.clone(), q, rx.clone())).await, ["a\n", "b\n", "c\n"]);
        let missing = dir.path().join("none.log");
        assert!(collect(spawn_reader(missing, all(), rx)).await.is_empty());
    }

    /// A log holding "one", followed (the reader has sent it), and the file
    /// open for appending.
    async fn following_one()
    -> (tempfile::TempDir, PathBuf, watch::Sender<bool>, mpsc::Receiver<LogEntry>, std::fs::File) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c-json.log");
        std::fs::write(&p, line("stdout", 100, "one\n")).unwrap();
        let (running_tx, running) = watch::channel(true);
        let mut rx = spawn_reader(p.clone(), LogQuery { follow: true, ..all() }, running);
        assert_eq!(rx.recv().await.unwrap().bytes, b"one\n");
        let f = std::fs::OpenOptions::new().append(true).open(&p).unwrap();
        (dir, p, running_tx, rx, f)
    }

    #[tokio::test]
    async fn follow_sees_new_lines_and_ends_when_the_container_stops() {
        let (_dir, _p, running_tx, mut rx, mut f) = following_one().await;
        f.write_all(line("stderr", 101, "two\n").as_bytes()).unwrap();
        let e = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await.unwrap().unwrap();
        assert_eq!((e.stream, e.bytes.as_slice()), (Stream::Stderr, &b"two\n"[..]));
        // The last line lands just before the container stops.
        f.write_all(line("stdout", 102, "three\n").as_bytes()).unwrap();
        running_tx.send_replace(false);
        let rest = tokio::time::timeout(Duration::from_secs(5), collect(rx)).await.unwrap();
        assert_eq!(rest, ["three\n"]);
    }

    /// `--tail` on a log far larger than memory (a sparse 64 GiB hole
    /// before the last lines): read from the end, at once (the old reader
    /// read the whole file first).
    #[tokio::test]
    async fn tail_reads_from_the_end_not_the_whole_log() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c-json.log");
        let f = std::fs::File::create(&p).unwrap();
        f.set_len(64 << 30).unwrap();
        drop(f);
        let mut f = std::fs::OpenOptions::new().append(true).open(&p).unwrap();
        let mut lines = String::from("\n");
        for i in 0..3000 {
            lines += &line(if i % 2 == 0 { "stdout" } else { "stderr" }, 100 + i, &format!("{i}\n"));
        }
        f.write_all(lines.as_bytes()).unwrap();
        let (_tx, rx) = watch::channel(false);
        let q = LogQuery { tail: Some(3), ..all() };
        let got = tokio::time::timeout(Duration::from_secs(20), collect(spawn_reader(p.clone(), q, rx.clone())))
            .await
            .expect("tail answered without reading the whole log");
        assert_eq!(got, ["2997\n", "2998\n", "2999\n"]);
        let q = LogQuery { tail: Some(2), stderr: false, ..all() };
        assert_eq!(collect(spawn_reader(p.clone(), q, rx.clone())).await, ["2996\n", "2998\n"]);
        let q = LogQuery { tail: Some(0), follow: false, ..all() };
        assert!(collect(spawn_reader(p, q, rx)).await.is_empty());
    }

    /// Rotated files (`.2` oldest, then `.1`, then the live one) read in
    /// order, `--tail` counted across them.
    #[tokio::test]
    async fn rotated_files_are_read_oldest_first_and_tail_spans_them() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c-json.log");
        std::fs::write(rotated(&p, 2), line("stdout", 100, "a\n") + &line("stdout", 101, "b\n")).unwrap();
        std::fs::write(rotated(&p, 1), line("stdout", 102, "c\n")).unwrap();
        std::fs::write(&p, line("stdout", 103, "d\n")).unwrap();
        let (_tx, rx) = watch::channel(false);
        assert_eq!(collect(spawn_reader(p.clone(), all(), rx.clone())).await, ["a\n", "b\n", "c\n", "d\n"]);
        let q = LogQuery { tail: Some(3), ..all() };
        assert_eq!(collect(spawn_reader(p.clone(), q, rx.clone())).await, ["b\n", "c\n", "d\n"]);
        let q = LogQuery { tail: Some(9), ..all() };
        assert_eq!(collect(spawn_reader(p.clone(), q, rx)).await.len(), 4);
    }

    /// Following a log that rotates: the rest of the old file, then the new.
    #[tokio::test]
    async fn follow_continues_across_a_rotation() {
        let (_dir, p, running_tx, rx, mut f) = following_one().await;
        f.write_all(line("stdout", 101, "two\n").as_bytes()).unwrap();
        std::fs::rename(&p, rotated(&p, 1)).unwrap();
        std::fs::write(&p, line("stdout", 102, "three\n")).unwrap();
        running_tx.send_replace(false);
        let rest = tokio::time::timeout(Duration::from_secs(5), collect(rx)).await.unwrap();
        assert_eq!(rest, ["two\n", "three\n"]);
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
