//! `docker diff` and what `docker commit` stores: what a container changed
//! against its image, read from its writable layer (the overlay's upper
//! dir, `<root>/<id>/rw/upper`), as moby's `archive.OverlayChanges` reads
//! an overlay2 layer.
//!
//! An entry in the upper dir is Deleted when it is an overlayfs whiteout (a
//! 0/0 character device) or an opaque directory, Modified when the same
//! path exists in one of the image's layers, and Added otherwise; a
//! directory whose size, mode and mtime equal the image's is no change
//! itself (it is in the upper dir only because something below it is),
//! but the parent of an added or deleted entry always is. What the runtime
//! made for the container's mounts (empty `/etc/hosts`, `/etc/resolv.conf`,
//! `/etc/hostname`, `/proc`, `/sys` …) is left out: Docker keeps those in
//! a separate init layer, so they never show up in its diff.
//!
//! Owns that reading only. Every entry is reached through a held directory
//! descriptor (`crate::confined`), never by a path string: a container
//! that swaps a directory for a symlink meanwhile is never followed out of
//! its layer. It must never write to the layer.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use crate::confined::{Dir, Kind as NodeKind, Stat, get_xattr};

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

/// Files of Docker's init layer: the runtime's empty mount points.
const INIT_FILES: &[&str] = &["/.dockerenv", "/etc/resolv.conf", "/etc/hosts", "/etc/hostname", "/dev/console"];
/// Directories of Docker's init layer, when empty.
const INIT_DIRS: &[&str] = &["/dev/pts", "/dev/shm", "/proc", "/sys"];
/// Directories that hold init-layer entries: creating a mount point in one
/// changes its mtime, which is no change of the container's.
const INIT_PARENTS: &[&str] = &["/dev", "/etc"];

/// The changes in `upper` against `layers` (LOWEST first, as the runtime
/// stacks them), in Docker's order: a walk of the upper dir, each
/// directory's names sorted, a parent before its children.
pub fn changes(upper: &Path, layers: &[PathBuf]) -> Vec<Change> {
    let Ok(top) = Dir::open_own(upper) else { return Vec::new() };
    // Top-most first: Docker compares with the first layer that has a path.
    let lowers: Vec<Option<Dir>> = layers.iter().rev().map(|l| Dir::open_own(l).ok()).collect();
    let mut walk = Walk { out: Vec::new(), changed_dirs: HashSet::new() };
    walk.dir(&top, &lowers, "");
    walk.out
}

struct Walk {
    out: Vec<Change>,
    /// Directories already reported (moby's `changedDirs`).
    changed_dirs: HashSet<String>,
}

impl Walk {
    fn dir(&mut self, upper: &Dir, lowers: &[Option<Dir>], prefix: &str) {
        let Ok(mut names) = upper.entries() else { return };
        names.sort();
        for name in names {
            let path = format!("{prefix}/{}", name.to_string_lossy());
            let Ok(Some(st)) = upper.stat(&name) else { continue };
            let sub = match st.kind {
                // Gone or swapped for a non-directory since the stat: skip.
                NodeKind::Dir => match upper.dir(&name) {
                    Ok(d) => Some(d),
                    Err(_) => continue,
                },
                _ => None,
            };
            if is_mount_point(&path, &st, sub.as_ref()) {
                continue;
            }
            let below: Option<Stat> = lowers.iter().flatten().find_map(|l| l.stat(&name).ok().flatten());
            let kind = if is_whiteout(&st) || sub.as_ref().is_some_and(is_opaque) {
                Some(Kind::Deleted)
            } else {
                match below {
                    None => Some(Kind::Added),
                    Some(b) if st.is_dir() && b.is_dir() && same_dir(&path, &st, &b) => None,
                    Some(_) => Some(Kind::Modified),
                }
            };
            if let Some(kind) = kind {
                self.record(&path, prefix, kind, st.is_dir());
            }
            if let Some(sub) = sub {
                let sub_lowers: Vec<Option<Dir>> =
                    lowers.iter().map(|l| l.as_ref().and_then(|l| l.dir(&name).ok())).collect();
                self.dir(&sub, &sub_lowers, &path);
            }
        }
    }

    fn record(&mut self, path: &str, parent: &str, kind: Kind, is_dir: bool) {
        if is_dir {
            self.changed_dirs.insert(path.to_string());
        }
        // An added or deleted entry changes its directory, whatever the
        // directory's own metadata says.
        if matches!(kind, Kind::Added | Kind::Deleted) && !parent.is_empty() && self.changed_dirs.insert(parent.into())
        {
            self.out.push(Change { path: parent.to_string(), kind: Kind::Modified });
        }
        self.out.push(Change { path: path.to_string(), kind });
    }
}

fn is_whiteout(st: &Stat) -> bool {
    st.kind == NodeKind::Char && st.rdev == 0
}

/// `trusted.overlay.opaque=y`: the directory hides everything below it.
pub fn is_opaque(d: &Dir) -> bool {
    use std::os::fd::AsFd;
    get_xattr(d.as_fd(), "trusted.overlay.opaque").ok().flatten().is_some_and(|v| v == b"y")
}

