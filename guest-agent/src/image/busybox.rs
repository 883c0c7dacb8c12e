//! `busybox:latest` made straight into a store from the host's Debian
//! `busybox-static` (`/bin/busybox`): the static binary, a symlink per
//! applet (from its own `--list-full`), `/etc/passwd`, `/etc/group`, Cmd
//! `sh` — the same tree `cargo xtask fixtures` archives. For the engine's
//! own tests (containers, exec, logs) that need a runnable image and no
//! registry: `image::busybox::create(&store, &ImageRef::parse("busybox")?)`.
//!
//! Owns only that tree. It must never run anything but the given binary's
//! `--list-full`. Blocking.

use std::path::Path;
use std::process::Command;

use super::build::{BuildError, NewImage, create_image};
use super::reference::ImageRef;
use super::store::{ImageRecord, Store};

pub const HOST_BUSYBOX: &str = "/bin/busybox";

#[derive(Debug, thiserror::Error)]
pub enum BusyboxError {
    #[error("{path}: {source} (install Debian's busybox-static)")]
    Binary {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} --list-full failed: is it Debian's busybox-static?")]
    Applets { path: String },
    #[error("building the busybox layer: {0}")]
    Tar(#[source] std::io::Error),
    #[error(transparent)]
    Build(#[from] BuildError),
}

/// Creates the image from `/bin/busybox` and tags it `name`.
pub fn create(store: &Store, name: &ImageRef) -> Result<ImageRecord, BusyboxError> {
    create_from(store, Path::new(HOST_BUSYBOX), name)
}

pub fn create_from(store: &Store, binary: &Path, name: &ImageRef) -> Result<ImageRecord, BusyboxError> {
    let path = binary.display().to_string();
    let bytes = std::fs::read(binary).map_err(|source| BusyboxError::Binary { path: path.clone(), source })?;
    let out = Command::new(binary)
        .arg("--list-full")
        .output()
        .map_err(|source| BusyboxError::Binary { path: path.clone(), source })?;
    if !out.status.success() {
        return Err(BusyboxError::Applets { path });
    }
    let listing = String::from_utf8_lossy(&out.stdout);
    let mut applets: Vec<&str> = listing
        .lines()
        .map(str::trim)
        .filter(|l| {
            !l.is_empty() && !l.starts_with('/') && l.split('/').all(|c| !c.is_empty() && c != "." && c != "..")
        })
        .collect();
    applets.sort_unstable();
    applets.dedup();
    let layer = rootfs(&bytes, &applets).map_err(BusyboxError::Tar)?;
    let img = NewImage {
        config: serde_json::json!({
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Cmd": ["sh"],
        }),
        created_by: vec!["busybox-static from the host".into()],
        ..NewImage::new(vec![layer])
    };
    Ok(create_image(store, img, std::slice::from_ref(name))?)
}

fn rootfs(binary: &[u8], applets: &[&str]) -> std::io::Result<Vec<u8>> {
    let mut b = tar::Builder::new(Vec::new());
    let header = |kind, mode, size| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_size(size);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h
    };
    for (d, mode) in [
        ("bin", 0o755),
        ("dev", 0o755),
        ("etc", 0o755),
        ("home", 0o755),
        ("proc", 0o555),
        ("root", 0o700),
        ("sbin", 0o755),
        ("sys", 0o555),
        ("tmp", 0o1777),
        ("usr", 0o755),
        ("usr/bin", 0o755),
        ("usr/sbin", 0o755),
        ("var", 0o755),
    ] {
        b.append_data(&mut header(tar::EntryType::Directory, mode, 0), d, std::io::empty())?;
    }
    let passwd = b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n";
    let group = b"root:x:0:\nnogroup:x:65534:\n";
    b.append_data(&mut header(tar::EntryType::Regular, 0o644, passwd.len() as u64), "etc/passwd", &passwd[..])?;
    b.append_data(&mut header(tar::EntryType::Regular, 0o644, group.len() as u64), "etc/group", &group[..])?;
    b.append_data(&mut header(tar::EntryType::Regular, 0o755, binary.len() as u64), "bin/busybox", binary)?;
    for a in applets.iter().filter(|a| **a != "bin/busybox") {
        b.append_link(&mut header(tar::EntryType::Symlink, 0o777, 0), a, "/bin/busybox")?;
    }
    b.into_inner()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busybox_from_the_host_has_a_shell_and_applets() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("store");
        let name = ImageRef::parse("busybox").expect("ref");
        let rec = create(&store, &name).expect("busybox-static installed");
        assert_eq!(store.resolve("busybox:latest").expect("tagged").id, rec.id);
        let layer = store.layer_path(&rec.layers[0].diff_id);
        assert!(layer.join("bin/busybox").is_file());
        assert_eq!(std::fs::read_link(layer.join("bin/sh")).expect("sh"), Path::new("/bin/busybox"));
        assert!(std::fs::symlink_metadata(layer.join("usr/bin/awk")).is_ok(), "applets from --list-full");
    }

    #[test]
    fn a_missing_binary_names_the_package() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("store");
        let e = create_from(&store, Path::new("/nonexistent/busybox"), &ImageRef::parse("bb").expect("ref"))
            .expect_err("no binary");
        assert!(e.to_string().contains("busybox-static"), "{e}");
        assert!(store.list().is_empty());
    }
}
