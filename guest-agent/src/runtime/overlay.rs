//! The container's root filesystem: an overlay of the image's layers with a
//! per-container upper and work dir, and its unmount.
//!
//! mount(2) takes at most one page of options, and a layer path in the
//! image store is about 100 bytes: an image of ~40 layers would not fit.
//! When the plain option string is too long, every layer is opened
//! (`O_PATH`) and named as `/proc/self/fd/N`, ~16 bytes each, which the
//! kernel resolves when the mount is made; the descriptors are closed right
//! after. (`lowerdir+` of the new mount API would do too, but only from
//! Linux 6.8; the guest runs 6.1.)
//!
//! Must never: change the process's working directory (the engine is
//! multi-threaded) or leave a mount behind on error.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::mount::MsFlags;

use super::RuntimeError;

/// Longest option string handed to mount(2): a page, less room for the
/// kernel's own and for `,volatile`.
const MAX_OPTIONS: usize = 4096 - 64;

/// Mounts `layers` (LOWEST first) under `upper`/`work` on `target`.
/// `nodev` makes device nodes on the rootfs unusable (see `spawn.rs`).
pub fn mount(layers: &[PathBuf], upper: &Path, work: &Path, target: &Path, nodev: bool) -> Result<(), RuntimeError> {
    let names: Vec<&str> = layers
        .iter()
        .rev()
        .map(|l| {
            l.to_str().filter(|s| !s.contains([',', ':']) && s.starts_with('/')).ok_or_else(|| {
                RuntimeError::InvalidRequest(format!("layer path {} cannot be given to overlayfs", l.display()))
            })
        })
        .collect::<Result<_, _>>()?;
    let tail = format!("upperdir={},workdir={}", upper.display(), work.display());
    let plain = format!("lowerdir={},{tail}", names.join(":"));
    // Held until the mount is made: the /proc/self/fd names point at them.
    let mut held: Vec<OwnedFd> = Vec::new();
    let data = if plain.len() <= MAX_OPTIONS {
        plain
    } else {
        let mut fds = Vec::with_capacity(names.len());
        for name in &names {
            let fd = nix::fcntl::open(
                *name,
                nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_CLOEXEC,
                nix::sys::stat::Mode::empty(),
            )
            .map_err(|e| RuntimeError::io("open layer", name)(e.into()))?;
            fds.push(format!("/proc/self/fd/{}", fd.as_raw_fd()));
            held.push(fd);
        }
        let data = format!("lowerdir={},{tail}", fds.join(":"));
        if data.len() > MAX_OPTIONS {
            return Err(RuntimeError::InvalidRequest(format!(
                "an image of {} layers is more than overlayfs can stack in one mount",
                layers.len()
            )));
        }
        data
    };
    let flags = if nodev { MsFlags::MS_NODEV } else { MsFlags::empty() };
    let mount = |data: &str| nix::mount::mount(Some("overlay"), target, Some("overlay"), flags, Some(data));
    // `volatile` (Linux 5.10+) skips overlayfs's sync of the upper
    // filesystem at unmount and on fsync: the upper dir lives only as long
    // as the shim (delete removes it), so a crash loses nothing that would
    // have been kept. The sync at unmount cost 15-400 ms per container on
    // a busy disk. Older kernels reject the option: mount without it.
    let made = match mount(&format!("{data},volatile")) {
        Ok(()) => Ok(()),
        Err(Errno::EINVAL) => mount(&data),
        Err(e) => Err(e),
    };
    drop(held);
    made.map_err(|e| RuntimeError::io("mount overlay on", target)(e.into()))
}

pub fn unmount(target: &Path) -> Result<(), RuntimeError> {
    match nix::mount::umount2(target, nix::mount::MntFlags::MNT_DETACH) {
        Ok(()) | Err(Errno::EINVAL) | Err(Errno::ENOENT) => Ok(()),
        Err(e) => Err(RuntimeError::io("unmount", target)(e.into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_root() -> bool {
        nix::unistd::geteuid().is_root()
    }

    #[test]
    fn bad_layer_paths_are_refused_before_mounting() {
        let t = Path::new("/nonexistent");
        for bad in ["/a,b", "/a:b", "relative"] {
            let err = mount(&[PathBuf::from(bad)], t, t, t, true).expect_err(bad);
            assert!(err.to_string().contains("cannot be given to overlayfs"), "{err}");
        }
    }

    /// 60 layers with store-like paths (~110 bytes each: 6.6 KB of plain
    /// options) stack in one mount, top-most layer wins, each layer's own
    /// file is visible, and the rootfs is nodev.
    #[test]
    fn sixty_long_layers_mount_in_order() {
        if !is_root() {
            eprintln!("skipped: needs root for mount(2)");
            return;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let mut layers = Vec::new();
        for i in 0..60 {
            let l = dir.path().join(format!("layers/sha256/{i:0>64}/diff"));
            std::fs::create_dir_all(&l).expect("layer");
            std::fs::write(l.join(format!("f{i}")), "x").expect("file");
            std::fs::write(l.join("top"), i.to_string()).expect("file");
            layers.push(l);
        }
        let plain: usize = layers.iter().map(|l| l.as_os_str().len() + 1).sum();
        assert!(plain > 4096, "the test must exceed a page: {plain}");
        let (upper, work, target) = (dir.path().join("u"), dir.path().join("w"), dir.path().join("r"));
        for d in [&upper, &work, &target] {
            std::fs::create_dir(d).expect("dir");
        }
        mount(&layers, &upper, &work, &target, true).expect("60 layers mount");
        let seen =
            (std::fs::read_to_string(target.join("top")).ok(), target.join("f0").exists(), target.join("f59").exists());
        let nodev = nix::sys::statvfs::statvfs(&target)
            .map(|s| s.flags().contains(nix::sys::statvfs::FsFlags::ST_NODEV))
            .unwrap_or(false);
        unmount(&target).expect("unmount");
        assert_eq!(seen, (Some("59".to_string()), true, true), "the last layer is on top");
        assert!(nodev, "the rootfs is nodev");
    }
}
