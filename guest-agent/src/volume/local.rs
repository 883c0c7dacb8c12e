//! The `local` driver's options, as moby's `volume/local`: `type`, `o` and
//! `device` (each of them needing the others, `o` needing both), mounted
//! onto the volume's `_data` before a container uses it (`type=tmpfs
//! device=tmpfs o=size=64m`, `type=none o=bind device=/path`) and unmounted
//! when the volume is removed. A volume without options is a plain
//! directory.
//!
//! Owns the option rules and the mount(2) call; it must never decide when
//! a volume is used (the engine does).

use std::collections::HashMap;
use std::path::Path;

use nix::mount::{MntFlags, MsFlags};

use super::error::VolumeError;

const VALID: [&str; 4] = ["type", "o", "device", "size"];
/// An option and the options it needs (moby's `mandatoryOpts`).
const NEEDS: [(&str, &[&str]); 3] = [("device", &["type"]), ("type", &["device"]), ("o", &["device", "type"])];

/// Refuses what the local driver refuses, with its words.
pub fn validate(name: &str, opts: &HashMap<String, String>) -> Result<(), VolumeError> {
    let invalid = |reason: String| VolumeError::InvalidOption { name: name.to_string(), reason };
    let mut keys: Vec<&String> = opts.keys().collect();
    keys.sort();
    for k in &keys {
        if !VALID.contains(&k.as_str()) {
            return Err(invalid(format!("invalid option: {k:?}")));
        }
    }
    if opts.contains_key("size") {
        return Err(invalid("quota size requested but no quota support".into()));
    }
    for (opt, needed) in NEEDS {
        if opts.contains_key(opt) {
            for n in needed {
                if !opts.contains_key(*n) {
                    return Err(invalid(format!("missing required option: {n:?}")));
                }
            }
        }
    }
    Ok(())
}

/// Does a volume with these options have something to mount?
pub fn mounts_something(opts: &HashMap<String, String>) -> bool {
    opts.contains_key("type") || opts.contains_key("device")
}

/// mount(2) flags and data from `o` (moby's `mount.ParseOptions`).
fn parse_o(o: &str) -> (MsFlags, String) {
    let mut flags = MsFlags::empty();
    let mut data = Vec::new();
    for opt in o.split(',').filter(|s| !s.is_empty()) {
        match opt {
            "bind" => flags |= MsFlags::MS_BIND,
            "rbind" => flags |= MsFlags::MS_BIND | MsFlags::MS_REC,
            "ro" => flags |= MsFlags::MS_RDONLY,
            "rw" => flags &= !MsFlags::MS_RDONLY,
            "nosuid" => flags |= MsFlags::MS_NOSUID,
            "nodev" => flags |= MsFlags::MS_NODEV,
            "noexec" => flags |= MsFlags::MS_NOEXEC,
            "noatime" => flags |= MsFlags::MS_NOATIME,
            other => data.push(other),
        }
    }
    (flags, data.join(","))
}

/// Is `path` a mount point (of this mount namespace)?
pub fn is_mounted(path: &Path) -> bool {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else { return false };
    let want = path.to_string_lossy();
    info.lines().any(|l| l.split(' ').nth(4).is_some_and(|mp| unescape(mp) == want))
}

/// mountinfo escapes space, tab, newline and backslash as octal.
fn unescape(s: &str) -> String {
    s.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n").replace("\\134", "\\")
}

