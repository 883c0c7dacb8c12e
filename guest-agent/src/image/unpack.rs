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
//! - every existing parent of an entry is `lstat`ed: a symlink (or a
//!   non-directory) anywhere on the way is an error, so a layer cannot plant
//!   `link -> /etc` and then write `link/passwd`; hardlink targets get the
//!   same check, so a link cannot reach outside either;
//! - files are created with `O_CREAT|O_EXCL|O_NOFOLLOW` after removing what
//!   was there, so a planted symlink is never written through;
//! - the entry's byte count is checked (a truncated stream fails instead of
//!   leaving a short file), and the uncompressed (diffID) and compressed
//!   digests are checked at the end when the caller knows them.
//!
//! Whiteouts: as root they become overlayfs's own form (a 0:0 character
//! device for `.wh.name`, `trusted.overlay.opaque=y` for `.wh..wh..opq`);
//! without the privilege for that (unit tests as a user) the AUFS marker
//! files are kept as they are, and [`WhiteoutFormat`] records which.

use std::cell::RefCell;
use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};
use std::rc::Rc;

use nix::sys::stat::{Mode, SFlag, UtimensatFlags};
use nix::sys::time::TimeSpec;

use super::digest::{Digest, HashState, HashingReader};
use super::fsutil;
use crate::durable;

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
    std::fs::create_dir(root).map_err(|source| UnpackError::Write { path: root.to_path_buf(), source })?;
    std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o755))
        .map_err(|source| UnpackError::Write { path: root.to_path_buf(), source })?;
    let (compressed_reader, compressed_state) = HashingReader::new(stream);
    let decoder = decompress(BufReader::with_capacity(256 * 1024, compressed_reader))?;
    let (tar_reader, diff_state) = HashingReader::new(decoder);
    let mut archive = tar::Archive::new(tar_reader);
    let mut dirs = Vec::new();
    let mut known = KnownDirs::default();
    let entries = archive.entries().map_err(UnpackError::Stream)?;
    for entry in entries {
        let mut entry = entry.map_err(UnpackError::Stream)?;
        if let Some(dir) = apply_entry(root, &mut entry, whiteouts, &mut known)? {
            dirs.push(dir);
        }
    }
    // The tar ends before the end of the decompressed stream (padding), and
    // the digests cover every byte: read both streams to their ends.
    let mut rest = archive.into_inner();
    std::io::copy(&mut rest, &mut std::io::sink()).map_err(UnpackError::Stream)?;
    drop(rest);
    // Directory times and modes last: writing children changes a directory's
    // mtime, and a read-only directory would refuse them.
    for d in dirs.iter().rev() {
        d.apply()?;
    }
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

/// Mode and times of a directory, applied after its contents.
struct DirMeta {
    path: PathBuf,
    mode: u32,
    mtime: Option<u64>,
}

