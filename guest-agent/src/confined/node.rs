//! One inode held by a file descriptor (usually `O_PATH|O_NOFOLLOW`, so a
//! symlink is held as itself), and every metadata change made through such
//! a descriptor: stat, mode, owner, times, xattrs, a symlink's target.
//!
//! Owns the rule that metadata is changed on the inode already held, never
//! by looking a name up again. It must never take a path to operate on:
//! where the kernel has no fd form for an O_PATH descriptor (chmod before
//! fchmodat2, setxattr), the inode is reached through this process's own
//! `/proc/self/fd/N`, a magic link that jumps to exactly that inode and is
//! not re-resolved from any name the container controls.

use std::ffi::{CString, OsStr, OsString};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;

/// What kind of inode a descriptor holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Dir,
    File,
    Symlink,
    Char,
    Block,
    Fifo,
    Socket,
}

/// The fields of `stat(2)` that archives and the stat header use.
#[derive(Clone, Copy, Debug)]
pub struct Stat {
    pub kind: Kind,
    /// Permission bits with set-id and sticky (`mode & 0o7777`).
    pub perm: u32,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    pub mtime: i64,
    pub mtime_nsec: i64,
    pub dev: u64,
    pub ino: u64,
    pub nlink: u64,
    pub rdev: u64,
}

impl Stat {
    pub(super) fn from_raw(st: &libc::stat) -> Stat {
        let kind = match st.st_mode & libc::S_IFMT {
            libc::S_IFDIR => Kind::Dir,
            libc::S_IFLNK => Kind::Symlink,
            libc::S_IFCHR => Kind::Char,
            libc::S_IFBLK => Kind::Block,
            libc::S_IFIFO => Kind::Fifo,
            libc::S_IFSOCK => Kind::Socket,
            _ => Kind::File,
        };
        Stat {
            kind,
            perm: st.st_mode & 0o7777,
            uid: st.st_uid,
            gid: st.st_gid,
            size: u64::try_from(st.st_size).unwrap_or(0),
            mtime: st.st_mtime,
            mtime_nsec: st.st_mtime_nsec,
            dev: st.st_dev,
            ino: st.st_ino,
            nlink: st.st_nlink,
            rdev: st.st_rdev,
        }
    }

    pub fn is_dir(&self) -> bool {
        self.kind == Kind::Dir
    }

    /// Whether two stats are of the same inode.
    pub fn same_inode(&self, other: &Stat) -> bool {
        (self.dev, self.ino) == (other.dev, other.ino)
    }
}

/// Turns a `-1` return into the thread's errno.
pub(super) fn cvt(r: libc::c_int) -> std::io::Result<()> {
    if r < 0 { Err(std::io::Error::last_os_error()) } else { Ok(()) }
}

pub(super) fn cstr(s: &OsStr) -> std::io::Result<CString> {
    CString::new(s.as_bytes()).map_err(|_| std::io::Error::from_raw_os_error(libc::EINVAL))
}

/// This process's own magic link to `fd`'s inode.
fn proc_fd(fd: BorrowedFd<'_>) -> CString {
    // A decimal number never holds a NUL.
    CString::new(format!("/proc/self/fd/{}", fd.as_raw_fd())).unwrap_or_default()
}

/// `fstat(2)` of any descriptor, O_PATH ones included.
pub fn stat(fd: BorrowedFd<'_>) -> std::io::Result<Stat> {
    let mut st = std::mem::MaybeUninit::<libc::stat>::zeroed();
    // SAFETY: fstat writes one `struct stat` through a pointer to a local
    // of that type; `fd` is open for the call.
    cvt(unsafe { libc::fstat(fd.as_raw_fd(), st.as_mut_ptr()) })?;
    // SAFETY: fstat succeeded, so it filled the struct (zeroed before).
    Ok(Stat::from_raw(&unsafe { st.assume_init() }))
}

/// Sets the permission bits of the inode `fd` holds. A symlink has none on
/// Linux: nothing is done for one.
pub fn chmod(fd: BorrowedFd<'_>, mode: u32) -> std::io::Result<()> {
    let st = stat(fd)?;
    if st.kind == Kind::Symlink {
        return Ok(());
    }
    let empty = c"";
    // SAFETY: fchmodat2 reads a NUL-terminated string that lives across
    // the call; `fd` is open.
    let r = unsafe {
        libc::syscall(libc::SYS_fchmodat2, fd.as_raw_fd(), empty.as_ptr(), mode as libc::mode_t, libc::AT_EMPTY_PATH)
    };
    if r == 0 {
        return Ok(());
    }
    let e = std::io::Error::last_os_error();
    if !matches!(e.raw_os_error(), Some(libc::ENOSYS | libc::EINVAL | libc::EOPNOTSUPP)) {
        return Err(e);
    }
    // Before Linux 6.6: through the magic link (the inode is not a symlink,
    // so following the link ends on it).
    let p = proc_fd(fd);
    // SAFETY: chmod reads a NUL-terminated string that lives across the call.
    cvt(unsafe { libc::chmod(p.as_ptr(), mode as libc::mode_t) })
}

/// Sets the owner of the inode itself (a symlink's own, never its target's).
pub fn chown(fd: BorrowedFd<'_>, uid: u32, gid: u32) -> std::io::Result<()> {
    // SAFETY: the empty path is a NUL-terminated literal; `fd` is open.
    cvt(unsafe { libc::fchownat(fd.as_raw_fd(), c"".as_ptr(), uid, gid, libc::AT_EMPTY_PATH) })
}

