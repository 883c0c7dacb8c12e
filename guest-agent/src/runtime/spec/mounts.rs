//! The container's mounts: Docker's standard set (/proc, /dev, /dev/pts,
//! /sys, /sys/fs/cgroup, /dev/mqueue, /dev/shm, the three /etc files) and
//! the user's bind and tmpfs mounts (parsed by `user_mount`).
//!
//! Named volumes are the engine's to resolve: by the time a request reaches
//! the runtime every bind has an absolute host source.

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::PathBuf;

use serde_json::{Value, json};

use super::defaults::DEFAULT_SHM_SIZE;
use super::input::SpecInput;
use super::user_mount::UserMount;
use crate::runtime::RuntimeError;

/// Every mount of the container, in the order they must be made.
pub fn mounts(input: &SpecInput<'_>, host_network: bool, privileged: bool) -> Result<Vec<Value>, RuntimeError> {
    let hc = input.host_config;
    let shm_size = hc.shm_size.filter(|s| *s > 0).unwrap_or(DEFAULT_SHM_SIZE);
    let ro_sys = if privileged { "rw" } else { "ro" };
    let mut m = vec![
        json!({"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
               "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}),
        json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts",
               "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]}),
    ];
    if host_network {
        // A new sysfs needs a network namespace of one's own: with the
        // host's network the host's /sys is bound instead. Not recursively:
        // submounts (debugfs, tracefs, bpf, configfs, securityfs, the
        // host's cgroups) would stay writable under a read-only top, and
        // the container has no business with them.
        m.push(json!({"destination": "/sys", "type": "bind", "source": "/sys",
                      "options": ["bind", "nosuid", "noexec", "nodev", ro_sys]}));
    } else {
        m.push(json!({"destination": "/sys", "type": "sysfs", "source": "sysfs",
                      "options": ["nosuid", "noexec", "nodev", ro_sys]}));
    }
    m.push(json!({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
                  "options": ["nosuid", "noexec", "nodev", "relatime", ro_sys]}));
    m.push(json!({"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
                  "options": ["nosuid", "noexec", "nodev"]}));
    m.push(json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
                  "options": ["nosuid", "noexec", "nodev", "mode=1777", format!("size={shm_size}")]}));
    let user_dsts: Vec<&str> = input.user_mounts.iter().map(UserMount::destination).collect();
    for file in ["resolv.conf", "hostname", "hosts"] {
        let dst = format!("/etc/{file}");
        if user_dsts.contains(&dst.as_str()) {
            continue;
        }
        m.push(json!({"destination": dst, "type": "bind", "source": input.dir.join(file),
                      "options": ["rbind", "rprivate"]}));
    }
    for um in input.user_mounts {
        match um {
            UserMount::Bind { source, destination, readonly } => {
                std::fs::symlink_metadata(source).map_err(|e| {
                    RuntimeError::InvalidRequest(format!(
                        "invalid mount config for type \"bind\": bind source path does not exist: {} ({e})",
                        source.display()
                    ))
                })?;
                let mut options = vec!["rbind", "rprivate"];
                if *readonly {
                    options.push("ro");
                }
                m.push(json!({"destination": destination, "type": "bind", "source": source, "options": options}));
            }
            UserMount::Tmpfs { destination, options } => {
                let mut options = options.clone();
                for d in ["nosuid", "nodev", "noexec"] {
                    if !options.iter().any(|o| o == d || o.trim_start_matches("no") == d.trim_start_matches("no")) {
                        options.push(d.into());
                    }
                }
                m.push(json!({"destination": destination, "type": "tmpfs", "source": "tmpfs", "options": options}));
            }
        }
    }
    Ok(m)
}

/// Every device node of the host's /dev (for `--privileged`), as OCI
/// `linux.devices` entries.
pub fn host_devices() -> Vec<Value> {
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::from("/dev")];
    while let Some(dir) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in rd.flatten() {
            let path = e.path();
            // /dev/pts and /dev/shm, mqueue: the container has its own.
            if ["/dev/pts", "/dev/shm", "/dev/mqueue", "/dev/console", "/dev/ptmx", "/dev/fd"]
                .iter()
                .any(|p| path == std::path::Path::new(p))
            {
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
                "c"
            } else if ft.is_block_device() {
                "b"
            } else {
                continue;
            };
            let rdev = meta.rdev();
            out.push(json!({
                "path": path, "type": typ,
                "major": libc::major(rdev), "minor": libc::minor(rdev),
                "fileMode": meta.mode() & 0o7777, "uid": meta.uid(), "gid": meta.gid(),
            }));
        }
    }
    out
}
