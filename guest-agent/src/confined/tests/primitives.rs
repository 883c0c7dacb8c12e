//! Each primitive of `Root`, `Dir` and the fd metadata calls against the
//! planted tree.

use std::ffi::OsStr;
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::*;

#[test]
fn resolution_stays_in_the_root() {
    check_resolution(&Bed::new());
}

#[test]
fn dir_operations_never_follow_the_last_component() {
    let bed = Bed::new();
    let root = bed.open();
    let top = root.dir(Path::new("/")).unwrap();
    // The symlinks are seen as symlinks, not as what they name.
    assert_eq!(top.stat(OsStr::new("abs")).unwrap().unwrap().kind, Kind::Symlink);
    assert!(top.stat(OsStr::new("nothing")).unwrap().is_none());
    assert_eq!(top.dir(OsStr::new("abs")).unwrap_err().raw_os_error(), Some(libc::ENOTDIR));
    assert!(top.open_read(OsStr::new("last")).is_err(), "O_NOFOLLOW refuses a final symlink");
    let e = top.create_file(OsStr::new("last"), 0o644).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EEXIST), "create never writes through a planted link");
    assert_eq!(std::fs::read_to_string(bed.root.join("etc/passwd")).unwrap(), "inside");
    // Names are single components.
    for bad in ["..", ".", "a/b", ""] {
        assert!(top.stat(OsStr::new(bad)).is_err(), "{bad:?} accepted");
    }
    // Metadata through a symlink's own fd changes the link, not its target.
    let link = top.node(OsStr::new("last")).unwrap();
    link.chmod(0o600).unwrap(); // a no-op on a symlink
    link.set_times(1_000_000, 0).unwrap();
    assert_eq!(std::fs::symlink_metadata(bed.root.join("last")).unwrap().mtime(), 1_000_000);
    assert_ne!(std::fs::metadata(bed.root.join("etc/passwd")).unwrap().mtime(), 1_000_000);
    assert_eq!(std::fs::metadata(bed.root.join("etc/passwd")).unwrap().mode() & 0o777, 0o644);
    if nix::unistd::geteuid().is_root() {
        link.chown(4321, 4321).unwrap();
        assert_eq!(std::fs::symlink_metadata(bed.root.join("last")).unwrap().uid(), 4321);
        assert_eq!(std::fs::metadata(bed.root.join("etc/passwd")).unwrap().uid(), 0);
    }
    // create, symlink, hard link, mknod, unlink and remove_all, all at names.
    let etc = root.dir(Path::new("/abs")).unwrap();
    let mut f = etc.create_file(OsStr::new("new"), 0o600).unwrap();
    std::io::Write::write_all(&mut f, b"n").unwrap();
    chmod(f.as_fd(), 0o4755).unwrap();
    assert_eq!(std::fs::metadata(bed.root.join("etc/new")).unwrap().mode() & 0o7777, 0o4755);
    etc.symlink(OsStr::new("l"), Path::new("/anywhere")).unwrap();
    assert_eq!(std::fs::read_link(bed.root.join("etc/l")).unwrap(), Path::new("/anywhere"));
    etc.hardlink_at(OsStr::new("h"), &etc, OsStr::new("new")).unwrap();
    assert_eq!(std::fs::metadata(bed.root.join("etc/new")).unwrap().nlink(), 2);
    let n = root.resolve_nofollow(Path::new("/etc/l")).unwrap();
    etc.hardlink_node(OsStr::new("l2"), &n).unwrap();
    assert!(std::fs::symlink_metadata(bed.root.join("etc/l2")).unwrap().file_type().is_symlink(), "links the link");
    etc.mknod(OsStr::new("fifo"), NodeKind::Fifo, 0o600).unwrap();
    let sub = etc.mkdir(OsStr::new("sub"), 0o555).unwrap();
    sub.create_file(OsStr::new("x"), 0o600).unwrap();
    assert!(etc.remove_all(OsStr::new("sub")).unwrap());
    assert!(!etc.remove_all(OsStr::new("sub")).unwrap(), "nothing there is not an error");
    etc.unlink(OsStr::new("l")).unwrap();
    assert!(!bed.root.join("etc/l").exists());
    // A symlink planted as the name to remove is removed itself.
    assert!(top.remove_all(OsStr::new("abs")).unwrap());
    assert!(bed.root.join("etc/passwd").exists());
    bed.assert_host_untouched();
}

#[test]
fn xattrs_and_times_go_on_the_held_inode() {
    let bed = Bed::new();
    let root = bed.open();
    let n = root.resolve(Path::new("/abs/passwd")).unwrap();
    set_xattr(n.as_fd(), "user.berth", b"v").unwrap();
    assert_eq!(xattr::get(bed.root.join("etc/passwd"), "user.berth").unwrap().as_deref(), Some(&b"v"[..]));
    // Renamed away after it was resolved: the change still lands on it.
    std::fs::rename(bed.root.join("etc/passwd"), bed.root.join("etc/moved")).unwrap();
    set_times(n.as_fd(), 2_000_000, 5).unwrap();
    assert_eq!(std::fs::metadata(bed.root.join("etc/moved")).unwrap().mtime(), 2_000_000);
}

#[test]
fn the_container_path_of_a_node_is_relative_to_the_root() {
    let bed = Bed::new();
    let root = bed.open();
    assert_eq!(where_is(&root, "/").unwrap(), Path::new("/"));
    assert_eq!(where_is(&root, "/up").unwrap(), Path::new("/etc"));
}
