//! The kernel filesystems every later step needs: /proc for the command
//! line, /dev for devices, /sys for modules, cgroup2 for containers, and
//! the tmpfs directories programs expect. Mount points are created when
//! missing; a filesystem that is already mounted is left alone.

use std::path::Path;

use nix::mount::{MsFlags, mount};

#[derive(Debug, thiserror::Error)]
#[error("cannot mount {fstype} on {target}: {source}")]
pub struct MountError {
    fstype: &'static str,
    target: &'static str,
    #[source]
    source: nix::Error,
}

struct KernelMount {
    fstype: &'static str,
    target: &'static str,
    flags: MsFlags,
    data: Option<&'static str>,
}

const KERNEL_MOUNTS: &[KernelMount] = &[
    KernelMount {
        fstype: "proc",
        target: "/proc",
        flags: MsFlags::MS_NOSUID.union(MsFlags::MS_NODEV).union(MsFlags::MS_NOEXEC),
        data: None,
    },
    KernelMount {
        fstype: "sysfs",
        target: "/sys",
        flags: MsFlags::MS_NOSUID.union(MsFlags::MS_NODEV).union(MsFlags::MS_NOEXEC),
        data: None,
    },
    KernelMount { fstype: "devtmpfs", target: "/dev", flags: MsFlags::MS_NOSUID, data: Some("mode=0755") },
    KernelMount {
        fstype: "devpts",
        target: "/dev/pts",
        flags: MsFlags::MS_NOSUID.union(MsFlags::MS_NOEXEC),
        data: Some("newinstance,ptmxmode=0666,mode=0620,gid=5"),
    },
    KernelMount {
        fstype: "tmpfs",
        target: "/dev/shm",
        flags: MsFlags::MS_NOSUID.union(MsFlags::MS_NODEV),
        data: Some("mode=1777"),
    },
    KernelMount {
        fstype: "tmpfs",
        target: "/run",
        flags: MsFlags::MS_NOSUID.union(MsFlags::MS_NODEV),
        data: Some("mode=0755"),
    },
    KernelMount {
        fstype: "tmpfs",
        target: "/tmp",
        flags: MsFlags::MS_NOSUID.union(MsFlags::MS_NODEV),
        data: Some("mode=1777"),
    },
    KernelMount {
        fstype: "cgroup2",
        target: "/sys/fs/cgroup",
        flags: MsFlags::MS_NOSUID.union(MsFlags::MS_NODEV).union(MsFlags::MS_NOEXEC),
        data: None,
    },
];

pub fn mount_kernel_filesystems() -> Result<(), MountError> {
    for m in KERNEL_MOUNTS {
        let _ = std::fs::create_dir_all(m.target);
        match mount(Some(m.fstype), Path::new(m.target), Some(m.fstype), m.flags, m.data) {
            // EBUSY: the kernel (CONFIG_DEVTMPFS_MOUNT) or an earlier stage did it.
            Ok(()) | Err(nix::Error::EBUSY) => {}
            Err(source) => {
                return Err(MountError { fstype: m.fstype, target: m.target, source });
            }
        }
    }
    Ok(())
}

#[derive(Debug, thiserror::Error)]
#[error("cannot mount the data disk {device} on {target}: {source}")]
pub struct DataDiskError {
    device: String,
    target: String,
    #[source]
    source: nix::Error,
}

/// `berth.data=/dev/vdX` on the kernel command line names the machine's
/// data disk (ext4, made by `berth machine create`).
pub fn data_disk_from_cmdline(cmdline: &str) -> Option<&str> {
    cmdline.split_whitespace().find_map(|w| w.strip_prefix("berth.data=")).filter(|d| d.starts_with("/dev/"))
}

/// Mounts the data disk where the engine keeps its state. Without it a
/// machine would silently lose containers and images at every stop, so
/// failing here is fatal for the caller.
pub fn mount_data_disk(device: &str, target: &Path) -> Result<(), DataDiskError> {
    let err = |source| DataDiskError { device: device.into(), target: target.display().to_string(), source };
    std::fs::create_dir_all(target).map_err(|e| err(nix::Error::from_raw(e.raw_os_error().unwrap_or(libc::EIO))))?;
    mount(Some(device), target, Some("ext4"), MsFlags::MS_NOATIME, None::<&str>).map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_disk_is_read_from_the_command_line() {
        assert_eq!(data_disk_from_cmdline("quiet berth.data=/dev/vda x"), Some("/dev/vda"));
        assert_eq!(data_disk_from_cmdline("berth.data=vda"), None);
        assert_eq!(data_disk_from_cmdline("quiet"), None);
    }
}
