//! The build cache: entries keyed by a hash of what they were made from, and
//! published atomically so that a killed build never leaves an entry that
//! looks complete.
//!
//! An entry is a directory `<cache>/<kind>/<key>`. It is built under a
//! temporary name beside it and renamed into place when whole, so existence
//! is completeness. Nothing here ever modifies a published entry.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::{IoContext, Result};
use crate::paths;

/// A cache key under construction: every input is fed with a label so that
/// moving bytes from one input to another changes the key.
pub struct Key(Sha256);

impl Key {
    pub fn new(kind: &str) -> Self {
        let mut h = Sha256::new();
        h.update(kind.as_bytes());
        Key(h)
    }

    pub fn bytes(mut self, label: &str, data: &[u8]) -> Self {
        self.0.update((label.len() as u64).to_le_bytes());
        self.0.update(label.as_bytes());
        self.0.update((data.len() as u64).to_le_bytes());
        self.0.update(data);
        self
    }

    pub fn file(self, label: &str, path: &Path) -> Result<Self> {
        let mut data = Vec::new();
        fs::File::open(path).and_then(|mut f| f.read_to_end(&mut data)).at(path)?;
        Ok(self.bytes(label, &data))
    }

    /// 16 hex digits: enough to never collide among a developer's entries,
    /// short enough to read in a path.
    pub fn finish(self) -> String {
        hex::encode(&self.0.finalize()[..8])
    }
}

/// Returns `<cache>/<kind>/<key>`, building it with `build` if it is not
/// there yet. `build` fills the directory it is given.
pub fn entry(kind: &str, key: &str, build: impl FnOnce(&Path) -> Result<()>) -> Result<PathBuf> {
    let parent = paths::cache_dir().join(kind);
    let done = parent.join(key);
    if done.is_dir() {
        return Ok(done);
    }
    fs::create_dir_all(&parent).at(&parent)?;
    remove_stale_partials(&parent, key);
    let partial = parent.join(format!(".{key}.partial-{}", std::process::id()));
    fs::create_dir_all(&partial).at(&partial)?;
    if let Err(e) = build(&partial) {
        let _ = fs::remove_dir_all(&partial);
        return Err(e);
    }
    fs::rename(&partial, &done).at(&done)?;
    Ok(done)
}

/// Partial builds left by a killed run of the same key.
fn remove_stale_partials(parent: &Path, key: &str) {
    let prefix = format!(".{key}.partial-");
    let Ok(entries) = fs::read_dir(parent) else { return };
    for e in entries.flatten() {
        if e.file_name().to_string_lossy().starts_with(&prefix) {
            let _ = fs::remove_dir_all(e.path());
        }
    }
}

/// Writes `data` to `path` atomically: temp file, fsync, rename.
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).at(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir).at(dir)?;
    tmp.write_all(data).at(path)?;
    tmp.as_file().sync_all().at(path)?;
    tmp.persist(path).map_err(|e| e.error).at(path)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_depend_on_labels_and_bytes() {
        let a = Key::new("k").bytes("x", b"ab").bytes("y", b"c").finish();
        let b = Key::new("k").bytes("x", b"a").bytes("y", b"bc").finish();
        let c = Key::new("k").bytes("x", b"ab").bytes("y", b"c").finish();
        assert_ne!(a, b);
        assert_eq!(a, c);
        assert_eq!(a.len(), 16);
    }

    #[test]
    fn failed_build_leaves_no_entry() {
        let dir = tempfile::tempdir().unwrap();
        temp_env(dir.path(), || {
            let r = entry("t", "abc", |p| {
                fs::write(p.join("half"), b"x").unwrap();
                Err(crate::error::Error::Invalid("boom".into()))
            });
            assert!(r.is_err());
            assert!(!dir.path().join("t/abc").exists());
            let leftovers: Vec<_> = fs::read_dir(dir.path().join("t")).unwrap().collect();
            assert!(leftovers.is_empty());

            let p = entry("t", "abc", |p| fs::write(p.join("whole"), b"y").at(p)).unwrap();
            assert!(p.join("whole").exists());
            // A second call does not rebuild.
            let p2 = entry("t", "abc", |_| panic!("rebuilt")).unwrap();
            assert_eq!(p, p2);
        });
    }

    fn temp_env(dir: &Path, f: impl FnOnce()) {
        static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _g = LOCK.lock().unwrap();
        // SAFETY: serialised by LOCK; no other thread of this test binary
        // reads BERTH_CACHE_DIR while it is set.
        unsafe { std::env::set_var("BERTH_CACHE_DIR", dir) };
        f();
        // SAFETY: as above.
        unsafe { std::env::remove_var("BERTH_CACHE_DIR") };
    }

    #[test]
    fn atomic_write_replaces_whole_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
    }
}