impl DirMeta {
    fn apply(&self) -> Result<(), UnpackError> {
        let werr = |source| UnpackError::Write { path: self.path.clone(), source };
        std::fs::set_permissions(&self.path, std::fs::Permissions::from_mode(self.mode)).map_err(werr)?;
        if let Some(t) = self.mtime {
            set_mtime(&self.path, t).map_err(werr)?;
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

/// Directories of this unpack already seen to be real directories, so that
/// the parents of each of a layer's thousands of entries are not `lstat`ed
/// again and again. Only this unpack writes the tree, and only by entries;
/// whenever an entry removes something that existed (which might be one of
/// these directories or a parent of one), the whole set is forgotten.
#[derive(Default)]
struct KnownDirs(std::collections::HashSet<PathBuf>);

impl KnownDirs {
    fn forget_if(&mut self, removed: bool) {
        if removed {
            self.0.clear();
        }
    }
}

/// Walks the parents of `rel` under `root`: creates missing ones (tars may
/// list a file before its directory), refuses symlinks and non-directories.
fn ensure_parents(root: &Path, rel: &Path, create: bool, known: &mut KnownDirs) -> Result<(), UnpackError> {
    let mut cur = root.to_path_buf();
    let mut cur_rel = PathBuf::new();
    let parent_components = rel.parent().map(|p| p.components().count()).unwrap_or(0);
    for c in rel.components().take(parent_components) {
        cur.push(c);
        cur_rel.push(c);
        if known.0.contains(&cur_rel) {
            continue;
        }
        match std::fs::symlink_metadata(&cur) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(UnpackError::SymlinkParent { path: rel.to_path_buf(), via: strip(root, &cur) });
            }
            Ok(m) if m.is_dir() => {
                known.0.insert(cur_rel.clone());
            }
            Ok(_) => return Err(UnpackError::NotADirectory { path: rel.to_path_buf(), via: strip(root, &cur) }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && create => {
                std::fs::create_dir(&cur).map_err(|source| UnpackError::Write { path: cur.clone(), source })?;
                std::fs::set_permissions(&cur, std::fs::Permissions::from_mode(0o755))
                    .map_err(|source| UnpackError::Write { path: cur.clone(), source })?;
                known.0.insert(cur_rel.clone());
            }
            Err(source) => return Err(UnpackError::Write { path: cur.clone(), source }),
        }
    }
    Ok(())
}

fn strip(root: &Path, p: &Path) -> PathBuf {
    p.strip_prefix(root).unwrap_or(p).to_path_buf()
}

/// Removes whatever is at `path` unless it is a directory that the new
/// entry (also a directory) would merge into. Never follows a symlink.
/// Says whether something was removed (see [`KnownDirs`]).
fn clear_for(path: &Path, new_is_dir: bool) -> std::io::Result<bool> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() && new_is_dir => Ok(false),
        Ok(_) => fsutil::remove_any(path).map(|()| true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

fn apply_entry<R: Read>(
    root: &Path,
    entry: &mut tar::Entry<'_, R>,
    whiteouts: WhiteoutFormat,
    known: &mut KnownDirs,
) -> Result<Option<DirMeta>, UnpackError> {
    let raw_path = entry.path().map_err(UnpackError::Stream)?.into_owned();
    let Some(rel) = safe_relative(&raw_path)? else {
        return Ok(None); // the layer root itself: the store decides its mode
    };
    let kind = entry.header().entry_type();
    let name = rel.file_name().unwrap_or(OsStr::new("")).to_os_string();
    let name_bytes = name.as_bytes();

    if name_bytes.starts_with(WHITEOUT_PREFIX.as_bytes()) {
        return apply_whiteout(root, &rel, name_bytes, whiteouts, known).map(|()| None);
    }

    ensure_parents(root, &rel, true, known)?;
    let path = root.join(&rel);
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

    match kind {
        tar::EntryType::Directory => {
            let removed = clear_for(&path, true).map_err(werr)?;
            known.forget_if(removed);
            if !path.is_dir() {
                std::fs::create_dir(&path).map_err(werr)?;
            }
            // Writable for us until its children are in; real mode at the end.
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o700)).map_err(werr)?;
            set_owner_and_xattrs(&path, &rel, uid, gid, &xattrs)?;
            return Ok(Some(DirMeta { path, mode, mtime }));
        }
        tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => {
            let removed = clear_for(&path, false).map_err(werr)?;
            known.forget_if(removed);
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&path)
                .map_err(werr)?;
            let want = entry.size();
            // Large writes: tar hands out data in small pieces.
            let mut w = std::io::BufWriter::with_capacity(256 * 1024, &mut f);
            let got = std::io::copy(entry, &mut w).map_err(UnpackError::Stream)?;
            std::io::Write::flush(&mut w).map_err(werr)?;
            drop(w);
            if got != want {
                return Err(UnpackError::Truncated { path: rel, got, want });
            }
            drop(f);
            set_owner_and_xattrs(&path, &rel, uid, gid, &xattrs)?;
            // After chown: chown clears set-id bits.
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).map_err(werr)?;
        }
        tar::EntryType::Symlink => {
            let target = entry.link_name().map_err(UnpackError::Stream)?.ok_or_else(|| UnpackError::BadEntry {
                path: rel.clone(),
                reason: "symlink without a target".into(),
            })?;
            let removed = clear_for(&path, false).map_err(werr)?;
            known.forget_if(removed);
            // The target is only data: it is resolved inside the container's
            // root at run time, never by us.
            std::os::unix::fs::symlink(&target, &path).map_err(werr)?;
            set_owner_and_xattrs(&path, &rel, uid, gid, &xattrs)?;
        }
        tar::EntryType::Link => {
            let raw_target = entry
                .link_name()
                .map_err(UnpackError::Stream)?
                .ok_or_else(|| UnpackError::BadEntry { path: rel.clone(), reason: "hardlink without a target".into() })?
                .into_owned();
            let target_rel = safe_relative(&raw_target)?
                .ok_or_else(|| UnpackError::BadHardlink { path: rel.clone(), target: raw_target.clone() })?;
            ensure_parents(root, &target_rel, false, known)?;
            let target = root.join(&target_rel);
            match std::fs::symlink_metadata(&target) {
                Ok(m) if !m.is_dir() => {}
                _ => return Err(UnpackError::BadHardlink { path: rel, target: raw_target }),
            }
            if target == path {
                return Ok(None);
            }
            let removed = clear_for(&path, false).map_err(werr)?;
            known.forget_if(removed);
            // link(2) does not follow a symlink target: it links the symlink.
            std::fs::hard_link(&target, &path).map_err(werr)?;
            return Ok(None); // shares the target's inode, owner and mode
        }
        tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
            let removed = clear_for(&path, false).map_err(werr)?;
            known.forget_if(removed);
            if !make_node(&path, &rel, kind, device, mode)? {
                return Ok(None);
            }
            set_owner_and_xattrs(&path, &rel, uid, gid, &xattrs)?;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).map_err(werr)?;
        }
        other => {
            tracing::debug!(path = %rel.display(), kind = ?other, "skipping tar entry of this kind");
            return Ok(None);
        }
    }
    if let Some(t) = mtime {
        set_mtime(&path, t).map_err(werr)?;
    }
    Ok(None)
}

