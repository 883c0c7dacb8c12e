//! The KVM VM file descriptor and what is configured on it once: guest
//! memory slots, the in-kernel irqchip (PIC + IOAPIC + LAPICs) and PIT, and
//! the irqfd/ioeventfd bindings that let devices and the guest signal each
//! other without a vCPU exit. It never runs vCPUs.

use kvm_bindings::{
    KVM_CAP_EXIT_ON_EMULATION_FAILURE, KVM_PIT_SPEAKER_DUMMY, kvm_enable_cap, kvm_pit_config,
    kvm_userspace_memory_region,
};
use kvm_ioctls::{IoEventAddress, Kvm, VcpuFd, VmFd};
use vm_memory::{Address, GuestMemoryBackend, GuestMemoryMmap, GuestMemoryRegion};
use vmm_sys_util::eventfd::EventFd;

use crate::arch::x86_64::layout::KVM_TSS_ADDRESS;

#[derive(Debug, thiserror::Error)]
pub enum VmError {
    #[error("{what}: {source}")]
    Kvm { what: &'static str, source: kvm_ioctls::Error },
    #[error("guest memory region at {0:#x} has no host mapping")]
    NoHostMapping(u64),
    #[error("KVM has only {slots} memory slots, guest memory needs {needed}")]
    Slots { slots: usize, needed: usize },
}

fn kvm(what: &'static str) -> impl FnOnce(kvm_ioctls::Error) -> VmError {
    move |source| VmError::Kvm { what, source }
}

/// Asks KVM to exit to us on every instruction it cannot emulate, with the
/// instruction's bytes (Linux 5.16+); an older host kernel lacks the
/// capability and reports fewer emulation failures, without bytes.
fn enable_exit_on_emulation_failure(fd: &VmFd) {
    if fd.check_extension_raw(KVM_CAP_EXIT_ON_EMULATION_FAILURE.into()) <= 0 {
        tracing::debug!("KVM_CAP_EXIT_ON_EMULATION_FAILURE not offered");
        return;
    }
    let mut cap = kvm_enable_cap { cap: KVM_CAP_EXIT_ON_EMULATION_FAILURE, ..Default::default() };
    cap.args[0] = 1;
    if let Err(e) = fd.enable_cap(&cap) {
        tracing::warn!(error = %e, "cannot enable KVM_CAP_EXIT_ON_EMULATION_FAILURE");
    }
}

/// A KVM VM with its interrupt controllers.
pub struct Vm {
    fd: VmFd,
}

impl Vm {
    /// Creates the VM, its TSS area, irqchip and PIT.
    pub fn new(kvm_handle: &Kvm) -> Result<Self, VmError> {
        let fd = kvm_handle.create_vm().map_err(kvm("KVM_CREATE_VM"))?;
        crate::timeline::mark("vm: KVM_CREATE_VM");
        fd.set_tss_address(KVM_TSS_ADDRESS as usize).map_err(kvm("KVM_SET_TSS_ADDR"))?;
        fd.create_irq_chip().map_err(kvm("KVM_CREATE_IRQCHIP"))?;
        crate::timeline::mark("vm: irqchip");
        // The PC speaker port is emulated as a no-op rather than exiting.
        let pit = kvm_pit_config { flags: KVM_PIT_SPEAKER_DUMMY, ..Default::default() };
        fd.create_pit2(pit).map_err(kvm("KVM_CREATE_PIT2"))?;
        crate::timeline::mark("vm: pit");
        enable_exit_on_emulation_failure(&fd);
        Ok(Vm { fd })
    }

    /// Hands every guest memory region to KVM as a memory slot.
    pub fn register_memory(&self, kvm_handle: &Kvm, mem: &GuestMemoryMmap) -> Result<(), VmError> {
        let slots = kvm_handle.get_nr_memslots();
        if mem.num_regions() > slots {
            return Err(VmError::Slots { slots, needed: mem.num_regions() });
        }
        for (slot, region) in mem.iter().enumerate() {
            let host = region
                .get_host_address(vm_memory::MemoryRegionAddress(0))
                .map_err(|_| VmError::NoHostMapping(region.start_addr().raw_value()))?;
            let r = kvm_userspace_memory_region {
                slot: slot as u32,
                flags: 0,
                guest_phys_addr: region.start_addr().raw_value(),
                memory_size: region.len(),
                userspace_addr: host as u64,
            };
            // SAFETY: `host` is the start of a live mapping of exactly
            // `region.len()` bytes owned by `mem`, which the caller keeps
            // alive for as long as the VM exists (the builder stores both in
            // the same `Vmm`, with the VM dropped first). Slots do not
            // overlap because vm-memory rejects overlapping regions.
            unsafe { self.fd.set_user_memory_region(r) }.map_err(kvm("KVM_SET_USER_MEMORY_REGION"))?;
            crate::timeline::mark("vm: memory region");
        }
        Ok(())
    }

    /// Binds `evt` to `gsi`: a write to the eventfd raises the interrupt.
    pub fn register_irqfd(&self, evt: &EventFd, gsi: u32) -> Result<(), VmError> {
        self.fd.register_irqfd(evt, gsi).map_err(kvm("KVM_IRQFD"))
    }

    /// Makes a 4-byte guest write of `value` at MMIO `addr` signal `evt`
    /// inside KVM, without an exit to the VMM.
    pub fn register_ioevent(&self, evt: &EventFd, addr: u64, value: u32) -> Result<(), VmError> {
        self.fd.register_ioevent(evt, &IoEventAddress::Mmio(addr), value).map_err(kvm("KVM_IOEVENTFD"))
    }

    pub fn create_vcpu(&self, index: u8) -> Result<VcpuFd, VmError> {
        self.fd.create_vcpu(u64::from(index)).map_err(kvm("KVM_CREATE_VCPU"))
    }
}
