//! berth's own guest kernel: kernel-config's fragment over tinyconfig, built
//! from Debian's linux-source package, cached by the hash of the fragment,
//! the build script and the source's version.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::cache::{self, Key};
use crate::error::{IoContext, Result};
use crate::{paths, prereq, process, progress};

pub struct GuestKernel {
    /// ELF with the PVH note, what berth-vmm boots.
    pub vmlinux: PathBuf,
    /// The same kernel for boot-protocol loaders (QEMU, for comparison).
    pub bzimage: PathBuf,
}

/// The kernel's build needs room for the unpacked source and the objects.
const NEED_GIB: u64 = 4;

pub fn build() -> Result<GuestKernel> {
    let tarball = prereq::linux_source()?;
    let config_dir = paths::workspace_root().join("kernel-config");
    let source_id = source_identity(&tarball)?;
    let key = Key::new("guest-kernel")
        .file("fragment", &config_dir.join("berth.config"))?
        .file("build.sh", &config_dir.join("build.sh"))?
        .bytes("source", source_id.as_bytes())
        .finish();
    let dir = cache::entry("kernel", &key, |out| {
        prereq::kernel_build_tools()?;
        prereq::free_space(&paths::cache_dir(), NEED_GIB)?;
        let (src, src_key) = unpack_source(&tarball, &source_id)?;
        // Objects are kept per source version so that a changed fragment
        // rebuilds incrementally and a new source never mixes with old objects.
        let build_dir = paths::cache_dir().join("kernel-build").join(src_key);
        progress::step("building the guest kernel (about 5 min on 2 cores)", || {
            process::output(Command::new("bash").arg(config_dir.join("build.sh")).arg(&src).arg(&build_dir).arg(out))
        })?;
        Ok(())
    })?;
    Ok(GuestKernel { vmlinux: dir.join("vmlinux"), bzimage: dir.join("bzImage") })
}

/// Debian's package version when the tarball is the package's; otherwise
/// the file's size and modification time.
fn source_identity(tarball: &Path) -> Result<String> {
    if tarball == Path::new("/usr/src/linux-source-6.1.tar.xz")
        && let Ok(v) = process::output(Command::new("dpkg-query").args(["-W", "-f", "${Version}", "linux-source-6.1"]))
    {
        return Ok(format!("linux-source-6.1 {v}"));
    }
    let meta = std::fs::metadata(tarball).at(tarball)?;
    let mtime =
        meta.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()).map_or(0, |d| d.as_secs());
    Ok(format!("{} {} {}", tarball.display(), meta.len(), mtime))
}

/// Unpacks the source once per source version into its own cache entry.
fn unpack_source(tarball: &Path, source_id: &str) -> Result<(PathBuf, String)> {
    let key = Key::new("kernel-source").bytes("id", source_id.as_bytes()).finish();
    let dir = cache::entry("kernel-source", &key, |out| {
        progress::step("unpacking the kernel source", || {
            process::output(Command::new("tar").arg("-xf").arg(tarball).arg("-C").arg(out).arg("--strip-components=1"))
        })?;
        Ok(())
    })?;
    Ok((dir, key))
}