/// Creates a device node or FIFO. Device nodes need CAP_MKNOD: without it
/// they are skipped (as rootless engines do) and `false` is returned.
fn make_node(
    path: &Path,
    rel: &Path,
    kind: tar::EntryType,
    (major, minor): (u32, u32),
    mode: u32,
) -> Result<bool, UnpackError> {
    let werr = |e: nix::Error| UnpackError::Write { path: rel.to_path_buf(), source: e.into() };
    let perm = Mode::from_bits_truncate(mode);
    if kind == tar::EntryType::Fifo {
        nix::unistd::mkfifo(path, perm).map_err(werr)?;
        return Ok(true);
    }
    let sflag = if kind == tar::EntryType::Char { SFlag::S_IFCHR } else { SFlag::S_IFBLK };
    match nix::sys::stat::mknod(path, sflag, perm, nix::sys::stat::makedev(major.into(), minor.into())) {
        Ok(()) => Ok(true),
        Err(nix::Error::EPERM) => {
            tracing::warn!(path = %rel.display(), "no privilege to create a device node; skipped");
            Ok(false)
        }
        Err(e) => Err(werr(e)),
    }
}

fn apply_whiteout(
    root: &Path,
    rel: &Path,
    name: &[u8],
    format: WhiteoutFormat,
    known: &mut KnownDirs,
) -> Result<(), UnpackError> {
    let werr = |source| UnpackError::Write { path: rel.to_path_buf(), source };
    ensure_parents(root, rel, true, known)?;
    let dir = root.join(rel.parent().unwrap_or(Path::new("")));
    if name == WHITEOUT_OPAQUE.as_bytes() {
        return match format {
            WhiteoutFormat::Overlay => xattr::set(&dir, OVERLAY_OPAQUE_XATTR, b"y").map_err(werr),
            WhiteoutFormat::Aufs => std::fs::write(root.join(rel), b"").map_err(werr),
        };
    }
    if name.starts_with(WHITEOUT_META_PREFIX.as_bytes()) {
        // AUFS bookkeeping (`.wh..wh.plnk`, …): not part of the image.
        tracing::debug!(path = %rel.display(), "skipping AUFS metadata entry");
        return Ok(());
    }
    let hidden = &name[WHITEOUT_PREFIX.len()..];
    if hidden.is_empty() || hidden == b"." || hidden == b".." || hidden.contains(&b'/') {
        return Err(UnpackError::BadEntry { path: rel.to_path_buf(), reason: "whiteout of an invalid name".into() });
    }
    match format {
        WhiteoutFormat::Overlay => {
            let target = dir.join(OsStr::from_bytes(hidden));
            let removed = clear_for(&target, false).map_err(werr)?;
            known.forget_if(removed);
            nix::sys::stat::mknod(&target, SFlag::S_IFCHR, Mode::empty(), 0)
                .map_err(|e| UnpackError::Write { path: rel.to_path_buf(), source: e.into() })
        }
        WhiteoutFormat::Aufs => {
            let p = root.join(rel);
            let removed = clear_for(&p, false).map_err(werr)?;
            known.forget_if(removed);
            std::fs::write(p, b"").map_err(werr)
        }
    }
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
/// the filesystem and our privileges allow; neither follows a symlink.
fn set_owner_and_xattrs(
    path: &Path,
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
        std::os::unix::fs::lchown(path, Some(id(uid)?), Some(id(gid)?))
            .map_err(|source| UnpackError::Write { path: rel.to_path_buf(), source })?;
    }
    for (name, value) in xattrs {
        if let Err(e) = xattr::set(path, name, value) {
            tracing::debug!(path = %rel.display(), xattr = %name, error = %e, "xattr not applied");
        }
    }
    Ok(())
}

fn set_mtime(path: &Path, secs: u64) -> std::io::Result<()> {
    let t = TimeSpec::new(i64::try_from(secs).unwrap_or(i64::MAX), 0);
    nix::sys::stat::utimensat(nix::fcntl::AT_FDCWD, path, &t, &t, UtimensatFlags::NoFollowSymlink).map_err(Into::into)
}

#[cfg(test)]
#[path = "tests/unpack.rs"]
pub(crate) mod tests;
