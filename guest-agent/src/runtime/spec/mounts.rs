//! The container's mounts in its spec: Docker's standard set (/proc, /dev,
//! /dev/pts, /sys, /sys/fs/cgroup, /dev/mqueue, /dev/shm, the three /etc
//! files) and the user's bind and tmpfs mounts (parsed by `user_mount`).
//!
//! Named volumes are the engine's to resolve: by the time a request reaches
//! the runtime every bind has an absolute host source. Must never touch the
//! filesystem beyond checking that a bind's source exists.

use std::path::Path;

use oci_spec::runtime::{Mount, MountBuilder, Spec};

use super::defaults::DEFAULT_SHM_SIZE;
use super::input::SpecInput;
use super::user_mount::UserMount;
use crate::runtime::RuntimeError;

fn mount(destination: &str, typ: &str, source: impl AsRef<Path>, options: &[&str]) -> Result<Mount, RuntimeError> {
    MountBuilder::default()
        .destination(destination)
        .typ(typ)
        .source(source.as_ref())
        .options(options.iter().map(|o| o.to_string()).collect::<Vec<_>>())
        .build()
        .map_err(RuntimeError::spec("mounts"))
}

/// Docker's standard mounts, then the /etc files the user did not bind
/// over, then the user's mounts: the spec's `mounts`, in the order they
/// must be made.
pub fn with_mounts(
    spec: &mut Spec,
    input: &SpecInput<'_>,
    host_network: bool,
    privileged: bool,
) -> Result<(), RuntimeError> {
    let mut m = standard_mounts(input.host_config.shm_size, host_network, privileged)?;
    m.extend(etc_files(input.dir, input.user_mounts)?);
    m.extend(user_mounts(input.user_mounts)?);
    spec.set_mounts(Some(m));
    Ok(())
}

