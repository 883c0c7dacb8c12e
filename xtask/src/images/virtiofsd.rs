//! virtiofsd, the vhost-user daemon that serves a machine's host folders
//! (virtio-fs): the Rust one from the crates registry, built with `cargo
//! install` once per version into the cache. Debian 12 ships only QEMU's
//! old C daemon, which needs root; this one runs as the user.
//!
//! Owns the pinned version and its cache entry; never installs anywhere
//! but the cache (berth finds it through the manifest's `BERTH_VIRTIOFSD`).

use std::path::PathBuf;
use std::process::Command;

use crate::error::Result;
use crate::{cache, paths, process, progress};

/// The pinned release: 1.14 is the first whose `--translate-uid/gid`
/// maps the ids of files a container creates to the host user.
pub const VERSION: &str = "1.14.0";

/// The virtiofsd binary, built if the cache has none of [`VERSION`].
pub fn install() -> Result<PathBuf> {
    let entry = cache::entry("virtiofsd", VERSION, |dir| {
        progress::step(&format!("cargo install virtiofsd {VERSION} (once per version)"), || {
            let build = paths::cache_dir().join("virtiofsd").join(".build");
            process::run(
                Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
                    .args(["install", "--locked", "--quiet", &format!("virtiofsd@{VERSION}"), "--root"])
                    .arg(dir)
                    .arg("--target-dir")
                    .arg(&build)
                    .env_remove("CARGO_TARGET_DIR"),
            )
        })
    })?;
    Ok(entry.join("bin").join("virtiofsd"))
}
