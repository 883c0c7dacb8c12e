//! The confined module against planted trees: each primitive with
//! symlinks (absolute, relative, climbing past the root with `..`, loops,
//! as the last component, magic links), the tar extraction and creation,
//! the stat header, and all of it again with openat2 made unavailable
//! (a seccomp filter in a child test process) so pathrs's O_PATH walk is
//! what runs.

mod archive;
mod copy;
mod fallback;
mod primitives;

use std::path::{Path, PathBuf};

use super::*;

/// A root below a host directory that also holds a canary, planted with
/// every kind of symlink a container could leave.
pub(super) struct Bed {
    pub host: tempfile::TempDir,
    pub root: PathBuf,
}

impl Bed {
    pub fn new() -> Bed {
        let host = tempfile::tempdir().unwrap();
        let root = host.path().join("root");
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::create_dir_all(root.join("tmp")).unwrap();
        std::fs::write(root.join("etc/passwd"), "inside").unwrap();
        std::fs::write(host.path().join("canary"), "host").unwrap();
        let link = |target: &str, name: &str| std::os::unix::fs::symlink(target, root.join(name)).unwrap();
        link("/etc", "abs");
        link("../../../../etc", "up");
        link("loop", "loop");
        link("/etc/passwd", "last");
        link("/proc/self/root", "magic");
        // The host directory by its host path: inside the root that names
        // nothing (or the root's own copy), never the host's.
        link(host.path().to_str().unwrap(), "hostdir");
        Bed { host, root }
    }

    pub fn open(&self) -> Root {
        Root::open(&self.root).unwrap()
    }

    /// The canary beside the root is as it was and nothing new appeared
    /// beside the root.
    pub fn assert_host_untouched(&self) {
        assert_eq!(std::fs::read_to_string(self.host.path().join("canary")).unwrap(), "host");
        let mut names: Vec<_> = std::fs::read_dir(self.host.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["canary", "root"], "something was written beside the root");
    }
}

/// The container path `p` holds, resolved: `/etc/passwd` for example.
pub(super) fn where_is(root: &Root, p: &str) -> Result<PathBuf, ConfinedError> {
    root.resolve(Path::new(p)).and_then(|n| root.container_path(&n))
}

/// The same confinement checks, run in this process and in one without
/// openat2 ([`fallback`]).
pub(super) fn check_resolution(bed: &Bed) {
    let root = bed.open();
    assert_eq!(where_is(&root, "/abs/passwd").unwrap(), Path::new("/etc/passwd"), "absolute target is in-root");
    assert_eq!(where_is(&root, "/up/passwd").unwrap(), Path::new("/etc/passwd"), "'..' stops at the root");
    assert_eq!(where_is(&root, "/../../../etc").unwrap(), Path::new("/etc"));
    assert_eq!(where_is(&root, "/last").unwrap(), Path::new("/etc/passwd"));
    let link = root.resolve_nofollow(Path::new("/last")).unwrap();
    assert_eq!(link.stat().unwrap().kind, Kind::Symlink, "the last component held as itself");
    assert_eq!(link.readlink().unwrap(), Path::new("/etc/passwd"));
    let e = root.resolve(Path::new("/loop")).unwrap_err();
    assert_eq!(e.errno(), Some(libc::ELOOP), "{e}");
    // /proc/self/root inside the root is not the host's procfs: it does
    // not exist here (the magic-link case proper is in `fallback`).
    assert!(root.resolve(Path::new("/magic")).unwrap_err().is_not_found());
    // The host path of the host directory does not lead to it.
    let e = root.resolve(Path::new("/hostdir/canary")).unwrap_err();
    assert!(e.is_not_found(), "{e}");

    // mkdir -p through an absolute symlink lands in the root.
    let d = root.mkdir_all(Path::new("/abs/made/deeper"), 0o755, Some((1234, 1234))).unwrap();
    assert!(d.stat_self().unwrap().is_dir());
    assert!(bed.root.join("etc/made/deeper").is_dir());
    if nix::unistd::geteuid().is_root() {
        use std::os::unix::fs::MetadataExt;
        assert_eq!(std::fs::metadata(bed.root.join("etc/made")).unwrap().uid(), 1234, "created ones get the owner");
        assert_eq!(std::fs::metadata(bed.root.join("etc")).unwrap().uid(), 0, "existing ones keep theirs");
    }
    let e = root.mkdir_all(Path::new("/etc/passwd/x"), 0o755, None).unwrap_err();
    assert_eq!(e.errno(), Some(libc::ENOTDIR), "{e}");
    // Through the host path, which dangles inside the root: made inside,
    // under the same names, as Docker does.
    root.mkdir_all(Path::new("/hostdir/x"), 0o755, None).unwrap();
    assert!(bed.root.join(bed.host.path().strip_prefix("/").unwrap()).join("x").is_dir());
    std::os::unix::fs::symlink("self", bed.root.join("self")).unwrap();
    let e = root.mkdir_all(Path::new("/self/x"), 0o755, None).unwrap_err();
    assert_eq!(e.errno(), Some(libc::ELOOP), "{e}");
    bed.assert_host_untouched();
}
