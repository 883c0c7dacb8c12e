//! The register state a vCPU starts in, for each entry protocol.
//!
//! The boot vCPU gets the entry point, the boot-information pointer and the
//! segment/paging state the protocol promises; the others start in the
//! reset state and wait for the kernel's INIT-SIPI. This module writes the
//! GDT, IDT and page tables to guest memory and sets registers; it never
//! runs a vCPU.

use kvm_bindings::{Msrs, kvm_fpu, kvm_msr_entry, kvm_regs, kvm_sregs};
use kvm_ioctls::VcpuFd;
use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};

use super::gdt::{BootMode, boot_gdt, kvm_segment_from_gdt};
use super::layout::{
    BOOT_GDT_START, BOOT_IDT_START, BOOT_STACK_POINTER, PDE_START, PDPTE_START, PML4_START, PVH_INFO_START,
    ZERO_PAGE_START,
};

const X86_CR0_PE: u64 = 0x1;
const X86_CR0_ET: u64 = 0x10;
const X86_CR0_PG: u64 = 0x8000_0000;
const X86_CR4_PAE: u64 = 0x20;
const EFER_LME: u64 = 0x100;
const EFER_LMA: u64 = 0x400;

const MSR_IA32_SYSENTER_CS: u32 = 0x174;
const MSR_IA32_SYSENTER_ESP: u32 = 0x175;
const MSR_IA32_SYSENTER_EIP: u32 = 0x176;
const MSR_STAR: u32 = 0xc000_0081;
const MSR_LSTAR: u32 = 0xc000_0082;
const MSR_CSTAR: u32 = 0xc000_0083;
const MSR_SYSCALL_MASK: u32 = 0xc000_0084;
const MSR_KERNEL_GS_BASE: u32 = 0xc000_0102;
const MSR_IA32_TSC: u32 = 0x10;
const MSR_IA32_MISC_ENABLE: u32 = 0x1a0;
const MSR_IA32_MISC_ENABLE_FAST_STRING: u64 = 0x1;
const MSR_MTRR_DEF_TYPE: u32 = 0x2ff;
/// MTRRs enabled, default type write-back: without it the kernel sees all
/// memory as uncached and boots many times slower.
const MTRR_ENABLE_WRITEBACK: u64 = (1 << 11) | 6;

/// How the kernel is entered; decides the registers and the boot pointer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryPoint {
    /// PVH: 32-bit protected mode at `entry`, `rbx` = start info.
    Pvh { entry: u64 },
    /// Linux 64-bit boot protocol at `entry`, `rsi` = zero page.
    Linux64 { entry: u64 },
}

impl EntryPoint {
    fn mode(self) -> BootMode {
        match self {
            EntryPoint::Pvh { .. } => BootMode::Protected32,
            EntryPoint::Linux64 { .. } => BootMode::Long64,
        }
    }
}

