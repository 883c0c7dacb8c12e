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
/// `volatile` for an upper dir that will not outlive this mount.
pub fn mount(
    layers: &[PathBuf],
    upper: &Path,
    work: &Path,
    target: &Path,
    nodev: bool,
    volatile: bool,
) -> Result<(), RuntimeError> {
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
    // filesystem at unmount and on fsync: for an upper dir removed with the
    // mount (`--rm`, or one in the runtime's state dir) a crash loses
    // nothing that would have been kept. The sync at unmount cost 15-400 ms
    // per container on a busy disk. Older kernels reject the option: mount
    // without it.
    let made = match volatile {
        true => match mount(&format!("{data},volatile")) {
            Ok(()) => Ok(()),
            Err(Errno::EINVAL) => mount(&data),
            Err(e) => Err(e),
        },
        false => mount(&data),
    };
    drop(held);
    made.map_err(|e| RuntimeError::io("mount overlay on", target)(e.into()))
}

/// An image's layers mounted for reading, with no container: what a
/// build's `COPY --from` reads. The upper dir stays empty (nothing writes
/// through the view, which is mounted read-only); the mount and its
/// directory go when the view is dropped.
pub struct LayerView {
    dir: PathBuf,
    root: PathBuf,
}

impl LayerView {
    /// Mounts `layers` (LOWEST first) under `dir`, which must not exist.
    pub fn mount(layers: &[PathBuf], dir: &Path) -> Result<LayerView, RuntimeError> {
        let (upper, work, root) = (dir.join("upper"), dir.join("work"), dir.join("root"));
        for d in [&upper, &work, &root] {
            std::fs::create_dir_all(d).map_err(RuntimeError::io("create", d))?;
        }
        let view = LayerView { dir: dir.to_path_buf(), root };
        mount(layers, &upper, &work, &view.root, true, true)?;
        // Read-only: a remount, as overlayfs takes MS_RDONLY only there
        // with an upper dir given.
        let flags = MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | MsFlags::MS_NODEV;
        nix::mount::mount(None::<&str>, &view.root, None::<&str>, flags, None::<&str>)
            .map_err(|e| RuntimeError::io("remount read-only", &view.root)(e.into()))?;
        Ok(view)
    }

    /// The merged tree.
    pub fn root(&self) -> &Path {
        &self.root
    }
}

impl Drop for LayerView {
    fn drop(&mut self) {
        if let Err(e) = unmount(&self.root) {
            tracing::warn!(root = %self.root.display(), error = %e, "unmounting a layer view");
        }
        if let Err(e) = std::fs::remove_dir_all(&self.dir) {
            tracing::warn!(dir = %self.dir.display(), error = %e, "removing a layer view");
        }
    }
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
            let err = mount(&[PathBuf::from(bad)], t, t, t, true, true).expect_err(bad);
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
        mount(&layers, &upper, &work, &target, true, true).expect("60 layers mount");
        let seen =
            (std::fs::read_to_string(target.join("top")).ok(), target.join("f0").exists(), target.join("f59").exists());
        let nodev = nix::sys::statvfs::statvfs(&target)
            .map(|s| s.flags().contains(nix::sys::statvfs::FsFlags::ST_NODEV))
            .unwrap_or(false);
        unmount(&target).expect("unmount");
        assert_eq!(seen, (Some("59".to_string()), true, true), "the last layer is on top");
        assert!(nodev, "the rootfs is nodev");
    }

    /// A view shows the top layer's file, refuses writes, and leaves
    /// neither its mount nor its directory once dropped.
    #[test]
    fn a_layer_view_is_read_only_and_gone_when_dropped() {
        if !is_root() {
            eprintln!("skipped: needs root for mount(2)");
            return;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let layers: Vec<PathBuf> = (0..2).map(|i| dir.path().join(format!("l{i}"))).collect();
        for (i, l) in layers.iter().enumerate() {
            std::fs::create_dir(l).expect("layer");
            std::fs::write(l.join("f"), i.to_string()).expect("file");
        }
        let at = dir.path().join("view");
        let view = LayerView::mount(&layers, &at).expect("mount");
        assert_eq!(std::fs::read_to_string(view.root().join("f")).ok().as_deref(), Some("1"));
        let write = std::fs::write(view.root().join("g"), "x").expect_err("a view is read-only");
        assert_eq!(write.raw_os_error(), Some(libc::EROFS), "{write}");
        drop(view);
        assert!(!at.exists(), "the view's directory is removed");
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
        assert!(!mounts.contains(&at.to_string_lossy().into_owned()), "the view is unmounted");
    }
}
