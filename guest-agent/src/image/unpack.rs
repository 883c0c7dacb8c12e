//! Unpacking one layer (a tar stream, gzip-, zstd- or un-compressed) into a
//! directory that later becomes an overlayfs lowerdir.
//!
//! Owns the translation of tar entries into files, and every check that keeps
//! a hostile layer inside its directory. It must never write outside the
//! staging directory it was given, never follow a symlink while creating an
//! entry, and never leave a half-unpacked tree at the final path: the layer
//! is unpacked into `staging` and renamed to `dest` only once the whole
//! stream was read and its digests matched.
//!
//! How hostile input is stopped (the facts are the same ones containerd's
//! and containers/storage's appliers rely on; the code is ours):
//! - every entry name and hardlink target is checked component by
//!   component: an absolute path or a `..` is rejected, not cleaned up;
//! - every parent of an entry is opened from its own parent's fd with
//!   `O_NOFOLLOW|O_DIRECTORY` (`crate::confined::Dir`): a symlink (or a
//!   non-directory) anywhere on the way is an error, so a layer cannot plant
//!   `link -> /etc` and then write `link/passwd`; hardlink targets get the
//!   same walk, so a link cannot reach outside either;
//! - each entry is made with one `*at` call on its parent's fd (files with
//!   `O_CREAT|O_EXCL|O_NOFOLLOW`) after removing what was there, so a
//!   planted symlink is never written through, and its owner, xattrs, mode
//!   and times are set on the fd of what was made, never by path;
//! - a directory's mode and times, applied after its children, go through
//!   the directory re-opened the same way and checked to be the same inode:
//!   a directory that a later entry replaced (say with a symlink to a host
//!   file) is skipped, so its mode can never land on what the link names;
//! - the entry's byte count is checked (a truncated stream fails instead of
//!   leaving a short file), and the uncompressed (diffID) and compressed
//!   digests are checked at the end when the caller knows them.
//!
//! Whiteouts: as root they become overlayfs's own form (a 0:0 character
//! device for `.wh.name`, `trusted.overlay.opaque=y` for `.wh..wh..opq`);
//! without the privilege for that (unit tests as a user) the AUFS marker
//! files are kept as they are, and [`WhiteoutFormat`] records which.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::io::{BufRead, BufReader, Read};
use std::ops::Bound;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};
use std::rc::Rc;

use super::digest::{Digest, HashState, HashingReader};
use super::fsutil;
use crate::confined::{self, Dir, NodeKind};
use crate::durable;
use crate::tar_bounds::Bounded;

const WHITEOUT_PREFIX: &str = ".wh.";
const WHITEOUT_META_PREFIX: &str = ".wh..wh.";
const WHITEOUT_OPAQUE: &str = ".wh..wh..opq";
const OVERLAY_OPAQUE_XATTR: &str = "trusted.overlay.opaque";

#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    #[error("layer entry {path:?} is an absolute path")]
    AbsolutePath { path: PathBuf },
    #[error("layer entry {path:?} climbs out of the layer with '..'")]
    Traversal { path: PathBuf },
    #[error("layer entry {path:?} goes through the symlink {via:?}")]
    SymlinkParent { path: PathBuf, via: PathBuf },
    #[error("layer entry {path:?} has the non-directory {via:?} as a parent")]
    NotADirectory { path: PathBuf, via: PathBuf },
    #[error("hardlink {path:?} points at {target:?}, which is not an earlier file of this layer")]
    BadHardlink { path: PathBuf, target: PathBuf },
    #[error("layer entry {path:?}: {reason}")]
    BadEntry { path: PathBuf, reason: String },
    #[error("layer stream ended early in {path:?}: {got} of {want} bytes")]
    Truncated { path: PathBuf, got: u64, want: u64 },
    #[error("layer {what} digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch { what: &'static str, expected: Digest, actual: Digest },
    #[error("reading the layer stream: {0}")]
    Stream(#[source] std::io::Error),
    #[error("writing {path:?}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// How whiteouts are stored in an unpacked layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum WhiteoutFormat {
    /// overlayfs's native form: needs CAP_MKNOD and trusted.* xattrs.
    Overlay,
    /// The tar's `.wh.` marker files kept as files (unprivileged).
    Aufs,
}

impl WhiteoutFormat {
    /// Overlay when running as root, which the engine always does.
    pub fn for_this_process() -> Self {
        if nix::unistd::geteuid().is_root() { WhiteoutFormat::Overlay } else { WhiteoutFormat::Aufs }
    }
}

