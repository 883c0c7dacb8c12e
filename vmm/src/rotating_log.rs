//! A log file with a size cap: once a write would take it past the cap it
//! is renamed to `<file>.1` (replacing the one before) and a new file is
//! started, so a machine's console.log and machine.log hold at most twice
//! the cap whatever the guest prints or provokes.
//!
//! Owns only the file and its one predecessor; it must never lose a write
//! for want of rotating (a failed rename keeps writing to the old file).

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// What a machine keeps of each log before rotating.
pub const DEFAULT_CAP: u64 = 16 << 20;

pub struct RotatingLog {
    path: PathBuf,
    file: File,
    size: u64,
    cap: u64,
}

fn open(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).mode(0o600).open(path)
}

/// `<path>.1`.
pub fn previous(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".1");
    PathBuf::from(s)
}

impl RotatingLog {
    pub fn open(path: &Path, cap: u64) -> io::Result<Self> {
        let file = open(path)?;
        let size = file.metadata()?.len();
        Ok(RotatingLog { path: path.to_path_buf(), file, size, cap })
    }

    fn rotate(&mut self) -> io::Result<()> {
        std::fs::rename(&self.path, previous(&self.path))?;
        self.file = open(&self.path)?;
        self.size = 0;
        Ok(())
    }
}

impl Write for RotatingLog {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.size > 0 && self.size + buf.len() as u64 > self.cap && self.rotate().is_err() {
            // Keep writing where we are; the next write tries again.
        }
        let n = self.file.write(buf)?;
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_past_its_cap_rotates_to_one_predecessor() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("console.log");
        let mut log = RotatingLog::open(&p, 1000).unwrap();
        for i in 0..10_000 {
            writeln!(log, "line {i}").unwrap();
        }
        let live = std::fs::read_to_string(&p).unwrap();
        let old = std::fs::read_to_string(previous(&p)).unwrap();
        assert!(live.len() <= 1000 && old.len() <= 1000, "{} {}", live.len(), old.len());
        assert!(live.ends_with("line 9999\n"));
        assert!(!dir.path().join("console.log.2").exists());
        // Reopened: the size already written counts.
        drop(log);
        let mut log = RotatingLog::open(&p, 1000).unwrap();
        log.write_all(&[b'x'; 990]).unwrap();
        assert!(std::fs::metadata(&p).unwrap().len() <= 1000);
    }
}
