//! Files that must survive a crash of the machine: the engine's identity,
//! container and network records, the image store's index. A write is
//! staged beside its target, synced, renamed over it, and the directory
//! synced: a crash leaves the old content or the new one, never half.
//!
//! Owns durability only; it must never decide what is written where (its
//! callers do). State that lives only as long as the machine uses the
//! cheaper `runtime::state_file` instead.

use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

static UNIQUE: AtomicU64 = AtomicU64::new(0);

/// A name no other writer in this process (or a previous one: the pid
/// differs) will pick, so concurrent writers never share a staging file.
pub fn unique_name(prefix: &str) -> String {
    format!("{prefix}-{}-{}", std::process::id(), UNIQUE.fetch_add(1, Ordering::Relaxed))
}

/// Make a rename or a new entry in `dir` durable.
pub fn fsync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// Temp file beside `path`, fsync, rename, fsync the directory. On an
/// error the temp file is removed and `path` keeps its old content.
pub fn write_atomic(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(".{}", unique_name("tmp")));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)?;
        fsync_dir(dir)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<std::ffi::OsString> {
        std::fs::read_dir(dir).unwrap().flatten().map(|e| e.file_name()).collect()
    }

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("state.json");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        assert_eq!(names(dir.path()), vec![std::ffi::OsString::from("state.json")]);
    }

    #[test]
    fn a_failed_write_keeps_what_was_there_and_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        // A non-empty directory where the file would go: the rename fails.
        let target = dir.path().join("occupied");
        std::fs::create_dir(&target).unwrap();
        std::fs::write(target.join("x"), b"kept").unwrap();
        assert!(write_atomic(&target, b"new").is_err());
        assert_eq!(std::fs::read(target.join("x")).unwrap(), b"kept");
        assert_eq!(names(dir.path()), vec![std::ffi::OsString::from("occupied")]);
    }

    #[test]
    fn unique_names_differ() {
        assert_ne!(unique_name("tmp"), unique_name("tmp"));
    }
}
