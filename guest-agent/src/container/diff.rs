//! `docker diff`: what a container changed against its image, read from
//! its writable layer (the overlay's upper dir, `<root>/<id>/rw/upper`).
//!
//! Owns that reading only; it must never write to the layer or follow a
//! symlink out of it. An entry in the upper dir is Deleted when it is an
//! overlayfs whiteout (a 0/0 character device), Modified when the same
//! path exists in one of the image's layers, and Added otherwise; the
//! contents of an added or opaque directory are listed under it, as
//! Docker does.

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

/// Docker's `Kind`: 0 modified, 1 added, 2 deleted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Modified = 0,
    Added = 1,
    Deleted = 2,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// Absolute in the container (`/etc/hosts`).
    pub path: String,
    pub kind: Kind,
}

/// The changes in `upper` against `layers` (any order), sorted by path.
pub fn changes(upper: &Path, layers: &[PathBuf]) -> Vec<Change> {
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(upper.join(&rel)) else { continue };
        for e in entries.flatten() {
            let rel_path = rel.join(e.file_name());
            let Ok(m) = e.path().symlink_metadata() else { continue };
            let in_image = layers.iter().any(|l| l.join(&rel_path).symlink_metadata().is_ok());
            let kind = if m.file_type().is_char_device() && m.rdev() == 0 {
                Kind::Deleted
            } else if in_image {
                Kind::Modified
            } else {
                Kind::Added
            };
            out.push(Change { path: format!("/{}", rel_path.display()), kind });
            if m.is_dir() {
                stack.push(rel_path);
            }
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn added_modified_and_deleted_as_docker_lists_them() {
        let t = tempfile::tempdir().expect("tempdir");
        let (layer, upper) = (t.path().join("l"), t.path().join("u"));
        std::fs::create_dir_all(layer.join("etc")).expect("layer");
        std::fs::write(layer.join("etc/passwd"), "root").expect("passwd");
        std::fs::write(layer.join("etc/gone"), "x").expect("gone");
        std::fs::create_dir_all(upper.join("etc")).expect("upper");
        std::fs::create_dir_all(upper.join("new/sub")).expect("new");
        std::fs::write(upper.join("etc/passwd"), "root2").expect("modified");
        std::fs::write(upper.join("new/sub/f"), "f").expect("added");
        let whiteout = upper.join("etc/gone");
        nix::sys::stat::mknod(&whiteout, nix::sys::stat::SFlag::S_IFCHR, nix::sys::stat::Mode::empty(), 0)
            .expect("whiteout (needs root)");
        let got: Vec<(String, Kind)> = changes(&upper, &[layer]).into_iter().map(|c| (c.path, c.kind)).collect();
        let want = [
            ("/etc", Kind::Modified),
            ("/etc/gone", Kind::Deleted),
            ("/etc/passwd", Kind::Modified),
            ("/new", Kind::Added),
            ("/new/sub", Kind::Added),
            ("/new/sub/f", Kind::Added),
        ];
        assert_eq!(got, want.iter().map(|(p, k)| (p.to_string(), *k)).collect::<Vec<_>>());
        assert!(changes(&t.path().join("missing"), &[]).is_empty(), "no layer yet: no changes");
    }
}
