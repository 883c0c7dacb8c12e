//! The guest physical address map. One table, so that nothing two
//! subsystems put in low memory can overlap by accident; every other module
//! takes its addresses from here.

/// Global descriptor table, written before boot.
pub const BOOT_GDT_START: u64 = 0x500;
/// Interrupt descriptor table (empty: the kernel installs its own).
pub const BOOT_IDT_START: u64 = 0x520;
/// PVH `hvm_start_info`, handed to the kernel in `rbx`.
pub const PVH_INFO_START: u64 = 0x6000;
/// PVH module list (the initramfs), right after the start info.
pub const PVH_MODLIST_START: u64 = 0x6040;
/// PVH memory map entries.
pub const PVH_MEMMAP_START: u64 = 0x7000;
/// Linux boot protocol "zero page" (`boot_params`), handed over in `rsi`.
/// Only one protocol is used per boot, so it may share the PVH map's page.
pub const ZERO_PAGE_START: u64 = 0x7000;
/// Initial stack for the 64-bit Linux boot protocol.
pub const BOOT_STACK_POINTER: u64 = 0x8ff0;
/// Identity-mapping page tables: one PML4, one PDPT, one PD of 2 MiB pages.
pub const PML4_START: u64 = 0x9000;
pub const PDPTE_START: u64 = 0xa000;
pub const PDE_START: u64 = 0xb000;
/// The kernel command line.
pub const CMDLINE_START: u64 = 0x20000;
/// Start of the Extended BIOS Data Area; conventional RAM ends here.
pub const EBDA_START: u64 = 0x9fc00;
/// The MP floating pointer and table live at the EBDA, where Linux scans.
pub const MPTABLE_START: u64 = EBDA_START;
/// The ACPI root pointer, where Linux's BIOS-area scan finds it even when
/// the boot protocol does not pass its address.
pub const RSDP_START: u64 = 0xe_0000;
/// The other ACPI tables follow the RSDP, up to 1 MiB.
pub const ACPI_TABLES_END: u64 = HIMEM_START;
/// The ACPI sleep control/status register (one I/O port) a hardware-reduced
/// ACPI guest writes to power off (Cloud Hypervisor uses the same port).
pub const ACPI_SLEEP_PORT: u64 = 0x600;
/// Where the kernel is loaded (1 MiB) and "high" memory starts.
pub const HIMEM_START: u64 = 0x10_0000;
/// Start of the 32-bit MMIO hole: RAM stops here and resumes at 4 GiB.
pub const MMIO_GAP_START: u64 = 0xc000_0000;
/// End of the 32-bit MMIO hole.
pub const MMIO_GAP_END: u64 = 0x1_0000_0000;
/// virtio-mmio devices get 4 KiB slots from here on.
pub const VIRTIO_MMIO_START: u64 = MMIO_GAP_START;
/// One virtio-mmio slot.
pub const VIRTIO_MMIO_SLOT_SIZE: u64 = 0x1000;
/// KVM's three-page TSS area on Intel, inside the MMIO hole, clear of the
/// IOAPIC (0xfec0_0000) and LAPIC (0xfee0_0000).
pub const KVM_TSS_ADDRESS: u64 = 0xfffb_d000;
/// The IOAPIC's MMIO base, fixed by the in-kernel irqchip.
pub const IOAPIC_START: u64 = 0xfec0_0000;
/// The local APIC's MMIO base.
pub const APIC_START: u64 = 0xfee0_0000;
/// Legacy interrupt lines the IOAPIC routes; 0-4 are taken by the PIT,
/// keyboard, cascade and serial ports, so devices use 5 onwards.
pub const IRQ_MAX: u32 = 23;
pub const IRQ_FIRST_FREE: u32 = 5;
/// The serial port's line.
pub const SERIAL_IRQ: u32 = 4;
