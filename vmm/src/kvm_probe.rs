//! What this host's `/dev/kvm` can do, found out before anything is booted.
//!
//! Owns the answer to "can berth boot a Linux guest here?". It opens the
//! device, checks the API version, creates (and drops) a VM, and tells real
//! hardware-assisted KVM apart from PVM, which runs only PVM-enlightened guest
//! kernels. It never keeps a VM or changes host state.

use std::fmt;
use std::path::Path;

use kvm_ioctls::Kvm;

/// The only KVM API version there has ever been; anything else is not KVM.
pub const KVM_API_VERSION: i32 = 12;

/// How the host's KVM runs guests, which decides what kernels can boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KvmFlavor {
    /// AMD-V through `kvm_amd`.
    Amd,
    /// VT-x through `kvm_intel`.
    Intel,
    /// Pagetable-based virtual machines (`kvm_pvm`): KVM without VT-x/AMD-V.
    /// A stock kernel stops with an emulation failure on its first
    /// privileged instruction; only PVM-enlightened guests run.
    Pvm,
    /// `/dev/kvm` works but no known module is loaded (built in, or a
    /// kernel we do not recognise).
    Unknown,
}

impl KvmFlavor {
    /// Reads which KVM module the host kernel has loaded.
    pub fn detect(sys_module: &Path) -> Self {
        // kvm_pvm can be loaded beside kvm_amd/kvm_intel; when it is, it owns
        // /dev/kvm on the machines we have seen, so check it first.
        if sys_module.join("kvm_pvm").exists() {
            KvmFlavor::Pvm
        } else if sys_module.join("kvm_amd").exists() {
            KvmFlavor::Amd
        } else if sys_module.join("kvm_intel").exists() {
            KvmFlavor::Intel
        } else {
            KvmFlavor::Unknown
        }
    }

    /// Whether a stock (not PVM-enlightened) Linux kernel boots here.
    pub fn boots_stock_linux(self) -> bool {
        !matches!(self, KvmFlavor::Pvm)
    }
}

impl fmt::Display for KvmFlavor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KvmFlavor::Amd => "kvm_amd (AMD-V)",
            KvmFlavor::Intel => "kvm_intel (VT-x)",
            KvmFlavor::Pvm => "kvm_pvm (PVM, no hardware virtualization)",
            KvmFlavor::Unknown => "unknown KVM module",
        })
    }
}

/// Why the probe could not use KVM.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("cannot open /dev/kvm: {0} (is the kvm module loaded, and may this user open the device?)")]
    Open(#[source] kvm_ioctls::Error),
    #[error("/dev/kvm reports API version {0}, expected {KVM_API_VERSION}")]
    ApiVersion(i32),
    #[error("KVM_CREATE_VM failed: {0}")]
    CreateVm(#[source] kvm_ioctls::Error),
}

/// What the probe found.
#[derive(Debug, Clone)]
pub struct KvmReport {
    pub api_version: i32,
    pub max_vcpus: usize,
    pub flavor: KvmFlavor,
}

impl KvmReport {
    /// Opens `/dev/kvm`, checks the API version and creates a throw-away VM.
    pub fn probe() -> Result<Self, ProbeError> {
        let kvm = Kvm::new().map_err(ProbeError::Open)?;
        let api_version = kvm.get_api_version();
        if api_version != KVM_API_VERSION {
            return Err(ProbeError::ApiVersion(api_version));
        }
        // Dropping the VM fd destroys the VM; creating it is the proof that
        // this user can run guests at all.
        let vm = kvm.create_vm().map_err(ProbeError::CreateVm)?;
        drop(vm);
        let max_vcpus = kvm.get_max_vcpus();
        Ok(KvmReport { api_version, max_vcpus, flavor: KvmFlavor::detect(Path::new("/sys/module")) })
    }

    /// The advice for a host whose KVM cannot boot berth's guest, if any.
    pub fn advice(&self) -> Option<&'static str> {
        (!self.flavor.boots_stock_linux()).then_some(
            "this host's KVM is PVM: it runs only PVM-enlightened guest kernels, so berth's \
             stock guest kernel cannot boot here. Use a PVM guest kernel, or run berth inside \
             the nested-KVM test bed: `cargo xtask testbed -- <command>`",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_sys_module(modules: &[&str]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for m in modules {
            std::fs::create_dir(dir.path().join(m)).unwrap();
        }
        dir
    }

    #[test]
    fn pvm_wins_over_hardware_modules() {
        let d = fake_sys_module(&["kvm", "kvm_amd", "kvm_pvm"]);
        assert_eq!(KvmFlavor::detect(d.path()), KvmFlavor::Pvm);
        assert!(!KvmFlavor::Pvm.boots_stock_linux());
    }

    #[test]
    fn hardware_flavors() {
        let d = fake_sys_module(&["kvm", "kvm_amd"]);
        assert_eq!(KvmFlavor::detect(d.path()), KvmFlavor::Amd);
        let d = fake_sys_module(&["kvm", "kvm_intel"]);
        assert_eq!(KvmFlavor::detect(d.path()), KvmFlavor::Intel);
        let d = fake_sys_module(&[]);
        assert_eq!(KvmFlavor::detect(d.path()), KvmFlavor::Unknown);
        assert!(KvmFlavor::Amd.boots_stock_linux());
    }

    #[test]
    fn advice_only_for_pvm() {
        let mut r = KvmReport { api_version: 12, max_vcpus: 1, flavor: KvmFlavor::Amd };
        assert!(r.advice().is_none());
        r.flavor = KvmFlavor::Pvm;
        assert!(r.advice().unwrap().contains("testbed"));
    }
}