/// What the caller knows about the stream before reading it.
#[derive(Default, Clone, Debug)]
pub struct Expect {
    /// Digest of the bytes as stored (the manifest's layer digest).
    pub compressed: Option<Digest>,
    /// Digest of the uncompressed tar (the config's diffID).
    pub diff_id: Option<Digest>,
}

#[derive(Debug, Clone)]
pub struct Unpacked {
    pub diff_id: Digest,
}

/// Unpack `stream` into `staging` (which must not exist), check digests,
/// then rename `staging` to `dest`. On any error `staging` is removed and
/// `dest` is untouched. If `dest` appeared meanwhile (another pull of the
/// same layer) the fresh copy is dropped: layers are content-addressed.
pub fn unpack_layer(
    stream: impl Read,
    staging: &Path,
    dest: &Path,
    expect: &Expect,
    whiteouts: WhiteoutFormat,
) -> Result<Unpacked, UnpackError> {
    let result = unpack_into(stream, staging, expect, whiteouts).and_then(|u| {
        match std::fs::rename(staging, dest) {
            Ok(()) => {}
            // rename(2) onto a non-empty directory: someone else finished first.
            Err(e) if dest.is_dir() => {
                tracing::debug!(dest = %dest.display(), error = %e, "layer already unpacked; dropping this copy");
                let _ = fsutil::remove_any(staging);
            }
            Err(source) => return Err(UnpackError::Write { path: dest.to_path_buf(), source }),
        }
        if let Some(parent) = dest.parent() {
            durable::fsync_dir(parent).map_err(|source| UnpackError::Write { path: parent.to_path_buf(), source })?;
        }
        Ok(u)
    });
    if result.is_err()
        && let Err(e) = fsutil::remove_any(staging)
    {
        tracing::warn!(staging = %staging.display(), error = %e, "cannot remove a failed layer's staging dir");
    }
    result
}

fn unpack_into(
    stream: impl Read,
    root: &Path,
    expect: &Expect,
    whiteouts: WhiteoutFormat,
) -> Result<Unpacked, UnpackError> {
    let werr = |source| UnpackError::Write { path: root.to_path_buf(), source };
    std::fs::create_dir(root).map_err(werr)?;
    std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o755)).map_err(werr)?;
    let top = Rc::new(Dir::open_own(root).map_err(werr)?);
    let (compressed_reader, compressed_state) = HashingReader::new(stream);
    let decoder = decompress(BufReader::with_capacity(256 * 1024, compressed_reader))?;
    let (tar_reader, diff_state) = HashingReader::new(decoder);
    let mut archive = tar::Archive::new(Bounded::new(tar_reader));
    let mut tree = Tree { top, parents: Vec::new(), deferred: Deferred::default() };
    let entries = archive.entries().map_err(UnpackError::Stream)?;
    for entry in entries {
        let mut entry = entry.map_err(UnpackError::Stream)?;
        apply_entry(&mut tree, &mut entry, whiteouts)?;
    }
    // The tar ends before the end of the decompressed stream (padding), and
    // the digests cover every byte: read both streams to their ends.
    let mut rest = archive.into_inner();
    std::io::copy(&mut rest, &mut std::io::sink()).map_err(UnpackError::Stream)?;
    drop(rest);
    // Directory times and modes last: writing children changes a directory's
    // mtime, and a read-only directory would refuse them.
    tree.apply_deferred()?;
    let diff_id = check(&diff_state, "uncompressed (diffID)", expect.diff_id.as_ref())?;
    check(&compressed_state, "compressed", expect.compressed.as_ref())?;
    Ok(Unpacked { diff_id })
}

fn check(state: &Rc<RefCell<HashState>>, what: &'static str, expected: Option<&Digest>) -> Result<Digest, UnpackError> {
    let actual = state.borrow().digest();
    match expected {
        Some(e) if *e != actual => Err(UnpackError::DigestMismatch { what, expected: e.clone(), actual }),
        _ => Ok(actual),
    }
}

/// Picks the decoder from the stream's magic bytes rather than the media
/// type, as containerd does: registries and old pushers mislabel layers.
fn decompress<'a, R: BufRead + 'a>(mut r: R) -> Result<Box<dyn Read + 'a>, UnpackError> {
    let head = r.fill_buf().map_err(UnpackError::Stream)?;
    if head.starts_with(&[0x1f, 0x8b]) {
        Ok(Box::new(flate2::bufread::MultiGzDecoder::new(r)))
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Ok(Box::new(zstd::stream::read::Decoder::with_buffer(r).map_err(UnpackError::Stream)?))
    } else {
        Ok(Box::new(r))
    }
}

