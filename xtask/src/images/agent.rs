//! The guest agent as a static binary: the initramfs has no libc to link
//! against. glibc's static build with an explicit target keeps RUSTFLAGS
//! away from build scripts (see ANCHORS.md).

use std::path::PathBuf;
use std::process::Command;

use crate::error::{Error, IoContext, Result};
use crate::{elf, paths, process};

pub const TARGET: &str = "x86_64-unknown-linux-gnu";

/// Builds (or finds up to date) the static `berth-agent` and returns its path.
pub fn build_static() -> Result<PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    process::run(
        Command::new(cargo)
            .current_dir(paths::workspace_root())
            .args(["build", "--quiet", "--release", "--package", "berth-agent", "--target", TARGET])
            .env("RUSTFLAGS", "-C target-feature=+crt-static")
            // The runtime links libseccomp: statically, from Debian's
            // libseccomp-dev (the initramfs has no shared libraries).
            .env("LIBSECCOMP_LINK_TYPE", "static")
            .env("LIBSECCOMP_LIB_PATH", "/usr/lib/x86_64-linux-gnu"),
    )?;
    let bin = paths::target_dir().join(TARGET).join("release").join("berth-agent");
    let data = std::fs::read(&bin).at(&bin)?;
    if elf::is_dynamic(&data) {
        return Err(Error::Invalid(format!(
            "{} is dynamically linked; it cannot be an initramfs's /init",
            bin.display()
        )));
    }
    Ok(bin)
}
