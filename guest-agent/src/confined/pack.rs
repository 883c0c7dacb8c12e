//! `GET /containers/{id}/archive` and `GET /containers/{id}/export`: a tar
//! written from a container's root while the container runs.
//!
//! Owns the walk: each directory is read through its own fd, each child is
//! opened from that fd with `O_NOFOLLOW`, and what is archived is what the
//! fd holds (its `fstat`, its bytes), so a child swapped for a symlink
//! between listing and opening is seen as a symlink (archived as a link) or
//! skipped, never followed out of the root. It must never open a path
//! string.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use super::dir::Dir;
use super::error::ConfinedError;
use super::node::{self, Kind, Node, Stat};
use super::root::Root;

/// Hard links already written: (dev, ino) to the first name.
pub(super) type Links = HashMap<(u64, u64), PathBuf>;

/// Appends what `node` holds (resolved once, by [`Root::resolve_nofollow`],
/// for the stat header too) under the name `base`: the entry itself, a
/// symlink as a link, a directory with its whole tree.
pub fn append_node<W: Write>(node: Node, base: &Path, b: &mut tar::Builder<W>) -> Result<(), ConfinedError> {
    let st = node.stat().map_err(ConfinedError::io("stat", base))?;
    let io = ConfinedError::io("archive", base);
    match st.kind {
        Kind::Dir => append_dir(b, &Dir::from_fd(node.into()), base, &st, &mut Links::new()).map_err(io),
        Kind::File => {
            let f = node.open_read().map_err(ConfinedError::io("open", base))?;
            append_file(b, f, base, &st).map_err(io)
        }
        _ => append_special(b, &node, base, &st).map_err(io),
    }
}

/// Appends the whole root, entries named without a leading `/` or `./`.
pub fn append_root<W: Write>(root: &Root, b: &mut tar::Builder<W>) -> Result<(), ConfinedError> {
    let dir = root.dir(Path::new("/"))?;
    let mut links = Links::new();
    walk(b, &dir, Path::new(""), &mut links).map_err(ConfinedError::io("archive", root.host_path()))
}

pub(super) fn header(st: &Stat, kind: tar::EntryType) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(st.perm);
    h.set_uid(st.uid.into());
    h.set_gid(st.gid.into());
    h.set_mtime(u64::try_from(st.mtime).unwrap_or(0));
    h.set_size(0);
    h
}

fn append_dir<W: Write>(
    b: &mut tar::Builder<W>,
    dir: &Dir,
    name: &Path,
    st: &Stat,
    links: &mut Links,
) -> std::io::Result<()> {
    let mut h = header(st, tar::EntryType::Directory);
    b.append_data(&mut h, name, std::io::empty())?;
    walk(b, dir, name, links)
}

/// Appends every child of `dir`, named under `prefix`.
fn walk<W: Write>(b: &mut tar::Builder<W>, dir: &Dir, prefix: &Path, links: &mut Links) -> std::io::Result<()> {
    let mut names = dir.entries()?;
    names.sort();
    for name in names {
        let tar_name = prefix.join(&name);
        if let Err(e) = append_child(b, dir, &name, &tar_name, links) {
            // Gone or swapped between the listing and the open: the
            // container changed its tree while we read it.
            if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENOTDIR | libc::ELOOP | libc::EINVAL)) {
                tracing::debug!(path = %tar_name.display(), error = %e, "entry changed while archived; skipped");
                continue;
            }
            return Err(e);
        }
    }
    Ok(())
}

fn append_child<W: Write>(
    b: &mut tar::Builder<W>,
    dir: &Dir,
    name: &OsStr,
    tar_name: &Path,
    links: &mut Links,
) -> std::io::Result<()> {
    let Some(st) = dir.stat(name)? else { return Ok(()) };
    match st.kind {
        Kind::Dir => {
            let sub = dir.dir(name)?;
            let st = sub.stat_self()?;
            append_dir(b, &sub, tar_name, &st, links)
        }
        Kind::File => {
            let f = dir.open_read(name)?;
            let st = node::stat(f.as_fd())?;
            if st.nlink > 1 {
                if let Some(first) = links.get(&(st.dev, st.ino)) {
                    let mut h = header(&st, tar::EntryType::Link);
                    return b.append_link(&mut h, tar_name, first);
                }
                links.insert((st.dev, st.ino), tar_name.to_path_buf());
            }
            append_file(b, f, tar_name, &st)
        }
        _ => {
            let n = dir.node(name)?;
            let st = n.stat()?;
            append_special(b, &n, tar_name, &st)
        }
    }
}

/// A regular file: exactly `st.size` bytes (a file the container grows or
/// truncates meanwhile is cut or padded with zeros, so the tar stays whole).
pub(super) fn append_file<W: Write>(
    b: &mut tar::Builder<W>,
    f: std::fs::File,
    name: &Path,
    st: &Stat,
) -> std::io::Result<()> {
    let mut h = header(st, tar::EntryType::Regular);
    h.set_size(st.size);
    let data = f.take(st.size).chain(std::io::repeat(0)).take(st.size);
    b.append_data(&mut h, name, data)
}

pub(super) fn append_special<W: Write>(
    b: &mut tar::Builder<W>,
    n: &Node,
    name: &Path,
    st: &Stat,
) -> std::io::Result<()> {
    let kind = match st.kind {
        Kind::Symlink => {
            let target = n.readlink()?;
            let mut h = header(st, tar::EntryType::Symlink);
            return b.append_link(&mut h, name, target);
        }
        Kind::Char => tar::EntryType::Char,
        Kind::Block => tar::EntryType::Block,
        Kind::Fifo => tar::EntryType::Fifo,
        // Sockets have no tar form; Docker skips them too.
        Kind::Socket | Kind::Dir | Kind::File => return Ok(()),
    };
    let mut h = header(st, kind);
    if matches!(st.kind, Kind::Char | Kind::Block) {
        h.set_device_major(libc::major(st.rdev))?;
        h.set_device_minor(libc::minor(st.rdev))?;
    }
    b.append_data(&mut h, name, std::io::empty())
}