/// Mode and times of a directory, applied after its contents, to the inode
/// that was made (`inode`), never to whatever holds its name by then.
struct DirMeta {
    rel: PathBuf,
    inode: confined::Stat,
    mode: u32,
    mtime: Option<u64>,
}

/// The directories waiting for their metadata, in entry order; a later
/// entry for the same directory replaces the earlier one's in its place (so
/// a layer repeating one directory entry does not grow the list), and
/// removing a path drops those at or under it.
#[derive(Default)]
struct Deferred {
    list: Vec<Option<DirMeta>>,
    /// Ordered by components, so a directory's descendants follow it.
    index: BTreeMap<PathBuf, usize>,
    /// Dropped slots in `list`; compacted once they are half of it.
    holes: usize,
}

impl Deferred {
    fn add(&mut self, meta: DirMeta) {
        if let Some(&i) = self.index.get(&meta.rel) {
            self.list[i] = Some(meta);
            return;
        }
        self.index.insert(meta.rel.clone(), self.list.len());
        self.list.push(Some(meta));
    }

    /// In the time of what is dropped (a range of the ordered index), not
    /// of all that waits: a layer replacing thousands of directories one by
    /// one stays linear.
    fn forget_under(&mut self, rel: &Path) {
        let gone: Vec<PathBuf> = self
            .index
            .range::<Path, _>((Bound::Included(rel), Bound::Unbounded))
            .map(|(k, _)| k)
            .take_while(|k| k.starts_with(rel))
            .cloned()
            .collect();
        for k in gone {
            if let Some(i) = self.index.remove(&k) {
                self.list[i] = None;
                self.holes += 1;
            }
        }
        if self.holes > 64 && self.holes * 2 > self.list.len() {
            self.list.retain(Option::is_some);
            for (i, m) in self.list.iter().flatten().enumerate() {
                self.index.insert(m.rel.clone(), i);
            }
            self.holes = 0;
        }
    }
}

/// The layer being unpacked: its top directory, the chain of directories
/// above the last entry (held by fds, so that the parents of each of a
/// layer's thousands of entries are not opened again and again), and the
/// deferred directory metadata. Only this unpack writes the tree, and only
/// by entries; whenever an entry removes something that existed (which
/// might be on the chain), the chain is dropped.
struct Tree {
    top: Rc<Dir>,
    parents: Vec<(OsString, Rc<Dir>)>,
    deferred: Deferred,
}

