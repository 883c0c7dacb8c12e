//! One directory held by a file descriptor, and every operation on a single
//! name inside it: the `*at` system calls with `AT_SYMLINK_NOFOLLOW` or
//! `O_NOFOLLOW`, so the name's last component is never followed and its
//! parent is the inode already held, whatever the container renames
//! meanwhile.
//!
//! Owns the rule "one component, relative to an fd". It must never accept a
//! name with a `/`, nor `.` or `..`, and never resolve a path string: paths
//! are [`super::Root`]'s (inside a container) or the caller's walk (layers).

use std::ffi::{OsStr, OsString};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::node::{self, Kind, Node, Stat, cstr, cvt};

/// A directory, held by an fd (`O_PATH` or readable).
#[derive(Debug)]
pub struct Dir {
    fd: OwnedFd,
}

/// What [`Dir::mknod`] makes.
#[derive(Clone, Copy, Debug)]
pub enum NodeKind {
    Char { major: u32, minor: u32 },
    Block { major: u32, minor: u32 },
    Fifo,
}

/// A single path component, or EINVAL.
fn component(name: &OsStr) -> std::io::Result<std::ffi::CString> {
    let b = name.as_bytes();
    if b.is_empty() || b == b"." || b == b".." || b.contains(&b'/') {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{name:?} is not a single path component"),
        ));
    }
    cstr(name)
}