/// moby's test for a directory that only holds changes: same size, mode
/// and mtime (a zero nanosecond part on either side matches any). Where
/// the runtime makes mount points, the mtime is the runtime's, not the
/// container's: only the mode counts there.
fn same_dir(path: &str, upper: &Stat, lower: &Stat) -> bool {
    if INIT_PARENTS.contains(&path) {
        return upper.perm == lower.perm;
    }
    let same_time = upper.mtime == lower.mtime
        && (upper.mtime_nsec == lower.mtime_nsec || upper.mtime_nsec == 0 || lower.mtime_nsec == 0);
    upper.size == lower.size && upper.perm == lower.perm && same_time
}

/// What the runtime made for a mount and Docker's init layer holds: an
/// empty file or directory at one of those paths, or a directory the image
/// lacked that holds nothing else.
fn is_mount_point(path: &str, st: &Stat, dir: Option<&Dir>) -> bool {
    match (st.kind, dir) {
        (NodeKind::File, _) => INIT_FILES.contains(&path) && st.size == 0,
        (NodeKind::Dir, Some(d)) if INIT_DIRS.contains(&path) || INIT_PARENTS.contains(&path) => {
            d.entries().is_ok_and(|names| {
                names.iter().all(|n| {
                    let child = format!("{path}/{}", n.to_string_lossy());
                    let st = d.stat(n).ok().flatten();
                    let sub = st.filter(Stat::is_dir).and_then(|_| d.dir(n).ok());
                    st.is_some_and(|st| is_mount_point(&child, &st, sub.as_ref()))
                })
            })
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mknod_whiteout(p: &Path) {
        nix::sys::stat::mknod(p, nix::sys::stat::SFlag::S_IFCHR, nix::sys::stat::Mode::empty(), 0)
            .expect("whiteout (needs root)");
    }

    fn got(upper: &Path, layers: &[PathBuf]) -> Vec<(String, Kind)> {
        changes(upper, layers).into_iter().map(|c| (c.path, c.kind)).collect()
    }

    fn want(v: &[(&str, Kind)]) -> Vec<(String, Kind)> {
        v.iter().map(|(p, k)| (p.to_string(), *k)).collect()
    }

    /// Same mtime on two directories (as overlayfs's copy-up keeps it).
    fn same_times(a: &Path, b: &Path) {
        let t = std::fs::metadata(a).expect("a").modified().expect("mtime");
        std::fs::File::open(b).expect("b").set_modified(t).expect("set mtime");
    }

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
        mknod_whiteout(&upper.join("etc/gone"));
        let want = want(&[
            ("/etc", Kind::Modified),
            ("/etc/gone", Kind::Deleted),
            ("/etc/passwd", Kind::Modified),
            ("/new", Kind::Added),
            ("/new/sub", Kind::Added),
            ("/new/sub/f", Kind::Added),
        ]);
        assert_eq!(got(&upper, std::slice::from_ref(&layer)), want);
        assert!(changes(&t.path().join("missing"), &[]).is_empty(), "no layer yet: no changes");
    }

    /// `docker run busybox touch /test` where the image has no /etc/hosts:
    /// the runtime's mount points are no change, as in Docker's diff.
    #[test]
    fn the_runtimes_mount_points_are_not_changes() {
        let t = tempfile::tempdir().expect("tempdir");
        let (layer, upper) = (t.path().join("l"), t.path().join("u"));
        std::fs::create_dir_all(layer.join("etc")).expect("layer etc");
        std::fs::create_dir_all(upper.join("etc")).expect("upper etc");
        for f in ["etc/hosts", "etc/hostname", "etc/resolv.conf", ".dockerenv"] {
            std::fs::write(upper.join(f), "").expect("mount point");
        }
        std::fs::create_dir_all(upper.join("dev/pts")).expect("dev/pts, the image has no /dev");
        std::fs::create_dir_all(upper.join("proc")).expect("proc");
        std::fs::write(upper.join("test"), "").expect("the container's file");
        assert_eq!(got(&upper, std::slice::from_ref(&layer)), want(&[("/test", Kind::Added)]));
        // A mount point with content is the container's doing.
        std::fs::write(upper.join("etc/hostname"), "mine").expect("written");
        assert_eq!(
            got(&upper, std::slice::from_ref(&layer)),
            want(&[("/etc", Kind::Modified), ("/etc/hostname", Kind::Added), ("/test", Kind::Added)])
        );
    }

    /// A directory copied up only because a file below it changed is no
    /// change itself; an opaque one is Docker's "deleted".
    #[test]
    fn unchanged_and_opaque_directories() {
        let t = tempfile::tempdir().expect("tempdir");
        let (layer, upper) = (t.path().join("l"), t.path().join("u"));
        for d in ["usr/lib", "var/cache"] {
            std::fs::create_dir_all(layer.join(d)).expect("layer dir");
            std::fs::create_dir_all(upper.join(d)).expect("upper dir");
        }
        std::fs::write(layer.join("usr/lib/libc.so"), "old").expect("lib");
        std::fs::write(upper.join("usr/lib/libc.so"), "new").expect("lib");
        for d in ["usr", "usr/lib"] {
            same_times(&layer.join(d), &upper.join(d));
        }
        same_times(&layer.join("var"), &upper.join("var"));
        crate::confined::set_xattr(
            std::os::fd::AsFd::as_fd(&Dir::open_own(&upper.join("var/cache")).expect("dir")),
            "trusted.overlay.opaque",
            b"y",
        )
        .expect("opaque xattr (needs root)");
        assert_eq!(
            got(&upper, &[layer]),
            want(&[("/usr/lib/libc.so", Kind::Modified), ("/var", Kind::Modified), ("/var/cache", Kind::Deleted)])
        );
    }
}