impl Tree {
    /// The parent directory of `rel`, walked from the top one component at
    /// a time with `O_NOFOLLOW|O_DIRECTORY`: missing ones are created (tars
    /// may list a file before its directory), a symlink or non-directory on
    /// the way is an error.
    fn parent(&mut self, rel: &Path, create: bool) -> Result<Rc<Dir>, UnpackError> {
        let comps: Vec<&OsStr> = match rel.parent() {
            Some(p) => p.components().map(|c| c.as_os_str()).collect(),
            None => Vec::new(),
        };
        let keep = self.parents.iter().zip(&comps).take_while(|((a, _), b)| a.as_os_str() == **b).count();
        self.parents.truncate(keep);
        let mut via = PathBuf::new();
        for c in &comps[..keep] {
            via.push(c);
        }
        for c in &comps[keep..] {
            via.push(c);
            let cur = self.parents.last().map_or_else(|| self.top.clone(), |(_, d)| d.clone());
            let werr = |source| UnpackError::Write { path: via.clone(), source };
            let next = match cur.dir(c) {
                Ok(d) => d,
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) && create => {
                    let d = cur.mkdir(c, 0o755).map_err(werr)?;
                    confined::chmod(d.as_fd(), 0o755).map_err(werr)?;
                    d
                }
                Err(e) if matches!(e.raw_os_error(), Some(libc::ENOTDIR | libc::ELOOP)) => {
                    let is_link = cur.stat(c).ok().flatten().is_some_and(|st| st.kind == confined::Kind::Symlink);
                    let (path, via) = (rel.to_path_buf(), via.clone());
                    return Err(if is_link {
                        UnpackError::SymlinkParent { path, via }
                    } else {
                        UnpackError::NotADirectory { path, via }
                    });
                }
                Err(e) => return Err(werr(e)),
            };
            self.parents.push((c.to_os_string(), Rc::new(next)));
        }
        Ok(self.parents.last().map_or_else(|| self.top.clone(), |(_, d)| d.clone()))
    }

    /// Removes whatever is at `name` in `parent` unless it is a directory
    /// that the new entry (also a directory) would merge into. Never follows
    /// a symlink.
    fn clear(&mut self, parent: &Dir, name: &OsStr, rel: &Path, new_is_dir: bool) -> Result<(), UnpackError> {
        let werr = |source| UnpackError::Write { path: rel.to_path_buf(), source };
        match parent.stat(name).map_err(werr)? {
            Some(st) if st.is_dir() && new_is_dir => {}
            Some(_) => {
                parent.remove_all(name).map_err(werr)?;
                self.parents.clear();
                self.deferred.forget_under(rel);
            }
            None => {}
        }
        Ok(())
    }

    /// Each deferred directory re-opened from the top without following
    /// anything; one that is gone, or is not the inode made for its entry,
    /// is skipped.
    fn apply_deferred(&mut self) -> Result<(), UnpackError> {
        let metas: Vec<DirMeta> = std::mem::take(&mut self.deferred.list).into_iter().flatten().collect();
        self.parents.clear();
        for d in metas.iter().rev() {
            let Some(name) = d.rel.file_name() else { continue };
            let dir = match self
                .parent(&d.rel, false)
                .and_then(|p| p.dir(name).map_err(|source| UnpackError::Write { path: d.rel.clone(), source }))
            {
                Ok(dir) => dir,
                Err(e) => {
                    tracing::debug!(path = %d.rel.display(), error = %e, "directory gone before its metadata; skipped");
                    continue;
                }
            };
            let werr = |source| UnpackError::Write { path: d.rel.clone(), source };
            if !dir.stat_self().map_err(werr)?.same_inode(&d.inode) {
                tracing::debug!(path = %d.rel.display(), "directory replaced before its metadata; skipped");
                continue;
            }
            confined::chmod(dir.as_fd(), d.mode).map_err(werr)?;
            if let Some(t) = d.mtime {
                set_mtime(dir.as_fd(), t).map_err(werr)?;
            }
        }
        Ok(())
    }
}

/// The entry's path made relative to the layer root, or an error if it is
/// absolute or contains `..`. `None` for the root itself (`./`).
pub fn safe_relative(path: &Path) -> Result<Option<PathBuf>, UnpackError> {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir => {}
            Component::ParentDir => return Err(UnpackError::Traversal { path: path.to_path_buf() }),
            Component::RootDir | Component::Prefix(_) => {
                return Err(UnpackError::AbsolutePath { path: path.to_path_buf() });
            }
        }
    }
    Ok(if out.as_os_str().is_empty() { None } else { Some(out) })
}

