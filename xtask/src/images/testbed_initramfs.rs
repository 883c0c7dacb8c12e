//! The test bed's initramfs: a static busybox, the outer init script and
//! the modules of Debian's kernel that give the outer VM KVM, virtio, 9p,
//! ext4 and overlay, as `images/testbed/` declares them.

use std::path::PathBuf;

use super::debian_kernel::DebianKernel;
use super::definitions::{definitions_dir, module_list};
use super::initramfs::{add_console, add_modules, write_cpio_gz};
use super::modules::ModuleTree;
use crate::cache::{self, Key};
use crate::error::{IoContext, Result};
use crate::prereq;

pub fn outer_initramfs(debian: &DebianKernel, tree: &ModuleTree) -> Result<PathBuf> {
    let busybox = prereq::busybox_static()?;
    let defs = definitions_dir().join("testbed");
    let init_path = defs.join("init.sh");
    let init = std::fs::read(&init_path).at(&init_path)?;
    let modules = tree.resolve(&module_list(&defs.join("modules"))?)?;
    let mut key = Key::new("testbed-initramfs")
        .file("busybox", &busybox)?
        .bytes("init", &init)
        .bytes("kernel", debian.package.as_bytes());
    for m in &modules {
        key = key.bytes("module", m.to_string_lossy().as_bytes());
    }
    let dir = cache::entry("testbed", &key.finish(), |out| {
        write_cpio_gz(&out.join("outer.cpio.gz"), |cpio| {
            for d in ["bin", "dev", "proc", "sys", "run", "tmp"] {
                cpio.dir(d, 0o755)?;
            }
            add_console(cpio)?;
            cpio.file("bin/busybox", 0o755, &std::fs::read(&busybox)?)?;
            cpio.file("init", 0o755, &init)?;
            add_modules(cpio, "lib/modules", &modules)
        })
    })?;
    Ok(dir.join("outer.cpio.gz"))
}