fn openat(dir: BorrowedFd<'_>, name: &std::ffi::CStr, flags: libc::c_int, mode: u32) -> std::io::Result<OwnedFd> {
    // SAFETY: openat reads a NUL-terminated name; `dir` is open. The
    // returned descriptor is new and owned by nobody else.
    let fd = unsafe { libc::openat(dir.as_raw_fd(), name.as_ptr(), flags | libc::O_CLOEXEC, mode as libc::c_uint) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by openat and is closed only by this OwnedFd.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

impl Dir {
    /// Wraps a descriptor already known to hold a directory.
    pub(super) fn from_fd(fd: OwnedFd) -> Dir {
        Dir { fd }
    }

    /// Opens a directory of the engine's own (a layer's staging directory,
    /// never a container's), refusing a symlink as its last component.
    pub fn open_own(path: &Path) -> std::io::Result<Dir> {
        let p = cstr(path.as_os_str())?;
        openat(
            // SAFETY: AT_FDCWD is a valid dirfd for the duration of the call.
            unsafe { BorrowedFd::borrow_raw(libc::AT_FDCWD) },
            &p,
            libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW,
            0,
        )
        .map(Dir::from_fd)
    }

    /// The directory's own metadata.
    pub fn stat_self(&self) -> std::io::Result<Stat> {
        node::stat(self.fd.as_fd())
    }

    /// `fstatat(name, AT_SYMLINK_NOFOLLOW)`; `None` when nothing is there.
    pub fn stat(&self, name: &OsStr) -> std::io::Result<Option<Stat>> {
        let c = component(name)?;
        let mut st = std::mem::MaybeUninit::<libc::stat>::zeroed();
        // SAFETY: fstatat writes one `struct stat` into a local of that type
        // and reads a NUL-terminated name; `self.fd` is open.
        let r = unsafe { libc::fstatat(self.fd.as_raw_fd(), c.as_ptr(), st.as_mut_ptr(), libc::AT_SYMLINK_NOFOLLOW) };
        match cvt(r) {
            // SAFETY: fstatat succeeded and filled the (zeroed) struct.
            Ok(()) => Ok(Some(Stat::from_raw(&unsafe { st.assume_init() }))),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The subdirectory `name`; ENOTDIR if it is a symlink or not a directory.
    pub fn dir(&self, name: &OsStr) -> std::io::Result<Dir> {
        let c = component(name)?;
        openat(self.fd.as_fd(), &c, libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW, 0).map(Dir::from_fd)
    }

    /// The inode at `name` itself (a symlink is held, not followed).
    pub fn node(&self, name: &OsStr) -> std::io::Result<Node> {
        let c = component(name)?;
        openat(self.fd.as_fd(), &c, libc::O_PATH | libc::O_NOFOLLOW, 0).map(Node::from_fd)
    }

    /// `name` opened for reading if it is a regular file (O_NONBLOCK, so a
    /// FIFO swapped in does not hang us; the caller checks the fd's type).
    pub fn open_read(&self, name: &OsStr) -> std::io::Result<std::fs::File> {
        let c = component(name)?;
        let f = std::fs::File::from(openat(
            self.fd.as_fd(),
            &c,
            libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY,
            0,
        )?);
        if node::stat(f.as_fd())?.kind != Kind::File {
            return Err(std::io::Error::from_raw_os_error(libc::EINVAL));
        }
        Ok(f)
    }

    /// Creates the directory `name` and returns it, held.
    pub fn mkdir(&self, name: &OsStr, mode: u32) -> std::io::Result<Dir> {
        let c = component(name)?;
        // SAFETY: mkdirat reads a NUL-terminated name; `self.fd` is open.
        cvt(unsafe { libc::mkdirat(self.fd.as_raw_fd(), c.as_ptr(), mode as libc::mode_t) })?;
        self.dir(name)
    }

    /// Creates the regular file `name` (it must not exist), open for writing.
    pub fn create_file(&self, name: &OsStr, mode: u32) -> std::io::Result<std::fs::File> {
        let c = component(name)?;
        openat(self.fd.as_fd(), &c, libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW, mode)
            .map(std::fs::File::from)
    }

    /// Creates the symlink `name -> target`; the target is only data.
    pub fn symlink(&self, name: &OsStr, target: &Path) -> std::io::Result<()> {
        let c = component(name)?;
        let t = cstr(target.as_os_str())?;
        // SAFETY: symlinkat reads two NUL-terminated strings; `self.fd` is open.
        cvt(unsafe { libc::symlinkat(t.as_ptr(), self.fd.as_raw_fd(), c.as_ptr()) })
    }

    /// Creates the device node or FIFO `name`.
    pub fn mknod(&self, name: &OsStr, kind: NodeKind, perm: u32) -> std::io::Result<()> {
        let c = component(name)?;
        let (fmt, dev) = match kind {
            NodeKind::Char { major, minor } => (libc::S_IFCHR, libc::makedev(major, minor)),
            NodeKind::Block { major, minor } => (libc::S_IFBLK, libc::makedev(major, minor)),
            NodeKind::Fifo => (libc::S_IFIFO, 0),
        };
        // SAFETY: mknodat reads a NUL-terminated name; `self.fd` is open.
        cvt(unsafe { libc::mknodat(self.fd.as_raw_fd(), c.as_ptr(), fmt | (perm & 0o7777), dev) })
    }

    /// Hard-links `name` to `from_name` in `from` (a symlink is linked as
    /// itself: no AT_SYMLINK_FOLLOW).
    pub fn hardlink_at(&self, name: &OsStr, from: &Dir, from_name: &OsStr) -> std::io::Result<()> {
        let c = component(name)?;
        let f = component(from_name)?;
        // SAFETY: linkat reads two NUL-terminated names; both fds are open.
        cvt(unsafe { libc::linkat(from.fd.as_raw_fd(), f.as_ptr(), self.fd.as_raw_fd(), c.as_ptr(), 0) })
    }

    /// Hard-links `name` to the inode `node` holds, through the magic link
    /// of this process's fd (no name is looked up again; no
    /// CAP_DAC_READ_SEARCH needed as AT_EMPTY_PATH would).
    pub fn hardlink_node(&self, name: &OsStr, node: &Node) -> std::io::Result<()> {
        let c = component(name)?;
        let p = cstr(OsStr::new(&format!("/proc/self/fd/{}", node.as_fd().as_raw_fd())))?;
        // SAFETY: linkat reads two NUL-terminated names; `self.fd` is open.
        cvt(unsafe {
            libc::linkat(libc::AT_FDCWD, p.as_ptr(), self.fd.as_raw_fd(), c.as_ptr(), libc::AT_SYMLINK_FOLLOW)
        })
    }

    /// Removes the non-directory `name`.
    pub fn unlink(&self, name: &OsStr) -> std::io::Result<()> {
        let c = component(name)?;
        // SAFETY: unlinkat reads a NUL-terminated name; `self.fd` is open.
        cvt(unsafe { libc::unlinkat(self.fd.as_raw_fd(), c.as_ptr(), 0) })
    }

    /// Removes whatever is at `name`, a whole tree included, walking it by
    /// fds; nothing there is not an error. Says whether something was.
    pub fn remove_all(&self, name: &OsStr) -> std::io::Result<bool> {
        let Some(st) = self.stat(name)? else { return Ok(false) };
        if st.kind != Kind::Dir {
            self.unlink(name)?;
            return Ok(true);
        }
        let sub = self.dir(name)?;
        // Read-only directories (a layer's 0555) would refuse the unlinks
        // for a non-root caller.
        if st.perm & 0o700 != 0o700 {
            node::chmod(sub.fd.as_fd(), st.perm | 0o700)?;
        }
        for child in sub.entries()? {
            sub.remove_all(&child)?;
        }
        let c = component(name)?;
        // SAFETY: unlinkat reads a NUL-terminated name; `self.fd` is open.
        cvt(unsafe { libc::unlinkat(self.fd.as_raw_fd(), c.as_ptr(), libc::AT_REMOVEDIR) })?;
        Ok(true)
    }

    /// The names in the directory (without `.` and `..`), read through a
    /// fresh readable fd of this same inode.
    pub fn entries(&self) -> std::io::Result<Vec<OsString>> {
        let fd = openat(self.fd.as_fd(), c".", libc::O_RDONLY | libc::O_DIRECTORY, 0)?;
        let mut d = nix::dir::Dir::from_fd(fd).map_err(std::io::Error::from)?;
        let mut out = Vec::new();
        for e in d.iter() {
            let e = e.map_err(std::io::Error::from)?;
            let n = e.file_name().to_bytes();
            if n != b"." && n != b".." {
                out.push(OsStr::from_bytes(n).to_os_string());
            }
        }
        Ok(out)
    }
}

impl AsFd for Dir {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}
