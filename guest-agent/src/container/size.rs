//! How much a container has written: the size of its writable layer (the
//! overlay's upper dir under `<root>/<id>/rw/upper`), for `docker ps -s`
//! and `inspect --size`.
//!
//! Reads only; must never follow a symlink out of the layer.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// Bytes in regular files (each hard-linked inode once) and symlinks under
/// the container's upper dir; 0 when it has none yet.
pub fn writable_layer(root: &Path, id: &str) -> u64 {
    let upper = super::record::dir(root, id).join("rw").join("upper");
    let mut seen = std::collections::HashSet::new();
    let mut total = 0u64;
    let mut stack = vec![upper];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for e in entries.flatten() {
            let Ok(m) = e.path().symlink_metadata() else { continue };
            if m.is_dir() {
                stack.push(e.path());
            } else if (m.is_file() || m.is_symlink()) && (m.nlink() <= 1 || seen.insert((m.dev(), m.ino()))) {
                total = total.saturating_add(m.len());
            }
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_files_once_and_stays_inside() {
        let root = tempfile::tempdir().expect("tempdir");
        assert_eq!(writable_layer(root.path(), "c1"), 0, "no layer yet");
        let upper = super::super::record::dir(root.path(), "c1").join("rw/upper");
        std::fs::create_dir_all(upper.join("etc/sub")).expect("dirs");
        std::fs::write(upper.join("etc/a"), vec![0u8; 1000]).expect("a");
        std::fs::write(upper.join("etc/sub/b"), vec![0u8; 24]).expect("b");
        std::fs::hard_link(upper.join("etc/a"), upper.join("a-again")).expect("link");
        std::os::unix::fs::symlink("/usr", upper.join("out")).expect("symlink");
        assert_eq!(writable_layer(root.path(), "c1"), 1000 + 24 + 4, "hard link once; the symlink's own size");
    }
}
