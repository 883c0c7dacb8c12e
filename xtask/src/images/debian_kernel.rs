//! Debian's stock kernel, for users who won't build one and as the test
//! bed's outer kernel: `linux-image-*-amd64` fetched with `apt-get download`
//! and unpacked once per package version.
//!
//! Each cache entry records the exact `name=version` it was unpacked from
//! (its `package` file), and the version last used is remembered beside
//! the entries: when apt starts serving another, the step says so, naming
//! both, instead of silently building everything anew from a different
//! kernel.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::cache;
use crate::error::{Error, IoContext, Result};
use crate::{paths, process, progress};

/// The entry's record of the package it holds.
const PACKAGE_FILE: &str = "package";
/// Beside the entries: the package the last image step used.
const LAST_USED: &str = "last-used";

pub struct DebianKernel {
    /// `name=version` of the package, the cache key of everything built
    /// from this kernel.
    pub package: String,
    pub vmlinuz: PathBuf,
    /// `lib/modules/<release>` of the unpacked package.
    pub modules: PathBuf,
}

pub fn fetch() -> Result<DebianKernel> {
    let (name, version) = candidate()?;
    let package = format!("{name}={version}");
    let last_used = paths::cache_dir().join("debian-kernel").join(LAST_USED);
    if let Some(note) = version_change(std::fs::read_to_string(&last_used).ok().as_deref(), &package) {
        eprintln!("xtask: {note}");
    }
    let key: String =
        package.chars().map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '-' { c } else { '_' }).collect();
    let dir = cache::entry("debian-kernel", &key, |out| {
        progress::step(&format!("downloading {package}"), || {
            process::output(Command::new("apt-get").current_dir(out).args([
                "-q",
                "-o",
                "APT::Sandbox::User=root",
                "download",
                &package,
            ]))
        })?;
        let deb = only_file_with_suffix(out, ".deb")?;
        progress::step(&format!("unpacking {package}"), || {
            process::output(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(out.join("root")))
        })?;
        std::fs::remove_file(&deb).at(&deb)?;
        std::fs::write(out.join(PACKAGE_FILE), format!("{package}\n")).at(out)?;
        Ok(())
    })?;
    // Entries made before the record existed get it now (the key says it).
    let record = dir.join(PACKAGE_FILE);
    if !record.exists() {
        std::fs::write(&record, format!("{package}\n")).at(&record)?;
    }
    std::fs::write(&last_used, format!("{package}\n")).at(&last_used)?;
    let root = dir.join("root");
    let vmlinuz = only_file_with_prefix(&root.join("boot"), "vmlinuz-")?;
    let release = vmlinuz
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_prefix("vmlinuz-"))
        .unwrap_or_default()
        .to_string();
    let modules = root.join("lib/modules").join(&release);
    Ok(DebianKernel { package, vmlinuz, modules })
}

/// What to say when the package apt serves is not the one last used.
fn version_change(last: Option<&str>, now: &str) -> Option<String> {
    let last = last?.trim();
    (last != now).then(|| {
        format!(
            "apt now serves {now} (the images were last built from {last}): the Debian kernel, its initramfs and \
             the test bed's image are built from the new version"
        )
    })
}

/// The versioned package behind the `linux-image-amd64` metapackage and the
/// version apt would install.
fn candidate() -> Result<(String, String)> {
    let no_lists = || Error::Missing {
        what: "Debian's package lists (linux-image-amd64 is unknown)".into(),
        fix: "apt-get update".into(),
    };
    let depends =
        process::output(Command::new("apt-cache").args(["depends", "linux-image-amd64"])).map_err(|_| no_lists())?;
    let name = depends
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Depends: "))
        .find(|d| d.starts_with("linux-image-") && d.ends_with("-amd64"))
        .ok_or_else(no_lists)?
        .to_string();
    let policy = process::output(Command::new("apt-cache").args(["policy", &name]))?;
    let version = policy
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Candidate: "))
        .find(|v| *v != "(none)")
        .ok_or_else(no_lists)?
        .to_string();
    Ok((name, version))
}

fn only_file_with_suffix(dir: &Path, suffix: &str) -> Result<PathBuf> {
    find_one(dir, |n| n.ends_with(suffix))
}

fn only_file_with_prefix(dir: &Path, prefix: &str) -> Result<PathBuf> {
    find_one(dir, |n| n.starts_with(prefix))
}

fn find_one(dir: &Path, matches: impl Fn(&str) -> bool) -> Result<PathBuf> {
    let mut found = Vec::new();
    for e in std::fs::read_dir(dir).at(dir)? {
        let e = e.at(dir)?;
        if e.file_name().to_str().is_some_and(&matches) {
            found.push(e.path());
        }
    }
    match found.len() {
        1 => Ok(found.remove(0)),
        n => Err(Error::Invalid(format!("expected one matching file in {}, found {n}", dir.display()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_version_from_apt_is_named_with_the_old_one() {
        let old = "linux-image-6.1.0-57-amd64=6.1.192-3";
        let new = "linux-image-6.1.0-58-amd64=6.1.193-1";
        assert_eq!(version_change(None, new), None, "a first build has nothing to compare");
        assert_eq!(version_change(Some(&format!("{old}\n")), old), None);
        let note = version_change(Some(old), new).unwrap();
        assert!(note.contains(new) && note.contains(old), "{note}");
    }
}
