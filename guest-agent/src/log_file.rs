//! The engine's own log as a file that cannot grow without bound: written
//! through `tracing`, rotated by size (`engine.log` → `engine.log.1` → …),
//! a fixed number of old files kept. Inside a machine it lives on the data
//! disk, so it survives the VM and `berth machine logs --engine` reads it.
//!
//! Owns the file, its rotation and reading its tail; it must never block
//! the engine on a full disk (a failed write drops the line, not the
//! engine) nor keep more than `keep` old files.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// A size-rotated log file, shareable as a `tracing` writer.
#[derive(Clone)]
pub struct RotatingFile {
    inner: Arc<Mutex<Inner>>,
}

struct Inner {
    path: PathBuf,
    file: Option<File>,
    written: u64,
    max_bytes: u64,
    keep: usize,
}

impl RotatingFile {
    /// Opens (appends to) `path`, rotating once it holds `max_bytes`;
    /// `keep` old files stay beside it.
    pub fn open(path: &Path, max_bytes: u64, keep: usize) -> io::Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let file = open_append(path)?;
        let written = file.metadata()?.len();
        let inner = Inner { path: path.to_path_buf(), file: Some(file), written, max_bytes: max_bytes.max(1), keep };
        Ok(RotatingFile { inner: Arc::new(Mutex::new(inner)) })
    }
}

fn open_append(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new().create(true).append(true).mode(0o600).open(path)
}

/// `engine.log` → `engine.log.N`.
fn numbered(path: &Path, n: usize) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(format!(".{n}"));
    PathBuf::from(s)
}

impl Inner {
    fn rotate(&mut self) -> io::Result<()> {
        self.file = None;
        if self.keep == 0 {
            std::fs::remove_file(&self.path)
                .or_else(|e| if e.kind() == io::ErrorKind::NotFound { Ok(()) } else { Err(e) })?;
        } else {
            for n in (1..self.keep).rev() {
                let from = numbered(&self.path, n);
                if from.exists() {
                    std::fs::rename(&from, numbered(&self.path, n + 1))?;
                }
            }
            std::fs::rename(&self.path, numbered(&self.path, 1))?;
        }
        self.file = Some(open_append(&self.path)?);
        self.written = 0;
        Ok(())
    }
}

impl Write for RotatingFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut g = crate::unpoisoned::lock(&self.inner);
        if g.written > 0 && g.written + buf.len() as u64 > g.max_bytes {
            // A failed rotation keeps writing where it can: a log must never
            // stop the engine.
            let _ = g.rotate();
        }
        let Some(f) = g.file.as_mut() else {
            return Ok(buf.len());
        };
        match f.write(buf) {
            Ok(n) => {
                g.written += n as u64;
                Ok(n)
            }
            // Disk full or gone: the line is dropped, the engine goes on.
            Err(_) => Ok(buf.len()),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for RotatingFile {
    type Writer = RotatingFile;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// The last `max_bytes` of the log (the current file, preceded by the
/// newest rotated one when the current is shorter), starting at a line.
pub fn tail(path: &Path, max_bytes: u64) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    let older = numbered(path, 1);
    let current_len = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    if current_len < max_bytes && older.exists() {
        out.extend(read_last(&older, max_bytes - current_len)?);
    }
    if current_len > 0 {
        out.extend(read_last(path, max_bytes)?);
    }
    // Drop a partial first line.
    if out.len() as u64 >= max_bytes
        && let Some(nl) = out.iter().position(|b| *b == b'\n')
    {
        out.drain(..=nl);
    }
    Ok(out)
}

fn read_last(path: &Path, max_bytes: u64) -> io::Result<Vec<u8>> {
    let mut f = File::open(path)?;
    let len = f.metadata()?.len();
    f.seek(SeekFrom::Start(len.saturating_sub(max_bytes)))?;
    let mut buf = Vec::new();
    f.take(max_bytes).read_to_end(&mut buf)?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotates_by_size_and_keeps_a_fixed_number_of_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log/engine.log");
        let mut log = RotatingFile::open(&path, 100, 2).unwrap();
        // One write per line, as tracing's formatter writes one per event.
        for i in 0..50 {
            log.write_all(format!("line {i:03} ........\n").as_bytes()).unwrap();
        }
        let names: Vec<String> = {
            let mut v: Vec<String> = std::fs::read_dir(path.parent().unwrap())
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            v.sort();
            v
        };
        assert_eq!(names, ["engine.log", "engine.log.1", "engine.log.2"]);
        for p in [path.clone(), numbered(&path, 1), numbered(&path, 2)] {
            assert!(std::fs::metadata(&p).unwrap().len() <= 100, "{}", p.display());
        }
        let text = String::from_utf8(std::fs::read(&path).unwrap()).unwrap();
        assert!(text.ends_with("line 049 ........\n"), "{text}");
        // Reopening appends, as after an engine restart.
        drop(log);
        let mut log = RotatingFile::open(&path, 100, 2).unwrap();
        log.write_all(b"after restart\n").unwrap();
        let t = String::from_utf8(tail(&path, 60).unwrap()).unwrap();
        assert!(t.ends_with("after restart\n"), "{t}");
        assert!(t.starts_with("line ") || t.starts_with("after"), "the tail starts at a line: {t:?}");
    }

    #[test]
    fn an_unwritable_log_drops_lines_instead_of_failing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("engine.log");
        let mut log = RotatingFile::open(&path, 10, 1).unwrap();
        std::fs::remove_dir_all(dir.path()).unwrap();
        // Rotation fails (the directory is gone); the write still "succeeds".
        assert_eq!(log.write(b"0123456789abc\n").unwrap(), 14);
        assert_eq!(log.write(b"more\n").unwrap(), 5);
    }
}
