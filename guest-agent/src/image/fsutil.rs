//! Filesystem chores of the image store: placing layer directories (and
//! the builder's context directories, through `spread_subdirs`),
//! measuring and removing trees, listing. The crash-safe writes themselves
//! are `crate::durable`'s.
//!
//! It must never decide what is written where; the store does.

use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

/// `FS_TOPDIR_FL` from linux/fs.h (`chattr +T`); libc does not export it.
const FS_TOPDIR_FL: libc::c_int = 0x0002_0000;

/// Asks the filesystem to place each directory created in `dir` in a block
/// group of its own choosing rather than next to `dir` (ext4's Orlov
/// allocator treats `dir` as the top of independent hierarchies, as it does
/// the filesystem root). Best effort: a filesystem without the flag (tmpfs,
/// overlayfs) keeps its own placement, and the error is only logged.
///
/// Why: every unpacked layer is a fresh tree of thousands of inodes. Next to
/// its parent it lands in the same block group as everything recently
/// deleted near the store, and ext4 without a journal skips inodes freed in
/// the last 5 minutes (up to 305 s while their inode-table block is dirty)
/// by scanning the group's bitmap from the start on every allocation: with
/// a few thousand such inodes, creating a layer's files costs seconds of
/// system time instead of a tenth of one. A spread-out layer directory
/// starts in a group with few directories, so its inodes come cheap, and
/// layers unpacked in parallel do not contend for one group's lock.
pub fn spread_subdirs(dir: &Path) {
    let result = std::fs::File::open(dir).and_then(|f| {
        let flags = inode_flags(&f)?;
        if flags & FS_TOPDIR_FL == 0 {
            let flags = flags | FS_TOPDIR_FL;
            // SAFETY: FS_IOC_SETFLAGS reads one int through a pointer to a
            // live local, on an fd that `f` keeps open for the call.
            if unsafe { libc::ioctl(f.as_raw_fd(), libc::FS_IOC_SETFLAGS, &flags) } < 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
        Ok(())
    });
    if let Err(e) = result {
        tracing::debug!(dir = %dir.display(), error = %e, "filesystem keeps its own directory placement");
    }
}

/// The inode's `chattr` flags (FS_IOC_GETFLAGS).
fn inode_flags(f: &std::fs::File) -> std::io::Result<libc::c_int> {
    let mut flags: libc::c_int = 0;
    // SAFETY: FS_IOC_GETFLAGS writes one int through a pointer to a live
    // local, on an fd that `f` keeps open for the call.
    if unsafe { libc::ioctl(f.as_raw_fd(), libc::FS_IOC_GETFLAGS, &mut flags) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(flags)
}

/// Bytes a file or tree takes (apparent sizes; hard links counted once per
/// name). Unreadable entries count as zero: this is for reports only.
pub fn disk_usage(path: &Path) -> u64 {
    let Ok(meta) = std::fs::symlink_metadata(path) else { return 0 };
    if !meta.is_dir() {
        return meta.len();
    }
    std::fs::read_dir(path).map(|rd| rd.flatten().map(|e| disk_usage(&e.path())).sum()).unwrap_or(0)
}

/// Remove a file or a whole tree; a missing path is not an error.
/// Directories made read-only by a layer are made writable first, or
/// `remove_dir_all` would fail on their children.
pub fn remove_any(path: &Path) -> std::io::Result<()> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    if !meta.is_dir() {
        return std::fs::remove_file(path);
    }
    match std::fs::remove_dir_all(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            make_dirs_writable(path);
            std::fs::remove_dir_all(path)
        }
        Err(e) => Err(e),
    }
}

fn make_dirs_writable(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                make_dirs_writable(&e.path());
            }
        }
    }
}

/// The entries of a directory as paths; a missing directory is empty.
pub fn list_dir(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    match std::fs::read_dir(dir) {
        Ok(rd) => rd.map(|e| e.map(|e| e.path())).collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spreading_subdirs_is_best_effort_and_keeps_the_dir_usable() {
        let dir = tempfile::tempdir().unwrap();
        spread_subdirs(dir.path());
        spread_subdirs(dir.path()); // already set (or unsupported): no change, no error
        // Where the filesystem has the flags at all (ext4, which is where it
        // matters), the flag is set.
        if let Ok(flags) = std::fs::File::open(dir.path()).and_then(|f| inode_flags(&f)) {
            assert_ne!(flags & FS_TOPDIR_FL, 0, "flags {flags:#x}");
        }
        std::fs::create_dir(dir.path().join("layer")).unwrap();
        std::fs::write(dir.path().join("layer/f"), b"x").unwrap();
        spread_subdirs(&dir.path().join("missing")); // logged, not fatal
        assert_eq!(std::fs::read(dir.path().join("layer/f")).unwrap(), b"x");
    }

    #[test]
    fn remove_any_handles_read_only_trees_and_missing_paths() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let t = dir.path().join("t");
        std::fs::create_dir_all(t.join("ro")).unwrap();
        std::fs::write(t.join("ro/f"), b"x").unwrap();
        std::fs::set_permissions(t.join("ro"), std::fs::Permissions::from_mode(0o500)).unwrap();
        remove_any(&t).unwrap();
        assert!(!t.exists());
        remove_any(&t).unwrap();
    }
}