/// Sets access and modification times of the inode itself.
pub fn set_times(fd: BorrowedFd<'_>, secs: i64, nsecs: i64) -> std::io::Result<()> {
    let t = libc::timespec { tv_sec: secs, tv_nsec: nsecs };
    let times = [t, t];
    // SAFETY: utimensat reads two timespecs from a live local array and an
    // empty NUL-terminated path; `fd` is open.
    let r = unsafe { libc::utimensat(fd.as_raw_fd(), c"".as_ptr(), times.as_ptr(), libc::AT_EMPTY_PATH) };
    match cvt(r) {
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) || e.raw_os_error() == Some(libc::ENOENT) => {
            // A kernel without AT_EMPTY_PATH here: the magic link, which
            // lands on the inode (a symlink included) without following it.
            let p = proc_fd(fd);
            // SAFETY: as above, with a NUL-terminated path that outlives the call.
            cvt(unsafe { libc::utimensat(libc::AT_FDCWD, p.as_ptr(), times.as_ptr(), 0) })
        }
        other => other,
    }
}

/// Sets one extended attribute on the inode itself.
pub fn set_xattr(fd: BorrowedFd<'_>, name: &str, value: &[u8]) -> std::io::Result<()> {
    let name = CString::new(name).map_err(|_| std::io::Error::from_raw_os_error(libc::EINVAL))?;
    let p = proc_fd(fd);
    // SAFETY: setxattr reads two NUL-terminated strings and `value.len()`
    // bytes from a live slice, all outliving the call.
    let r = unsafe { libc::setxattr(p.as_ptr(), name.as_ptr(), value.as_ptr().cast(), value.len(), 0) };
    if r < 0 { Err(std::io::Error::last_os_error()) } else { Ok(()) }
}

/// One extended attribute of the inode itself; None when it has none of
/// that name (or the filesystem keeps none).
pub fn get_xattr(fd: BorrowedFd<'_>, name: &str) -> std::io::Result<Option<Vec<u8>>> {
    let name = CString::new(name).map_err(|_| std::io::Error::from_raw_os_error(libc::EINVAL))?;
    let p = proc_fd(fd);
    let mut buf = vec![0u8; 256];
    // SAFETY: getxattr reads two NUL-terminated strings that outlive the
    // call and writes at most `buf.len()` bytes into a live buffer. The
    // magic link jumps to exactly `fd`'s inode (callers hold directories).
    let n = unsafe { libc::getxattr(p.as_ptr(), name.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        let e = std::io::Error::last_os_error();
        return match e.raw_os_error() {
            Some(libc::ENODATA | libc::ENOTSUP) => Ok(None),
            _ => Err(e),
        };
    }
    buf.truncate(n as usize);
    Ok(Some(buf))
}

/// A symlink's target, as stored (never resolved).
pub fn readlink(fd: BorrowedFd<'_>) -> std::io::Result<PathBuf> {
    readlink_at(fd, c"")
}

pub(super) fn readlink_at(fd: BorrowedFd<'_>, name: &std::ffi::CStr) -> std::io::Result<PathBuf> {
    let mut buf = vec![0u8; libc::PATH_MAX as usize];
    // SAFETY: readlinkat writes at most `buf.len()` bytes into a live
    // buffer and reads a NUL-terminated name; `fd` is open.
    let n = unsafe { libc::readlinkat(fd.as_raw_fd(), name.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        return Err(std::io::Error::last_os_error());
    }
    buf.truncate(n as usize);
    Ok(PathBuf::from(OsString::from_vec(buf)))
}

/// Where the inode `fd` holds is now, as this process's `/proc` reports it:
/// for messages and for telling the container where a link ends, never
/// for opening again.
pub(super) fn current_path(fd: BorrowedFd<'_>) -> std::io::Result<PathBuf> {
    std::fs::read_link(OsStr::from_bytes(proc_fd(fd).as_bytes()))
}

/// Any inode, held by a descriptor.
#[derive(Debug)]
pub struct Node {
    fd: OwnedFd,
}

impl Node {
    pub(super) fn from_fd(fd: OwnedFd) -> Node {
        Node { fd }
    }

    pub fn stat(&self) -> std::io::Result<Stat> {
        stat(self.fd.as_fd())
    }

    pub fn readlink(&self) -> std::io::Result<PathBuf> {
        readlink(self.fd.as_fd())
    }

    pub fn chmod(&self, mode: u32) -> std::io::Result<()> {
        chmod(self.fd.as_fd(), mode)
    }

    pub fn chown(&self, uid: u32, gid: u32) -> std::io::Result<()> {
        chown(self.fd.as_fd(), uid, gid)
    }

    pub fn set_times(&self, secs: i64, nsecs: i64) -> std::io::Result<()> {
        set_times(self.fd.as_fd(), secs, nsecs)
    }

    pub fn set_xattr(&self, name: &str, value: &[u8]) -> std::io::Result<()> {
        set_xattr(self.fd.as_fd(), name, value)
    }

    /// The inode opened for reading: a regular file only (opening a device
    /// or a FIFO would act on it; a symlink is refused by pathrs).
    pub fn open_read(&self) -> std::io::Result<std::fs::File> {
        if self.stat()?.kind != Kind::File {
            return Err(std::io::Error::from_raw_os_error(libc::EINVAL));
        }
        pathrs::HandleRef::from_fd(self.fd.as_fd())
            .reopen(pathrs::flags::OpenFlags::O_RDONLY | pathrs::flags::OpenFlags::O_NONBLOCK)
            .map_err(super::error::from_pathrs)
    }
}

impl AsFd for Node {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl From<Node> for OwnedFd {
    fn from(n: Node) -> OwnedFd {
        n.fd
    }
}
