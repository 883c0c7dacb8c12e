//! Loading the kernel modules that an initramfs carries.
//!
//! berth's own kernel has everything built in and its initramfs carries no
//! modules, so this does nothing there. Debian's stock kernel builds virtio,
//! vsock, ext4 and overlay as modules; `cargo xtask images` puts them, with
//! their dependencies, in [`super::MODULE_DIR`] and writes `load-order`, one
//! file name a line, dependencies first. Parameters come from the kernel
//! command line (`virtio_mmio.device=...`), because the kernel does not apply
//! `module.param=` entries to modules loaded later.

use std::ffi::CString;
use std::fs::File;
use std::path::Path;

use nix::kmod::{ModuleInitFlags, finit_module};

#[derive(Debug, Default)]
pub struct LoadReport {
    pub loaded: usize,
    pub failures: Vec<String>,
}

/// Loads every module named in `dir/load-order`. A module that fails is
/// reported and the rest are still tried: a missing optional driver should
/// not keep the guest from booting far enough to say what went wrong.
pub fn load_all(dir: &Path, cmdline: &str) -> LoadReport {
    let mut report = LoadReport::default();
    let Ok(order) = std::fs::read_to_string(dir.join("load-order")) else {
        return report;
    };
    for file in order.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let name = module_name(file);
        let params = params_for(&name, cmdline);
        match load_one(&dir.join(file), &params) {
            Ok(()) => report.loaded += 1,
            // Already built in or loaded: nothing to do.
            Err(nix::Error::EEXIST) => {}
            Err(e) => report.failures.push(format!("cannot load module {name}: {e}")),
        }
    }
    report
}

fn load_one(path: &Path, params: &str) -> Result<(), nix::Error> {
    let file = File::open(path).map_err(|e| nix::Error::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))?;
    let params = CString::new(params).map_err(|_| nix::Error::EINVAL)?;
    finit_module(&file, &params, ModuleInitFlags::empty())
}

/// `kvm-amd.ko` is the module `kvm_amd`: the kernel treats `-` and `_` alike.
fn module_name(file: &str) -> String {
    let stem = file.rsplit('/').next().unwrap_or(file);
    let stem = stem.strip_suffix(".ko").unwrap_or(stem);
    stem.replace('-', "_")
}

/// The `param=value` words for `module` from `module.param=value` entries on
/// the kernel command line, in their original order.
fn params_for(module: &str, cmdline: &str) -> String {
    let mut out = Vec::new();
    for word in split_cmdline(cmdline) {
        let Some((prefix, rest)) = word.split_once('.') else { continue };
        if prefix.replace('-', "_") == module && !rest.is_empty() {
            out.push(rest.to_string());
        }
    }
    out.join(" ")
}

/// Splits the command line the way the kernel does: on spaces, except inside
/// double quotes, which are kept so the module sees the value as written.
fn split_cmdline(cmdline: &str) -> Vec<&str> {
    let mut words = Vec::new();
    let mut start = None;
    let mut quoted = false;
    for (i, c) in cmdline.char_indices() {
        match c {
            '"' => {
                quoted = !quoted;
                start.get_or_insert(i);
            }
            c if c.is_whitespace() && !quoted => {
                if let Some(s) = start.take() {
                    words.push(&cmdline[s..i]);
                }
            }
            _ => {
                start.get_or_insert(i);
            }
        }
    }
    if let Some(s) = start {
        words.push(&cmdline[s..]);
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_names_normalise_dashes() {
        assert_eq!(module_name("kvm-amd.ko"), "kvm_amd");
        assert_eq!(module_name("virtio_mmio.ko"), "virtio_mmio");
    }

    #[test]
    fn params_come_from_the_command_line() {
        let cmdline = "console=ttyS0 virtio_mmio.device=4K@0xd0000000:5 \
                       virtio-mmio.device=4K@0xd0001000:6 quiet kvm.x=\"a b\"";
        assert_eq!(params_for("virtio_mmio", cmdline), "device=4K@0xd0000000:5 device=4K@0xd0001000:6");
        assert_eq!(params_for("kvm", cmdline), "x=\"a b\"");
        assert_eq!(params_for("ext4", cmdline), "");
    }

    #[test]
    fn split_keeps_quoted_spaces() {
        assert_eq!(split_cmdline("  a b=\"c d\"  e"), vec!["a", "b=\"c d\"", "e"]);
    }

    #[test]
    fn missing_order_file_loads_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let r = load_all(dir.path(), "");
        assert_eq!(r.loaded, 0);
        assert!(r.failures.is_empty());
    }

    #[test]
    fn unreadable_module_is_reported_not_fatal() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("load-order"), "missing.ko\n").unwrap();
        let r = load_all(dir.path(), "");
        assert_eq!(r.loaded, 0);
        assert_eq!(r.failures.len(), 1);
        assert!(r.failures[0].contains("missing"), "{:?}", r.failures);
    }
}
