//! Copy-up: the content an image has at a volume's destination copied into
//! the volume, the first time a container uses the (empty) volume, as
//! Docker's `CopyImagePathContent` (owners, modes, times, symlinks as
//! links, device nodes and FIFOs kept).
//!
//! Owns that walk. The source directory is resolved once inside the
//! container's [`Root`] (its symlinks followed as the container would);
//! below it every entry is opened from its parent's fd with `O_NOFOLLOW`,
//! so a symlink is copied as a symlink and never followed — out of the
//! image or out of the volume. The volume is the engine's own directory,
//! opened once ([`Dir::open_own`]); what is made in it is made with one
//! `*at` call on a held directory. It must never open a path string below
//! either root.

use std::ffi::OsStr;
use std::os::fd::AsFd;
use std::path::Path;

use super::dir::{Dir, NodeKind};
use super::error::ConfinedError;
use super::node::{self, Kind, Stat};
use super::root::Root;

/// Copies what `root` holds at `path` (a directory; anything else, or
/// nothing there, copies nothing) into the directory `volume` if `volume`
/// is empty. True when it copied.
pub fn copy_up(root: &Root, path: &Path, volume: &Path) -> Result<bool, ConfinedError> {
    let src = match root.dir(path) {
        Ok(d) => d,
        Err(e) if e.is_not_found() || e.errno() == Some(libc::ENOTDIR) => return Ok(false),
        Err(e) => return Err(e),
    };
    let dst = Dir::open_own(volume).map_err(ConfinedError::io("open", volume))?;
    if !dst.entries().map_err(ConfinedError::io("list", volume))?.is_empty() {
        return Ok(false);
    }
    let st = src.stat_self().map_err(ConfinedError::io("stat", path))?;
    copy_children(&src, &dst).map_err(ConfinedError::io("copy up", path))?;
    // The volume's root takes the image directory's owner and mode.
    apply(dst.as_fd(), &st).map_err(ConfinedError::io("copy up", volume))?;
    Ok(true)
}

fn apply(fd: std::os::fd::BorrowedFd<'_>, st: &Stat) -> std::io::Result<()> {
    node::chown(fd, st.uid, st.gid)?;
    if st.kind != Kind::Symlink {
        node::chmod(fd, st.perm)?;
    }
    node::set_times(fd, st.mtime, st.mtime_nsec)
}

fn copy_children(src: &Dir, dst: &Dir) -> std::io::Result<()> {
    let mut names = src.entries()?;
    names.sort();
    for name in names {
        if let Err(e) = copy_one(src, dst, &name) {
            // Gone or swapped meanwhile: skipped, never followed.
            if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENOTDIR | libc::ELOOP | libc::EINVAL)) {
                tracing::debug!(name = ?name, error = %e, "copy-up: entry changed while copied; skipped");
                continue;
            }
            return Err(e);
        }
    }
    Ok(())
}

fn copy_one(src: &Dir, dst: &Dir, name: &OsStr) -> std::io::Result<()> {
    let Some(st) = src.stat(name)? else { return Ok(()) };
    match st.kind {
        Kind::Dir => {
            let from = src.dir(name)?;
            let to = dst.mkdir(name, 0o700)?;
            copy_children(&from, &to)?;
            apply(to.as_fd(), &from.stat_self()?)
        }
        Kind::File => {
            let mut from = src.open_read(name)?;
            let mut to = dst.create_file(name, 0o600)?;
            std::io::copy(&mut from, &mut to)?;
            apply(to.as_fd(), &node::stat(from.as_fd())?)
        }
        Kind::Symlink => {
            let target = src.node(name)?.readlink()?;
            dst.symlink(name, &target)?;
            node::chown(dst.node(name)?.as_fd(), st.uid, st.gid)
        }
        Kind::Char | Kind::Block | Kind::Fifo => {
            let (major, minor) = (libc::major(st.rdev), libc::minor(st.rdev));
            let kind = match st.kind {
                Kind::Char => NodeKind::Char { major, minor },
                Kind::Block => NodeKind::Block { major, minor },
                _ => NodeKind::Fifo,
            };
            dst.mknod(name, kind, st.perm)?;
            apply(dst.node(name)?.as_fd(), &st)
        }
        Kind::Socket => Ok(()),
    }
}