/// Mounts the volume's device on `data` unless something is there already.
pub fn mount(opts: &HashMap<String, String>, data: &Path) -> Result<(), VolumeError> {
    if !mounts_something(opts) || is_mounted(data) {
        return Ok(());
    }
    let typ = opts.get("type").map(String::as_str).unwrap_or("none");
    let device = opts.get("device").map(String::as_str).unwrap_or("");
    let (flags, extra) = parse_o(opts.get("o").map(String::as_str).unwrap_or(""));
    let fstype = (typ != "none").then_some(typ);
    let data_opt = (!extra.is_empty()).then_some(extra.as_str());
    let result = nix::mount::mount(Some(device), data, fstype, flags & !MsFlags::MS_RDONLY, data_opt);
    result.map_err(|e| VolumeError::Mount {
        path: data.to_path_buf(),
        reason: format!("mount {device}:{}, flags: {:#x}, data: {extra}: {e}", data.display(), flags.bits()),
    })?;
    // A bind takes MS_RDONLY only on a remount.
    if flags.contains(MsFlags::MS_BIND | MsFlags::MS_RDONLY) {
        let remount = MsFlags::MS_REMOUNT | MsFlags::MS_BIND | MsFlags::MS_RDONLY;
        if let Err(e) = nix::mount::mount(None::<&str>, data, None::<&str>, remount, None::<&str>) {
            let _ = unmount(data);
            return Err(VolumeError::Mount { path: data.to_path_buf(), reason: format!("remount read-only: {e}") });
        }
    }
    Ok(())
}

/// Unmounts what [`mount`] put on `data`; nothing mounted is no error.
pub fn unmount(data: &Path) -> Result<(), VolumeError> {
    while is_mounted(data) {
        match nix::mount::umount2(data, MntFlags::MNT_DETACH) {
            Ok(()) => {}
            Err(nix::errno::Errno::EINVAL | nix::errno::Errno::ENOENT) => return Ok(()),
            Err(e) => return Err(VolumeError::io("unmount", data)(e.into())),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn options_as_the_local_driver_takes_them() {
        validate("v", &opts(&[])).unwrap();
        validate("v", &opts(&[("type", "tmpfs"), ("device", "tmpfs"), ("o", "size=1m")])).unwrap();
        validate("v", &opts(&[("type", "none"), ("o", "bind"), ("device", "/srv")])).unwrap();
        let e = validate("v", &opts(&[("colour", "red")])).unwrap_err();
        assert_eq!(e.to_string(), "create v: invalid option: \"colour\"");
        let e = validate("v", &opts(&[("type", "tmpfs")])).unwrap_err();
        assert_eq!(e.to_string(), "create v: missing required option: \"device\"");
        let e = validate("v", &opts(&[("o", "size=1m"), ("device", "tmpfs")])).unwrap_err();
        assert_eq!(e.to_string(), "create v: missing required option: \"type\"");
        assert!(validate("v", &opts(&[("size", "1g")])).is_err(), "no quotas here");
    }

    #[test]
    fn o_splits_into_flags_and_data() {
        let (f, d) = parse_o("bind,ro");
        assert!(f.contains(MsFlags::MS_BIND | MsFlags::MS_RDONLY));
        assert_eq!(d, "");
        let (f, d) = parse_o("size=1m,uid=1000,nodev");
        assert_eq!(f, MsFlags::MS_NODEV);
        assert_eq!(d, "size=1m,uid=1000");
    }

    #[test]
    fn tmpfs_and_bind_devices_mount_and_unmount() {
        if !nix::unistd::geteuid().is_root() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("_data");
        std::fs::create_dir(&data).unwrap();
        let tmpfs = opts(&[("type", "tmpfs"), ("device", "tmpfs"), ("o", "size=1m")]);
        mount(&tmpfs, &data).unwrap();
        assert!(is_mounted(&data));
        mount(&tmpfs, &data).unwrap(); // idempotent
        std::fs::write(data.join("f"), "x").unwrap();
        unmount(&data).unwrap();
        assert!(!is_mounted(&data));
        assert!(!data.join("f").exists(), "the file was in the tmpfs");
        let src = dir.path().join("src");
        std::fs::create_dir(&src).unwrap();
        std::fs::write(src.join("g"), "y").unwrap();
        mount(&opts(&[("type", "none"), ("o", "bind"), ("device", &src.display().to_string())]), &data).unwrap();
        assert_eq!(std::fs::read_to_string(data.join("g")).unwrap(), "y");
        unmount(&data).unwrap();
        let missing = opts(&[("type", "none"), ("o", "bind"), ("device", "/nonexistent/berth")]);
        assert!(mount(&missing, &data).unwrap_err().to_string().contains("failed to mount local volume"));
    }
}
