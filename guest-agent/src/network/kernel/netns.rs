//! Network namespaces as files, as libnetwork's sandboxes are: a new
//! namespace made on a thread of its own and bind-mounted on a file, which
//! keeps it alive with no process in it; the container's spec joins it by
//! path. Work inside one runs on a thread that entered it (a socket made
//! there stays in that namespace for good).
//!
//! It must never change the namespace of a thread it did not start.

use std::os::fd::AsFd;
use std::path::Path;

use nix::mount::{MntFlags, MsFlags};
use nix::sched::CloneFlags;

use super::KernelError;

/// `NSFS_MAGIC`: the file system of a namespace file.
const NSFS_MAGIC: i64 = 0x6e73_6673;

/// Is `path` a namespace bind mount (not just the empty file under it)?
pub fn exists(path: &Path) -> bool {
    nix::sys::statfs::statfs(path).is_ok_and(|s| s.filesystem_type().0 == NSFS_MAGIC)
}

/// A new network namespace on `path` (the file is made); nothing when one
/// is there already.
pub fn create(path: &Path) -> Result<(), KernelError> {
    if exists(path) {
        return Ok(());
    }
    let what = format!("network namespace {}", path.display());
    std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(path).map_err(KernelError::io(&what))?;
    let target = path.to_path_buf();
    let made = std::thread::spawn(move || -> std::io::Result<()> {
        nix::sched::unshare(CloneFlags::CLONE_NEWNET)?;
        nix::mount::mount(Some("/proc/thread-self/ns/net"), &target, None::<&str>, MsFlags::MS_BIND, None::<&str>)?;
        Ok(())
    })
    .join()
    .unwrap_or_else(|_| Err(std::io::Error::other("the namespace thread panicked")));
    if let Err(e) = made {
        let _ = std::fs::remove_file(path);
        return Err(KernelError::io(what)(e));
    }
    Ok(())
}

/// Unmounts and removes a namespace file; the namespace goes (and the
/// veths in it with their peers) once no process is left in it.
pub fn remove(path: &Path) -> Result<(), KernelError> {
    let what = format!("remove network namespace {}", path.display());
    match nix::mount::umount2(path, MntFlags::MNT_DETACH) {
        Ok(()) | Err(nix::errno::Errno::EINVAL | nix::errno::Errno::ENOENT) => {}
        Err(e) => return Err(KernelError::io(&what)(e.into())),
    }
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(KernelError::io(what)(e)),
    }
}

/// Runs `f` on a new thread that entered the namespace at `path` (the
/// engine's own when `None`).
pub fn run_in<T: Send + 'static>(
    path: Option<&Path>,
    f: impl FnOnce() -> Result<T, KernelError> + Send + 'static,
) -> Result<T, KernelError> {
    let ns = match path {
        Some(p) => Some(std::fs::File::open(p).map_err(KernelError::io(format!("open {}", p.display())))?),
        None => None,
    };
    std::thread::spawn(move || {
        if let Some(ns) = ns {
            nix::sched::setns(ns.as_fd(), CloneFlags::CLONE_NEWNET)
                .map_err(|e| KernelError::io("enter a network namespace")(e.into()))?;
        }
        f()
    })
    .join()
    .unwrap_or_else(|_| Err(KernelError::io("network namespace thread")(std::io::Error::other("panicked"))))
}