/// /proc, /dev, /dev/pts, /sys, /sys/fs/cgroup, /dev/mqueue and /dev/shm
/// (`--shm-size`, 64 MiB by default); /sys and its cgroups read-only unless
/// privileged.
pub fn standard_mounts(
    shm_size: Option<i64>,
    host_network: bool,
    privileged: bool,
) -> Result<Vec<Mount>, RuntimeError> {
    let shm_size = shm_size.filter(|s| *s > 0).unwrap_or(DEFAULT_SHM_SIZE);
    let ro_sys = if privileged { "rw" } else { "ro" };
    let mut m = vec![
        mount("/proc", "proc", "proc", &["nosuid", "noexec", "nodev"])?,
        mount("/dev", "tmpfs", "tmpfs", &["nosuid", "strictatime", "mode=755", "size=65536k"])?,
        mount(
            "/dev/pts",
            "devpts",
            "devpts",
            &["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
        )?,
    ];
    if host_network {
        // A new sysfs needs a network namespace of one's own: with the
        // host's network the host's /sys is bound instead. Not recursively:
        // submounts (debugfs, tracefs, bpf, configfs, securityfs, the
        // host's cgroups) would stay writable under a read-only top, and
        // the container has no business with them.
        m.push(mount("/sys", "bind", "/sys", &["bind", "nosuid", "noexec", "nodev", ro_sys])?);
    } else {
        m.push(mount("/sys", "sysfs", "sysfs", &["nosuid", "noexec", "nodev", ro_sys])?);
    }
    m.push(mount("/sys/fs/cgroup", "cgroup", "cgroup", &["nosuid", "noexec", "nodev", "relatime", ro_sys])?);
    m.push(mount("/dev/mqueue", "mqueue", "mqueue", &["nosuid", "noexec", "nodev"])?);
    let size = format!("size={shm_size}");
    m.push(mount("/dev/shm", "tmpfs", "shm", &["nosuid", "noexec", "nodev", "mode=1777", &size])?);
    Ok(m)
}

/// The container's resolv.conf, hostname and hosts from its runtime
/// directory, but for those the user mounts something over.
fn etc_files(dir: &Path, user: &[UserMount]) -> Result<Vec<Mount>, RuntimeError> {
    let user_dsts: Vec<&str> = user.iter().map(UserMount::destination).collect();
    let mut m = Vec::new();
    for file in ["resolv.conf", "hostname", "hosts"] {
        let dst = format!("/etc/{file}");
        if !user_dsts.contains(&dst.as_str()) {
            m.push(mount(&dst, "bind", dir.join(file), &["rbind", "rprivate"])?);
        }
    }
    Ok(m)
}

/// The user's binds (whose sources must exist) and tmpfs mounts (nosuid,
/// nodev and noexec unless the user said otherwise).
fn user_mounts(user: &[UserMount]) -> Result<Vec<Mount>, RuntimeError> {
    let mut m = Vec::new();
    for um in user {
        match um {
            UserMount::Bind { source, destination, readonly, propagation, .. } => {
                std::fs::symlink_metadata(source).map_err(|e| {
                    RuntimeError::InvalidRequest(format!(
                        "invalid mount config for type \"bind\": bind source path does not exist: {} ({e})",
                        source.display()
                    ))
                })?;
                let mut options = vec!["rbind", if propagation.is_empty() { "rprivate" } else { propagation }];
                if *readonly {
                    options.push("ro");
                }
                m.push(mount(destination, "bind", source, &options)?);
            }
            UserMount::Tmpfs { destination, options } => {
                let mut options: Vec<&str> = options.iter().map(String::as_str).collect();
                for d in ["nosuid", "nodev", "noexec"] {
                    if !options.iter().any(|o| *o == d || o.trim_start_matches("no") == d.trim_start_matches("no")) {
                        options.push(d);
                    }
                }
                m.push(mount(destination, "tmpfs", "tmpfs", &options)?);
            }
        }
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find<'a>(m: &'a [Mount], dst: &str) -> &'a Mount {
        m.iter().find(|m| m.destination() == Path::new(dst)).unwrap_or_else(|| panic!("no mount at {dst}"))
    }

    fn options(m: &Mount) -> Vec<&str> {
        m.options().as_deref().unwrap_or_default().iter().map(String::as_str).collect()
    }

    #[test]
    fn the_standard_set() {
        let m = standard_mounts(None, false, false).expect("mounts");
        let dsts: Vec<_> = m.iter().map(|m| m.destination().to_string_lossy().into_owned()).collect();
        assert_eq!(dsts, ["/proc", "/dev", "/dev/pts", "/sys", "/sys/fs/cgroup", "/dev/mqueue", "/dev/shm"]);
        assert_eq!(options(find(&m, "/dev/shm")), ["nosuid", "noexec", "nodev", "mode=1777", "size=67108864"]);
        assert_eq!(find(&m, "/sys").typ().as_deref(), Some("sysfs"));
        assert!(options(find(&m, "/sys/fs/cgroup")).contains(&"ro"));
        let priv_host = standard_mounts(Some(1 << 20), true, true).expect("mounts");
        let sys = find(&priv_host, "/sys");
        assert_eq!((sys.typ().as_deref(), sys.source().as_deref()), (Some("bind"), Some(Path::new("/sys"))));
        assert_eq!(
            options(sys),
            ["bind", "nosuid", "noexec", "nodev", "rw"],
            "not rbind: the host's submounts stay out"
        );
        assert!(options(find(&priv_host, "/dev/shm")).contains(&"size=1048576"));
    }

    #[test]
    fn user_mounts_and_the_etc_files_they_replace() {
        let src = tempfile::tempdir().expect("tempdir");
        let user = vec![
            UserMount::bind(src.path(), "/etc/hosts", true),
            UserMount::Tmpfs { destination: "/run".into(), options: vec!["size=1m".into(), "exec".into()] },
        ];
        let etc = etc_files(Path::new("/state/c"), &user).expect("etc");
        let dsts: Vec<_> = etc.iter().map(|m| m.destination().to_string_lossy().into_owned()).collect();
        assert_eq!(dsts, ["/etc/resolv.conf", "/etc/hostname"]);
        assert_eq!(etc[0].source().as_deref(), Some(Path::new("/state/c/resolv.conf")));
        let m = user_mounts(&user).expect("user mounts");
        assert_eq!(options(&m[0]), ["rbind", "rprivate", "ro"]);
        assert_eq!(m[0].source().as_deref(), Some(src.path()));
        assert_eq!(options(&m[1]), ["size=1m", "exec", "nosuid", "nodev"], "exec kept, noexec not added");
        let missing = [UserMount::bind(src.path().join("nope"), "/x", false)];
        assert!(user_mounts(&missing).expect_err("missing").to_string().contains("bind source path does not exist"));
    }
}