fn apply_entry<R: Read>(
    tree: &mut Tree,
    entry: &mut tar::Entry<'_, R>,
    whiteouts: WhiteoutFormat,
) -> Result<(), UnpackError> {
    let raw_path = entry.path().map_err(UnpackError::Stream)?.into_owned();
    let Some(rel) = safe_relative(&raw_path)? else {
        return Ok(()); // the layer root itself: the store decides its mode
    };
    let kind = entry.header().entry_type();
    let name = rel.file_name().unwrap_or(OsStr::new("")).to_os_string();
    let name_bytes = name.as_bytes();

    if name_bytes.starts_with(WHITEOUT_PREFIX.as_bytes()) {
        return apply_whiteout(tree, &rel, &name, whiteouts);
    }

    let parent = tree.parent(&rel, true)?;
    let werr = |source| UnpackError::Write { path: rel.clone(), source };
    let header = entry.header();
    let mode = header.mode().map_err(UnpackError::Stream)? & 0o7777;
    let uid = header.uid().map_err(UnpackError::Stream)?;
    let gid = header.gid().map_err(UnpackError::Stream)?;
    let mtime = header.mtime().ok();
    // Only device entries carry numbers; other headers leave the fields blank.
    let device = if matches!(kind, tar::EntryType::Char | tar::EntryType::Block) {
        (
            header.device_major().map_err(UnpackError::Stream)?.unwrap_or(0),
            header.device_minor().map_err(UnpackError::Stream)?.unwrap_or(0),
        )
    } else {
        (0, 0)
    };
    let xattrs = read_xattrs(entry)?;

    // What was made, held by an fd: its metadata is set on that.
    let made = match kind {
        tar::EntryType::Directory => {
            tree.clear(&parent, &name, &rel, true)?;
            let d = match parent.dir(&name) {
                Ok(d) => d,
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => parent.mkdir(&name, 0o700).map_err(werr)?,
                Err(e) => return Err(werr(e)),
            };
            // Writable for us until its children are in; real mode at the end.
            confined::chmod(d.as_fd(), 0o700).map_err(werr)?;
            set_owner_and_xattrs(d.as_fd(), &rel, uid, gid, &xattrs)?;
            let inode = d.stat_self().map_err(werr)?;
            tree.deferred.add(DirMeta { rel, inode, mode, mtime });
            return Ok(());
        }
        tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => {
            tree.clear(&parent, &name, &rel, false)?;
            let mut f = parent.create_file(&name, 0o600).map_err(werr)?;
            let want = entry.size();
            // Large writes: tar hands out data in small pieces.
            let mut w = std::io::BufWriter::with_capacity(256 * 1024, &mut f);
            let got = std::io::copy(entry, &mut w).map_err(UnpackError::Stream)?;
            std::io::Write::flush(&mut w).map_err(werr)?;
            drop(w);
            if got != want {
                return Err(UnpackError::Truncated { path: rel, got, want });
            }
            set_owner_and_xattrs(f.as_fd(), &rel, uid, gid, &xattrs)?;
            // After chown: chown clears set-id bits.
            confined::chmod(f.as_fd(), mode).map_err(werr)?;
            if let Some(t) = mtime {
                set_mtime(f.as_fd(), t).map_err(werr)?;
            }
            return Ok(());
        }
        tar::EntryType::Symlink => {
            let target = entry.link_name().map_err(UnpackError::Stream)?.ok_or_else(|| UnpackError::BadEntry {
                path: rel.clone(),
                reason: "symlink without a target".into(),
            })?;
            tree.clear(&parent, &name, &rel, false)?;
            // The target is only data: it is resolved inside the container's
            // root at run time, never by us.
            parent.symlink(&name, &target).map_err(werr)?;
            parent.node(&name).map_err(werr)?
        }
        tar::EntryType::Link => {
            let raw_target = entry
                .link_name()
                .map_err(UnpackError::Stream)?
                .ok_or_else(|| UnpackError::BadEntry { path: rel.clone(), reason: "hardlink without a target".into() })?
                .into_owned();
            let target_rel = safe_relative(&raw_target)?
                .ok_or_else(|| UnpackError::BadHardlink { path: rel.clone(), target: raw_target.clone() })?;
            let target_parent = tree.parent(&target_rel, false)?;
            let target_name = target_rel.file_name().unwrap_or(OsStr::new(""));
            match target_parent.stat(target_name) {
                Ok(Some(st)) if !st.is_dir() => {}
                _ => return Err(UnpackError::BadHardlink { path: rel, target: raw_target }),
            }
            if target_rel == rel {
                return Ok(());
            }
            // The entry's own parent again: the target's walk may have
            // moved the chain.
            let parent = tree.parent(&rel, true)?;
            tree.clear(&parent, &name, &rel, false)?;
            // linkat(2) without AT_SYMLINK_FOLLOW links a symlink itself.
            parent.hardlink_at(&name, &target_parent, target_name).map_err(werr)?;
            return Ok(()); // shares the target's inode, owner and mode
        }
        tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
            tree.clear(&parent, &name, &rel, false)?;
            if !make_node(&parent, &name, &rel, kind, device, mode)? {
                return Ok(());
            }
            parent.node(&name).map_err(werr)?
        }
        other => {
            tracing::debug!(path = %rel.display(), kind = ?other, "skipping tar entry of this kind");
            return Ok(());
        }
    };
    set_owner_and_xattrs(made.as_fd(), &rel, uid, gid, &xattrs)?;
    made.chmod(mode).map_err(werr)?;
    if let Some(t) = mtime {
        set_mtime(made.as_fd(), t).map_err(werr)?;
    }
    Ok(())
}

/// Creates a device node or FIFO. Device nodes need CAP_MKNOD: without it
/// they are skipped (as rootless engines do) and `false` is returned.
fn make_node(
    parent: &Dir,
    name: &OsStr,
    rel: &Path,
    kind: tar::EntryType,
    (major, minor): (u32, u32),
    mode: u32,
) -> Result<bool, UnpackError> {
    let nk = match kind {
        tar::EntryType::Char => NodeKind::Char { major, minor },
        tar::EntryType::Block => NodeKind::Block { major, minor },
        _ => NodeKind::Fifo,
    };
    match parent.mknod(name, nk, mode) {
        Ok(()) => Ok(true),
        Err(e) if e.raw_os_error() == Some(libc::EPERM) && !matches!(nk, NodeKind::Fifo) => {
            tracing::warn!(path = %rel.display(), "no privilege to create a device node; skipped");
            Ok(false)
        }
        Err(source) => Err(UnpackError::Write { path: rel.to_path_buf(), source }),
    }
}

