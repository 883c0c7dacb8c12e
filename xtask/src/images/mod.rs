//! `cargo xtask images`: everything a machine boots and the test bed needs,
//! built once and cached by what it was made from.
//!
//! - berth's guest kernel (kernel-config/), as vmlinux (PVH) and bzImage;
//! - Debian's stock kernel, the alternative guest kernel and the test bed's;
//! - the guest initramfs for each kernel (the static agent and a busybox
//!   toolbox, plus modules for Debian's kernel);
//! - the test bed's own initramfs;
//! - offline image fixtures (busybox, Debian) as docker-archive tars;
//! - virtiofsd, which serves a machine's host folders.
//!
//! What goes into them is declared in the workspace's `images/` directory.
//! The current set is written to [`paths::images_manifest`]. Running it
//! again with nothing changed only re-checks the keys.

pub mod agent;
mod debian_kernel;
mod definitions;
mod guest_kernel;
pub mod initramfs;
mod modules;
mod testbed_initramfs;
pub mod virtiofsd;

use std::fmt::Write as _;
use std::path::PathBuf;

pub use debian_kernel::DebianKernel;
pub use definitions::{definitions_dir, module_list};
pub use modules::ModuleTree;

use crate::error::Result;
use crate::{cache, lock, paths, prereq};

/// Paths of the current images, as the manifest records them.
pub struct Images {
    pub kernel: PathBuf,
    pub kernel_bzimage: PathBuf,
    pub initramfs: PathBuf,
    pub debian_kernel: PathBuf,
    pub debian_initramfs: PathBuf,
    pub testbed_kernel: PathBuf,
    pub testbed_initramfs: PathBuf,
    /// Offline image fixtures (busybox, Debian): see `crate::fixtures`.
    pub fixtures: crate::fixtures::Fixtures,
    /// The daemon behind a machine's host folders.
    pub virtiofsd: PathBuf,
}

impl Images {
    /// `KEY=path` lines, the manifest's format and what the test bed exports.
    pub fn to_env(&self) -> String {
        let mut s = String::new();
        for (k, v) in self.entries() {
            let _ = writeln!(s, "{k}={}", v.display());
        }
        s
    }

    pub fn entries(&self) -> Vec<(&'static str, PathBuf)> {
        let mut v = vec![
            ("BERTH_KERNEL", self.kernel.clone()),
            ("BERTH_KERNEL_BZIMAGE", self.kernel_bzimage.clone()),
            ("BERTH_INITRAMFS", self.initramfs.clone()),
            ("BERTH_DEBIAN_KERNEL", self.debian_kernel.clone()),
            ("BERTH_DEBIAN_INITRAMFS", self.debian_initramfs.clone()),
            ("BERTH_TESTBED_KERNEL", self.testbed_kernel.clone()),
            ("BERTH_TESTBED_INITRAMFS", self.testbed_initramfs.clone()),
            ("BERTH_VIRTIOFSD", self.virtiofsd.clone()),
        ];
        v.extend(self.fixtures.entries());
        v
    }
}

/// Builds whatever is missing and records the result in the manifest.
pub fn build() -> Result<Images> {
    // The test bed cannot run without QEMU: say so before an hour of work.
    prereq::qemu()?;
    let fixture_set = crate::fixtures::check_prerequisites(crate::fixtures::Set::All)?;
    prereq::free_space(&paths::cache_dir(), 1)?;
    let _lock = lock::exclusive(&paths::cache_dir().join(".lock"))?;

    let agent = agent::build_static()?;
    let toolbox = prereq::busybox_static()?;
    let kernel = guest_kernel::build()?;
    let debian = debian_kernel::fetch()?;
    let tree = ModuleTree::open(&debian.modules)?;
    let wanted = module_list(&definitions_dir().join("guest.modules"))?;
    let guest_modules = tree.resolve(&wanted)?;

    // Offline image fixtures (busybox, Debian) ride along: see `crate::fixtures`.
    let fixtures = crate::fixtures::build_locked(fixture_set)?;
    let images = Images {
        kernel: kernel.vmlinux,
        kernel_bzimage: kernel.bzimage,
        initramfs: initramfs::agent_image(&agent, &toolbox, &[], "")?,
        debian_initramfs: initramfs::agent_image(&agent, &toolbox, &guest_modules, &debian.package)?,
        testbed_initramfs: testbed_initramfs::outer_initramfs(&debian, &tree)?,
        debian_kernel: debian.vmlinuz.clone(),
        testbed_kernel: debian.vmlinuz,
        fixtures,
        virtiofsd: virtiofsd::install()?,
    };
    cache::write_atomic(&paths::images_manifest(), images.to_env().as_bytes())?;
    Ok(images)
}