/// Failures writing boot state; any of them means the VM cannot start.
#[derive(Debug, thiserror::Error)]
pub enum RegsError {
    #[error("writing {what} to guest memory: {source}")]
    Memory { what: &'static str, source: vm_memory::GuestMemoryError },
    #[error("{what}: {source}")]
    Kvm { what: &'static str, source: kvm_ioctls::Error },
    #[error("KVM accepted only {set} of {wanted} boot MSRs")]
    Msrs { set: usize, wanted: usize },
}

fn kvm(what: &'static str) -> impl FnOnce(kvm_ioctls::Error) -> RegsError {
    move |source| RegsError::Kvm { what, source }
}

/// Writes the GDT, an empty IDT and (for long mode) identity page tables.
/// Shared by all vCPUs, so called once.
pub fn write_boot_tables(mem: &GuestMemoryMmap, entry: EntryPoint) -> Result<(), RegsError> {
    let mem_err = |what| move |source| RegsError::Memory { what, source };
    for (i, e) in boot_gdt(entry.mode()).iter().enumerate() {
        mem.write_obj(*e, GuestAddress(BOOT_GDT_START + 8 * i as u64)).map_err(mem_err("GDT"))?;
    }
    mem.write_obj(0u64, GuestAddress(BOOT_IDT_START)).map_err(mem_err("IDT"))?;
    if entry.mode() == BootMode::Long64 {
        // One PML4 entry -> one PDPT entry -> 512 2-MiB pages: the first GiB,
        // identity-mapped, which is where the kernel, zero page and command
        // line all are.
        mem.write_obj(PDPTE_START | 0x03, GuestAddress(PML4_START)).map_err(mem_err("PML4"))?;
        mem.write_obj(PDE_START | 0x03, GuestAddress(PDPTE_START)).map_err(mem_err("PDPT"))?;
        for i in 0..512u64 {
            mem.write_obj((i << 21) | 0x83, GuestAddress(PDE_START + i * 8)).map_err(mem_err("PD"))?;
        }
    }
    Ok(())
}

/// Sets segment, control and descriptor-table registers of the boot vCPU.
pub fn setup_sregs(vcpu: &VcpuFd, entry: EntryPoint) -> Result<(), RegsError> {
    let mut sregs: kvm_sregs = vcpu.get_sregs().map_err(kvm("KVM_GET_SREGS"))?;
    let gdt = boot_gdt(entry.mode());
    let code = kvm_segment_from_gdt(gdt[1], 1);
    let data = kvm_segment_from_gdt(gdt[2], 2);
    let tss = kvm_segment_from_gdt(gdt[3], 3);
    sregs.gdt.base = BOOT_GDT_START;
    sregs.gdt.limit = (std::mem::size_of_val(&gdt) - 1) as u16;
    sregs.idt.base = BOOT_IDT_START;
    sregs.idt.limit = 7;
    sregs.cs = code;
    sregs.ds = data;
    sregs.es = data;
    sregs.fs = data;
    sregs.gs = data;
    sregs.ss = data;
    sregs.tr = tss;
    match entry.mode() {
        BootMode::Protected32 => {
            sregs.cr0 = X86_CR0_PE | X86_CR0_ET;
            sregs.cr4 = 0;
            sregs.efer = 0;
        }
        BootMode::Long64 => {
            sregs.cr0 |= X86_CR0_PE | X86_CR0_PG;
            sregs.cr3 = PML4_START;
            sregs.cr4 |= X86_CR4_PAE;
            sregs.efer |= EFER_LME | EFER_LMA;
        }
    }
    vcpu.set_sregs(&sregs).map_err(kvm("KVM_SET_SREGS"))
}

/// Sets the general registers of the boot vCPU: entry point, boot pointer.
pub fn setup_regs(vcpu: &VcpuFd, entry: EntryPoint) -> Result<(), RegsError> {
    let regs = match entry {
        EntryPoint::Pvh { entry } => kvm_regs { rflags: 0x2, rip: entry, rbx: PVH_INFO_START, ..Default::default() },
        EntryPoint::Linux64 { entry } => kvm_regs {
            rflags: 0x2,
            rip: entry,
            rsp: BOOT_STACK_POINTER,
            rbp: BOOT_STACK_POINTER,
            rsi: ZERO_PAGE_START,
            ..Default::default()
        },
    };
    vcpu.set_regs(&regs).map_err(kvm("KVM_SET_REGS"))
}

/// x87 control word and SSE control/status as after `FNINIT`/reset.
pub fn setup_fpu(vcpu: &VcpuFd) -> Result<(), RegsError> {
    let fpu = kvm_fpu { fcw: 0x37f, mxcsr: 0x1f80, ..Default::default() };
    vcpu.set_fpu(&fpu).map_err(kvm("KVM_SET_FPU"))
}

/// The model-specific registers every vCPU starts with.
pub fn boot_msr_entries() -> Vec<kvm_msr_entry> {
    let entry = |index, data| kvm_msr_entry { index, data, ..Default::default() };
    vec![
        entry(MSR_IA32_SYSENTER_CS, 0),
        entry(MSR_IA32_SYSENTER_ESP, 0),
        entry(MSR_IA32_SYSENTER_EIP, 0),
        entry(MSR_STAR, 0),
        entry(MSR_CSTAR, 0),
        entry(MSR_KERNEL_GS_BASE, 0),
        entry(MSR_SYSCALL_MASK, 0),
        entry(MSR_LSTAR, 0),
        entry(MSR_IA32_TSC, 0),
        entry(MSR_IA32_MISC_ENABLE, MSR_IA32_MISC_ENABLE_FAST_STRING),
        entry(MSR_MTRR_DEF_TYPE, MTRR_ENABLE_WRITEBACK),
    ]
}

/// Sets [`boot_msr_entries`] on a vCPU.
pub fn setup_msrs(vcpu: &VcpuFd) -> Result<(), RegsError> {
    let entries = boot_msr_entries();
    let msrs = Msrs::from_entries(&entries).map_err(|_| RegsError::Msrs { set: 0, wanted: entries.len() })?;
    let set = vcpu.set_msrs(&msrs).map_err(kvm("KVM_SET_MSRS"))?;
    if set != entries.len() {
        return Err(RegsError::Msrs { set, wanted: entries.len() });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mem() -> GuestMemoryMmap {
        GuestMemoryMmap::from_ranges(&[(GuestAddress(0), 0x10_0000)]).unwrap()
    }

    #[test]
    fn long_mode_tables_identity_map_the_first_gib() {
        let m = mem();
        write_boot_tables(&m, EntryPoint::Linux64 { entry: 0x100_0000 }).unwrap();
        assert_eq!(m.read_obj::<u64>(GuestAddress(PML4_START)).unwrap(), PDPTE_START | 3);
        assert_eq!(m.read_obj::<u64>(GuestAddress(PDPTE_START)).unwrap(), PDE_START | 3);
        assert_eq!(m.read_obj::<u64>(GuestAddress(PDE_START + 511 * 8)).unwrap(), (511 << 21) | 0x83);
        let gdt1 = m.read_obj::<u64>(GuestAddress(BOOT_GDT_START + 8)).unwrap();
        assert_eq!(gdt1, boot_gdt(BootMode::Long64)[1]);
    }

    #[test]
    fn pvh_needs_no_page_tables() {
        let m = mem();
        write_boot_tables(&m, EntryPoint::Pvh { entry: 0x100_0000 }).unwrap();
        assert_eq!(m.read_obj::<u64>(GuestAddress(PML4_START)).unwrap(), 0);
        let gdt1 = m.read_obj::<u64>(GuestAddress(BOOT_GDT_START + 8)).unwrap();
        assert_eq!(gdt1, boot_gdt(BootMode::Protected32)[1]);
    }

    #[test]
    fn msrs_enable_writeback_mtrrs() {
        let msrs = boot_msr_entries();
        let mtrr = msrs.iter().find(|e| e.index == MSR_MTRR_DEF_TYPE).unwrap();
        assert_eq!(mtrr.data & (1 << 11), 1 << 11);
        assert_eq!(mtrr.data & 0xff, 6);
    }
}
