//! Which kernel and initramfs a machine boots: the ones named in its
//! config, else berth's own from the manifest that `cargo xtask images`
//! writes (`$BERTH_CACHE_DIR`, `$XDG_CACHE_HOME/berth` or `~/.cache/berth`,
//! file `images.env`), else `$BERTH_KERNEL` / `$BERTH_INITRAMFS`. The
//! kernel name `debian` means Debian's stock kernel and the initramfs with
//! its modules, from the same manifest (`BERTH_DEBIAN_*`).

use std::path::{Path, PathBuf};

use super::config::MachineConfig;

#[derive(Debug, thiserror::Error)]
pub enum ImagesError {
    #[error("no guest {0} for berth's machine: run `cargo xtask images` first (or give --kernel and --initramfs)")]
    NotBuilt(&'static str),
    #[error("the guest {what} {path} does not exist")]
    Missing { what: &'static str, path: PathBuf },
}

/// `--kernel debian`: Debian's stock kernel, built by `cargo xtask images`.
pub const DEBIAN_KERNEL: &str = "debian";

pub struct BootImages {
    pub kernel: PathBuf,
    pub initramfs: PathBuf,
    /// True when the kernel is a stock one (berth's or Debian's): it boots
    /// only on hardware KVM, never on PVM.
    pub stock_kernel: bool,
}

pub fn resolve(config: &MachineConfig) -> Result<BootImages, ImagesError> {
    let manifest = read_manifest(&manifest_path());
    let lookup = |key: &str| std::env::var_os(key).map(PathBuf::from).or_else(|| manifest_value(&manifest, key));
    let debian = config.kernel.as_deref() == Some(Path::new(DEBIAN_KERNEL));
    let stock_kernel = config.kernel.is_none() || debian;
    let (kernel_key, initramfs_key) =
        if debian { ("BERTH_DEBIAN_KERNEL", "BERTH_DEBIAN_INITRAMFS") } else { ("BERTH_KERNEL", "BERTH_INITRAMFS") };
    let kernel = match &config.kernel {
        Some(k) if !debian => k.clone(),
        _ => lookup(kernel_key).ok_or(ImagesError::NotBuilt("kernel"))?,
    };
    let initramfs = match &config.initramfs {
        Some(i) => i.clone(),
        None => lookup(initramfs_key).ok_or(ImagesError::NotBuilt("initramfs"))?,
    };
    for (what, path) in [("kernel", &kernel), ("initramfs", &initramfs)] {
        if !path.is_file() {
            return Err(ImagesError::Missing { what, path: path.clone() });
        }
    }
    Ok(BootImages { kernel, initramfs, stock_kernel })
}

/// One `KEY=path` entry of the manifest `cargo xtask images` writes.
pub fn manifest_entry(key: &str) -> Option<PathBuf> {
    manifest_value(&read_manifest(&manifest_path()), key)
}

fn manifest_path() -> PathBuf {
    let cache = std::env::var_os("BERTH_CACHE_DIR").map(PathBuf::from).unwrap_or_else(|| {
        std::env::var_os("XDG_CACHE_HOME").map(|d| PathBuf::from(d).join("berth")).unwrap_or_else(|| {
            std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/root")).join(".cache/berth")
        })
    });
    cache.join("images.env")
}

fn read_manifest(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

fn manifest_value(manifest: &str, key: &str) -> Option<PathBuf> {
    manifest.lines().find_map(|l| l.strip_prefix(key)?.strip_prefix('=')).map(PathBuf::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_lines_are_looked_up_by_exact_key() {
        let m = "BERTH_KERNEL_BZIMAGE=/b\nBERTH_KERNEL=/k\nBERTH_INITRAMFS=/i\n";
        assert_eq!(manifest_value(m, "BERTH_KERNEL"), Some(PathBuf::from("/k")));
        assert_eq!(manifest_value(m, "BERTH_INITRAMFS"), Some(PathBuf::from("/i")));
        assert_eq!(manifest_value(m, "BERTH_DEBIAN_KERNEL"), None);
    }
}