fn apply_whiteout(tree: &mut Tree, rel: &Path, name: &OsStr, format: WhiteoutFormat) -> Result<(), UnpackError> {
    let werr = |source| UnpackError::Write { path: rel.to_path_buf(), source };
    let name_bytes = name.as_bytes();
    let parent = tree.parent(rel, true)?;
    if name_bytes == WHITEOUT_OPAQUE.as_bytes() {
        return match format {
            WhiteoutFormat::Overlay => confined::set_xattr(parent.as_fd(), OVERLAY_OPAQUE_XATTR, b"y").map_err(werr),
            WhiteoutFormat::Aufs => marker(tree, &parent, name, rel),
        };
    }
    if name_bytes.starts_with(WHITEOUT_META_PREFIX.as_bytes()) {
        // AUFS bookkeeping (`.wh..wh.plnk`, …): not part of the image.
        tracing::debug!(path = %rel.display(), "skipping AUFS metadata entry");
        return Ok(());
    }
    let hidden = &name_bytes[WHITEOUT_PREFIX.len()..];
    if hidden.is_empty() || hidden == b"." || hidden == b".." || hidden.contains(&b'/') {
        return Err(UnpackError::BadEntry { path: rel.to_path_buf(), reason: "whiteout of an invalid name".into() });
    }
    match format {
        WhiteoutFormat::Overlay => {
            let hidden = OsStr::from_bytes(hidden);
            let hidden_rel = rel.with_file_name(hidden);
            tree.clear(&parent, hidden, &hidden_rel, false)?;
            parent.mknod(hidden, NodeKind::Char { major: 0, minor: 0 }, 0).map_err(werr)
        }
        WhiteoutFormat::Aufs => marker(tree, &parent, name, rel),
    }
}

/// An AUFS marker kept as an empty file.
fn marker(tree: &mut Tree, parent: &Dir, name: &OsStr, rel: &Path) -> Result<(), UnpackError> {
    tree.clear(parent, name, rel, false)?;
    parent.create_file(name, 0o644).map(drop).map_err(|source| UnpackError::Write { path: rel.to_path_buf(), source })
}

/// PAX `SCHILY.xattr.*` records, read before the entry's data.
fn read_xattrs<R: Read>(entry: &mut tar::Entry<'_, R>) -> Result<Vec<(String, Vec<u8>)>, UnpackError> {
    let mut out = Vec::new();
    if let Some(exts) = entry.pax_extensions().map_err(UnpackError::Stream)? {
        for ext in exts {
            let ext = ext.map_err(UnpackError::Stream)?;
            if let Ok(key) = ext.key()
                && let Some(name) = key.strip_prefix("SCHILY.xattr.")
            {
                out.push((name.to_string(), ext.value_bytes().to_vec()));
            }
        }
    }
    Ok(out)
}

/// Ownership as recorded (only root can give files away) and xattrs where
/// the filesystem and our privileges allow, on the inode `fd` holds.
fn set_owner_and_xattrs(
    fd: BorrowedFd<'_>,
    rel: &Path,
    uid: u64,
    gid: u64,
    xattrs: &[(String, Vec<u8>)],
) -> Result<(), UnpackError> {
    static IS_ROOT: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    if *IS_ROOT.get_or_init(|| nix::unistd::geteuid().is_root()) {
        let id = |v: u64| {
            u32::try_from(v).map_err(|_| UnpackError::BadEntry {
                path: rel.to_path_buf(),
                reason: format!("owner id {v} out of range"),
            })
        };
        confined::chown(fd, id(uid)?, id(gid)?)
            .map_err(|source| UnpackError::Write { path: rel.to_path_buf(), source })?;
    }
    for (name, value) in xattrs {
        if let Err(e) = confined::set_xattr(fd, name, value) {
            tracing::debug!(path = %rel.display(), xattr = %name, error = %e, "xattr not applied");
        }
    }
    Ok(())
}

fn set_mtime(fd: BorrowedFd<'_>, secs: u64) -> std::io::Result<()> {
    confined::set_times(fd, i64::try_from(secs).unwrap_or(i64::MAX), 0)
}

#[cfg(test)]
#[path = "tests/unpack.rs"]
pub(crate) mod tests;
