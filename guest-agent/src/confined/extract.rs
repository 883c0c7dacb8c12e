//! `PUT /containers/{id}/archive`: a tar extracted into a directory of a
//! running container's root, as Docker does it (later entries replace
//! earlier ones, symlinks inside the container are followed as the
//! container would follow them, modes and times are kept, owners are not).
//!
//! Owns the rules for that hostile input. It must never write through a
//! name looked up twice: each entry's parent is resolved inside the
//! [`Root`] to an fd, and the entry is made with one `*at` call on that fd;
//! its metadata is set on the fd of what was made. A `..` in an entry name
//! is refused, not cleaned.

use std::ffi::OsStr;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

use super::dir::{Dir, NodeKind};
use super::error::ConfinedError;
use super::node::{self, Kind, Stat};
use super::root::Root;

/// How [`extract`] treats what is already there.
#[derive(Clone, Copy, Debug, Default)]
pub struct ExtractOptions {
    /// `noOverwriteDirNonDir`: refuse to replace a directory with a
    /// non-directory or the other way round.
    pub no_overwrite_dir_non_dir: bool,
    /// Refuse (as [`ConfinedError::Escapes`]) an absolute entry name or
    /// hard-link target instead of reading it from the root, as a build
    /// context must: Docker's `cp` cleans them, the builder refuses them.
    pub refuse_absolute: bool,
}

/// A directory's mode and time, applied once its children are in (writing
/// them changes its mtime; a read-only mode would refuse them).
struct Deferred {
    path: PathBuf,
    inode: Stat,
    mode: u32,
    mtime: Option<u64>,
}

/// Extracts the tar `r` into the directory `dest` (a container path) of `root`.
pub fn extract(root: &Root, dest: &Path, r: impl Read, opts: ExtractOptions) -> Result<(), ConfinedError> {
    let mut ar = tar::Archive::new(r);
    let mut deferred = Vec::new();
    let tar_err = |e| ConfinedError::io("read the archive", dest)(e);
    for entry in ar.entries().map_err(tar_err)? {
        let mut entry = entry.map_err(tar_err)?;
        let name = entry.path().map_err(tar_err)?.into_owned();
        if opts.refuse_absolute && name.is_absolute() {
            return Err(ConfinedError::Escapes { path: name });
        }
        let rel = relative(&name)?;
        if rel.as_os_str().is_empty() {
            continue;
        }
        let path = Path::new("/").join(dest).join(&rel);
        if let Some(d) = write_entry(root, &path, &mut entry, dest, opts)? {
            deferred.push(d);
        }
    }
    for d in deferred.iter().rev() {
        apply(root, d)?;
    }
    Ok(())
}

/// The entry's name as a relative path; a `..` anywhere is an error.
fn relative(name: &Path) -> Result<PathBuf, ConfinedError> {
    if name.components().any(|c| matches!(c, Component::ParentDir)) {
        return Err(ConfinedError::Escapes { path: name.to_path_buf() });
    }
    Ok(name.components().filter(|c| matches!(c, Component::Normal(_))).collect())
}

