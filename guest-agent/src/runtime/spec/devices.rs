//! The container's devices: the device cgroup's rules (Docker's allow
//! list, or everything for `--privileged`) and, for `--privileged`, every
//! device node of the host's /dev made in the container's.

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use oci_spec::runtime::{
    LinuxDevice, LinuxDeviceBuilder, LinuxDeviceCgroup, LinuxDeviceCgroupBuilder, LinuxDeviceType, Spec,
};

use super::base;
use super::defaults::ALLOWED_DEVICES;
use crate::runtime::RuntimeError;

/// The device cgroup's rules: deny all, then Docker's allow list; or allow
/// all when privileged.
pub fn device_cgroup(privileged: bool) -> Result<Vec<LinuxDeviceCgroup>, RuntimeError> {
    let rule = |allow: bool, typ: Option<LinuxDeviceType>, major: Option<i64>, minor: Option<i64>, access: &str| {
        let mut b = LinuxDeviceCgroupBuilder::default().allow(allow).access(access);
        if let Some(t) = typ {
            b = b.typ(t);
        }
        if let Some(m) = major {
            b = b.major(m);
        }
        if let Some(m) = minor {
            b = b.minor(m);
        }
        b.build().map_err(RuntimeError::spec("linux.resources.devices"))
    };
    if privileged {
        return Ok(vec![rule(true, None, None, None, "rwm")?]);
    }
    let mut rules = vec![rule(false, None, None, None, "rwm")?];
    for (typ, major, minor, access) in ALLOWED_DEVICES {
        rules.push(rule(true, Some(*typ), *major, *minor, access)?);
    }
    Ok(rules)
}

/// The device cgroup in `linux.resources.devices`, and for `--privileged`
/// the host's device nodes in `linux.devices`.
pub fn with_devices(spec: &mut Spec, privileged: bool) -> Result<(), RuntimeError> {
    let rules = device_cgroup(privileged)?;
    base::resources_mut(spec)?.set_devices(Some(rules));
    if privileged {
        let nodes = host_devices(Path::new("/dev"))?;
        base::linux_mut(spec)?.set_devices(Some(nodes));
    }
    Ok(())
}

/// Every device node under `root` (the host's /dev for `--privileged`) but
/// those the container has of its own (/dev/pts, /dev/shm, /dev/mqueue,
/// /dev/console, /dev/ptmx, /dev/fd), as `linux.devices` entries.
pub fn host_devices(root: &Path) -> Result<Vec<LinuxDevice>, RuntimeError> {
    let own: Vec<PathBuf> = ["pts", "shm", "mqueue", "console", "ptmx", "fd"].iter().map(|p| root.join(p)).collect();
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in rd.flatten() {
            let path = e.path();
            if own.contains(&path) {
                continue;
            }
            let Ok(meta) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            let ft = meta.file_type();
            if ft.is_dir() {
                stack.push(path);
                continue;
            }
            let typ = if ft.is_char_device() {
                LinuxDeviceType::C
            } else if ft.is_block_device() {
                LinuxDeviceType::B
            } else {
                continue;
            };
            let rdev = meta.rdev();
            out.push(
                LinuxDeviceBuilder::default()
                    .path(path)
                    .typ(typ)
                    .major(libc::major(rdev) as i64)
                    .minor(libc::minor(rdev) as i64)
                    .file_mode(meta.mode() & 0o7777)
                    .uid(meta.uid())
                    .gid(meta.gid())
                    .build()
                    .map_err(RuntimeError::spec("linux.devices"))?,
            );
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dockers_allow_list_after_a_deny_all() {
        let rules = device_cgroup(false).expect("rules");
        assert_eq!(rules.len(), ALLOWED_DEVICES.len() + 1);
        assert_eq!((rules[0].allow(), rules[0].typ(), rules[0].access().as_deref()), (false, None, Some("rwm")));
        let null = rules.iter().find(|r| r.major() == Some(1) && r.minor() == Some(3)).expect("/dev/null");
        assert_eq!((null.allow(), null.typ(), null.access().as_deref()), (true, Some(LinuxDeviceType::C), Some("rwm")));
        let pts = rules.iter().find(|r| r.major() == Some(136)).expect("/dev/pts/*");
        assert_eq!(pts.minor(), None, "any minor");
        assert_eq!(device_cgroup(true).expect("privileged").len(), 1);
    }

    #[test]
    fn privileged_gets_the_hosts_nodes_but_not_the_containers_own() {
        let mut spec = base::base("c", Path::new("/r")).expect("base");
        with_devices(&mut spec, true).expect("devices");
        let linux = spec.linux().as_ref().expect("linux");
        let nodes = linux.devices().clone().expect("devices");
        let null = nodes.iter().find(|d| d.path() == Path::new("/dev/null")).expect("/dev/null");
        assert_eq!((null.typ(), null.major(), null.minor()), (LinuxDeviceType::C, 1, 3));
        assert!(!nodes.iter().any(|d| d.path().starts_with("/dev/pts") || d.path() == Path::new("/dev/ptmx")));
        let rules = linux.resources().as_ref().and_then(|r| r.devices().clone()).expect("rules");
        assert_eq!((rules.len(), rules[0].allow()), (1, true));
    }

    #[test]
    fn unprivileged_gets_no_host_nodes() {
        let mut spec = base::base("c", Path::new("/r")).expect("base");
        with_devices(&mut spec, false).expect("devices");
        assert_eq!(spec.linux().as_ref().and_then(|l| l.devices().clone()), None);
    }
}
