//! Making the guest's root one that containers can `pivot_root` away from.
//!
//! The agent is PID 1 of an initramfs: its root is the kernel's rootfs,
//! the one mount without a parent, and pivot_root(2) refuses (EINVAL) to
//! move a process off a root that has no parent. libcontainer pivots every
//! container's init, so in the VM every container failed to start with
//! "failed to pivot root". The fix is what switch_root does: bind the root
//! onto a directory of itself, move that mount over `/`, and chroot into
//! it. The new root is an ordinary mount whose parent is rootfs, and every
//! process started afterwards (the engine, shims, containers) inherits it.
//!
//! Must never: run anywhere but in PID 1 before anything else is mounted
//! (submounts would stay behind on the old root), or touch a root that is
//! not an initramfs.

use std::path::Path;

use nix::mount::MsFlags;

use super::RuntimeError;

/// Where the root is bound before it is moved over `/`; removed afterwards.
const STAGING: &str = "/.berth-root";

/// Does it if `/` is an initramfs (ramfs or tmpfs); says whether it did.
pub fn make_root_pivotable() -> Result<bool, RuntimeError> {
    let root = nix::sys::statfs::statfs("/").map_err(|e| RuntimeError::io("statfs", "/")(e.into()))?;
    // ramfs's magic (linux/magic.h; neither libc nor nix names it).
    const RAMFS_MAGIC: nix::sys::statfs::FsType = nix::sys::statfs::FsType(0x8584_58f6);
    let magic = root.filesystem_type();
    if magic != RAMFS_MAGIC && magic != nix::sys::statfs::TMPFS_MAGIC {
        return Ok(false);
    }
    let staging = Path::new(STAGING);
    let io = |what: &'static str| move |e: nix::errno::Errno| RuntimeError::io(what, STAGING)(e.into());
    match std::fs::create_dir(staging) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(RuntimeError::io("create", staging)(e)),
    }
    nix::mount::mount(Some("/"), staging, None::<&str>, MsFlags::MS_BIND | MsFlags::MS_REC, None::<&str>)
        .map_err(io("bind / on"))?;
    nix::unistd::chdir(staging).map_err(io("enter"))?;
    nix::mount::mount(Some("."), "/", None::<&str>, MsFlags::MS_MOVE, None::<&str>).map_err(io("move over /"))?;
    nix::unistd::chroot(".").map_err(io("chroot into"))?;
    nix::unistd::chdir("/").map_err(io("enter /"))?;
    // Seen from the new root, the staging directory is an empty directory.
    let _ = std::fs::remove_dir(staging);
    Ok(true)
}
