//! What the host must provide, checked before any slow work starts, each
//! failure one line naming the package to install or the space to free.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// A program found on `PATH`, or the package that provides it.
pub fn tool(name: &str, package: &str) -> Result<PathBuf> {
    find_in_path(name)
        .ok_or_else(|| Error::Missing { what: name.to_string(), fix: format!("apt-get install {package}") })
}

/// `$BERTH_QEMU` or `qemu-system-x86_64` from Debian's qemu-system-x86.
pub fn qemu() -> Result<PathBuf> {
    match std::env::var_os("BERTH_QEMU") {
        Some(p) => existing(PathBuf::from(p), "qemu-system-x86_64 ($BERTH_QEMU)", "apt-get install qemu-system-x86"),
        None => tool("qemu-system-x86_64", "qemu-system-x86"),
    }
}

/// `$BERTH_LINUX_SOURCE` or Debian's linux-source-6.1 tarball.
pub fn linux_source() -> Result<PathBuf> {
    let p = std::env::var_os("BERTH_LINUX_SOURCE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/src/linux-source-6.1.tar.xz"));
    existing(p, "the kernel source (linux-source-6.1)", "apt-get install linux-source-6.1")
}

/// Debian's busybox-static: the test bed's outer init runs on it.
pub fn busybox_static() -> Result<PathBuf> {
    let p = std::env::var_os("BERTH_BUSYBOX").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/bin/busybox"));
    let p = existing(p, "busybox (static)", "apt-get install busybox-static")?;
    // Debian's dynamic `busybox` package installs the same path; a dynamic
    // binary cannot run in an initramfs without its libraries.
    let head = std::fs::read(&p).map_err(|source| Error::Io { path: p.clone(), source })?;
    if crate::elf::is_dynamic(&head) {
        return Err(Error::Missing {
            what: format!("a static busybox ({} is dynamically linked)", p.display()),
            fix: "apt-get install busybox-static".into(),
        });
    }
    Ok(p)
}

/// The tools the kernel build needs.
pub fn kernel_build_tools() -> Result<()> {
    for (bin, pkg) in
        [("make", "make"), ("gcc", "gcc"), ("flex", "flex"), ("bison", "bison"), ("bc", "bc"), ("xz", "xz-utils")]
    {
        tool(bin, pkg)?;
    }
    if !Path::new("/usr/include/libelf.h").exists() && !Path::new("/usr/include/gelf.h").exists() {
        return Err(Error::Missing { what: "libelf headers".into(), fix: "apt-get install libelf-dev".into() });
    }
    Ok(())
}

/// Fails unless `dir` (created if needed) has `need_gib` GiB free.
pub fn free_space(dir: &Path, need_gib: u64) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|source| Error::Io { path: dir.into(), source })?;
    let free = free_bytes(dir).map_err(|source| Error::Io { path: dir.into(), source })?;
    enough_space(dir, free, need_gib)
}

fn enough_space(dir: &Path, free: u64, need_gib: u64) -> Result<()> {
    if free >= need_gib << 30 {
        Ok(())
    } else {
        Err(Error::DiskSpace { dir: dir.into(), free_gib: free as f64 / (1u64 << 30) as f64, need_gib })
    }
}

fn free_bytes(dir: &Path) -> std::io::Result<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes())?;
    let mut st = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `c` is a valid NUL-terminated path and `st` is a writable
    // statvfs that the call fills in completely on success.
    let rc = unsafe { libc::statvfs(c.as_ptr(), st.as_mut_ptr()) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: statvfs returned 0, so it initialised `st`.
    let st = unsafe { st.assume_init() };
    Ok(st.f_bavail * st.f_frsize)
}

fn existing(p: PathBuf, what: &str, fix: &str) -> Result<PathBuf> {
    if p.exists() { Ok(p) } else { Err(Error::Missing { what: format!("{what} at {}", p.display()), fix: fix.into() }) }
}

fn find_in_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(name)).find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn space_check_names_the_shortfall() {
        let e = enough_space(Path::new("/c"), 1 << 30, 4).unwrap_err().to_string();
        assert!(e.contains("1.0 GiB free, 4 GiB needed"), "{e}");
        assert!(!e.contains('\n'));
        assert!(enough_space(Path::new("/c"), 5 << 30, 4).is_ok());
    }

    #[test]
    fn missing_tool_says_what_to_install() {
        let e = tool("berth-no-such-tool", "berth-pkg").unwrap_err().to_string();
        assert_eq!(e, "berth-no-such-tool is missing: apt-get install berth-pkg");
    }
}