fn write_entry<R: Read>(
    root: &Root,
    path: &Path,
    entry: &mut tar::Entry<'_, R>,
    dest: &Path,
    opts: ExtractOptions,
) -> Result<Option<Deferred>, ConfinedError> {
    let (parent, leaf) = root.parent(path, true)?;
    let header = entry.header();
    let kind = header.entry_type();
    let io = |op| ConfinedError::io(op, path);
    let mode = header.mode().map_err(io("read the mode of"))? & 0o7777;
    let mtime = header.mtime().ok();
    let existing = parent.stat(&leaf).map_err(io("stat"))?;
    if opts.no_overwrite_dir_non_dir
        && let Some(st) = &existing
        && st.is_dir() != kind.is_dir()
    {
        return Err(ConfinedError::Refused {
            path: path.to_path_buf(),
            reason: format!("cannot overwrite it with a {}", if kind.is_dir() { "directory" } else { "non-directory" }),
        });
    }
    if existing.is_some_and(|st| !(st.is_dir() && kind.is_dir())) {
        parent.remove_all(&leaf).map_err(io("remove"))?;
    }
    match kind {
        tar::EntryType::Directory => {
            let d = match parent.dir(&leaf) {
                Ok(d) => d,
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => parent.mkdir(&leaf, 0o700).map_err(io("mkdir"))?,
                Err(e) => return Err(io("open")(e)),
            };
            let inode = d.stat_self().map_err(io("stat"))?;
            return Ok(Some(Deferred { path: path.to_path_buf(), inode, mode, mtime }));
        }
        tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => {
            let mut f = parent.create_file(&leaf, 0o600).map_err(io("create"))?;
            let want = entry.size();
            let got = std::io::copy(entry, &mut f).map_err(io("write"))?;
            if got != want {
                return Err(ConfinedError::Refused {
                    path: path.to_path_buf(),
                    reason: format!("archive ended after {got} of {want} bytes"),
                });
            }
            node::chmod(std::os::fd::AsFd::as_fd(&f), mode).map_err(io("chmod"))?;
            if let Some(t) = mtime {
                node::set_times(std::os::fd::AsFd::as_fd(&f), secs(t), 0).map_err(io("set times of"))?;
            }
            return Ok(None);
        }
        tar::EntryType::Symlink => {
            let target = entry.link_name().map_err(io("read the link of"))?.ok_or_else(|| ConfinedError::Refused {
                path: path.to_path_buf(),
                reason: "symlink without a target".into(),
            })?;
            // Only data: followed later inside the root, never by us.
            parent.symlink(&leaf, &target).map_err(io("symlink"))?;
        }
        tar::EntryType::Link => {
            let link = entry.link_name().map_err(io("read the link of"))?.ok_or_else(|| ConfinedError::Refused {
                path: path.to_path_buf(),
                reason: "hard link without a target".into(),
            })?;
            if opts.refuse_absolute && link.is_absolute() {
                return Err(ConfinedError::Escapes { path: link.into_owned() });
            }
            let target = Path::new("/").join(dest).join(relative(&link)?);
            let node = root.resolve_nofollow(&target)?;
            if node.stat().map_err(io("stat"))?.kind == Kind::Dir {
                return Err(ConfinedError::Refused {
                    path: path.to_path_buf(),
                    reason: "hard link to a directory".into(),
                });
            }
            parent.hardlink_node(&leaf, &node).map_err(io("link"))?;
            return Ok(None); // the target's inode keeps its own metadata
        }
        tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
            let major = header.device_major().ok().flatten().unwrap_or(0);
            let minor = header.device_minor().ok().flatten().unwrap_or(0);
            let nk = match kind {
                tar::EntryType::Char => NodeKind::Char { major, minor },
                tar::EntryType::Block => NodeKind::Block { major, minor },
                _ => NodeKind::Fifo,
            };
            parent.mknod(&leaf, nk, mode).map_err(io("mknod"))?;
        }
        other => {
            tracing::debug!(path = %path.display(), kind = ?other, "skipping tar entry of this kind");
            return Ok(None);
        }
    }
    finish(&parent, &leaf, path, mode, mtime)?;
    Ok(None)
}

/// Mode and time of what was just made at `leaf`, set on its own fd (if
/// the container swapped something in meanwhile, that is what is inside
/// its root at that name: it is changed, nothing outside).
fn finish(parent: &Dir, leaf: &OsStr, path: &Path, mode: u32, mtime: Option<u64>) -> Result<(), ConfinedError> {
    let n = parent.node(leaf).map_err(ConfinedError::io("open", path))?;
    n.chmod(mode).map_err(ConfinedError::io("chmod", path))?;
    if let Some(t) = mtime {
        n.set_times(secs(t), 0).map_err(ConfinedError::io("set times of", path))?;
    }
    Ok(())
}

/// A directory's deferred mode and time, on the same directory: re-resolved
/// without following its last component and checked to be the same inode
/// (a directory replaced meanwhile is skipped, not chmodded through).
fn apply(root: &Root, d: &Deferred) -> Result<(), ConfinedError> {
    let n = match root.resolve_nofollow(&d.path) {
        Ok(n) => n,
        Err(e) if e.is_not_found() => return Ok(()),
        Err(e) => return Err(e),
    };
    let st = n.stat().map_err(ConfinedError::io("stat", &d.path))?;
    if st.kind != Kind::Dir || !st.same_inode(&d.inode) {
        tracing::debug!(path = %d.path.display(), "directory replaced during extraction; its mode is not applied");
        return Ok(());
    }
    n.chmod(d.mode).map_err(ConfinedError::io("chmod", &d.path))?;
    if let Some(t) = d.mtime {
        n.set_times(secs(t), 0).map_err(ConfinedError::io("set times of", &d.path))?;
    }
    Ok(())
}

/// A tar time as `time_t` (a hostile one past i64 is clamped).
fn secs(t: u64) -> i64 {
    i64::try_from(t).unwrap_or(i64::MAX)
}
