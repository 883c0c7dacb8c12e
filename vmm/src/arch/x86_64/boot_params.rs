//! What the kernel is told at entry: the memory map, where the command line
//! and initramfs are. Two encodings of the same facts: the Linux boot
//! protocol's zero page, and PVH's `hvm_start_info`. Both are written with
//! linux-loader's boot configurators; this module decides the contents.

use linux_loader::configurator::linux::LinuxBootConfigurator;
use linux_loader::configurator::pvh::PvhBootConfigurator;
use linux_loader::configurator::{BootConfigurator, BootParams};
use linux_loader::loader::bootparam::{boot_e820_entry, boot_params, setup_header};
use linux_loader::loader::elf::start_info::{hvm_memmap_table_entry, hvm_modlist_entry, hvm_start_info};
use vm_memory::{GuestAddress, GuestMemoryMmap};

use super::layout::{
    CMDLINE_START, EBDA_START, HIMEM_START, MMIO_GAP_END, MMIO_GAP_START, PVH_INFO_START, PVH_MEMMAP_START,
    PVH_MODLIST_START, ZERO_PAGE_START,
};

const E820_RAM: u32 = 1;
const XEN_HVM_START_MAGIC: u32 = 0x336e_c578;
/// "HdrS": the setup header's magic.
const HDRS_MAGIC: u32 = 0x5372_6448;
const BOOT_FLAG_MAGIC: u16 = 0xaa55;
/// "Undefined" boot loader: we are not one the kernel knows by ID.
const LOADER_TYPE_UNDEFINED: u8 = 0xff;
const KERNEL_ALIGNMENT: u32 = 0x0100_0000;

/// A RAM range in the guest's physical address space.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RamRange {
    pub start: u64,
    pub len: u64,
}

/// The usable RAM the guest is told about, for `mem_size` bytes of memory:
/// conventional memory below the EBDA, then 1 MiB up to the MMIO hole, then
/// whatever is left above 4 GiB.
pub fn ram_ranges(mem_size: u64) -> Vec<RamRange> {
    let mut ranges = vec![RamRange { start: 0, len: EBDA_START }];
    let low_end = mem_size.min(MMIO_GAP_START);
    if low_end > HIMEM_START {
        ranges.push(RamRange { start: HIMEM_START, len: low_end - HIMEM_START });
    }
    if mem_size > MMIO_GAP_START {
        ranges.push(RamRange { start: MMIO_GAP_END, len: mem_size - MMIO_GAP_START });
    }
    ranges
}

/// Where the initramfs was put.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InitramfsPlacement {
    pub addr: u64,
    pub size: u64,
}

/// Everything the kernel is told at entry.
#[derive(Debug, Clone)]
pub struct BootInfo {
    pub mem_size: u64,
    pub cmdline_len: usize,
    pub initramfs: Option<InitramfsPlacement>,
    /// The ACPI root pointer, when the guest gets ACPI tables.
    pub rsdp: Option<u64>,
}

#[derive(Debug, thiserror::Error)]
pub enum BootParamsError {
    #[error("too many memory ranges for the zero page")]
    TooManyRanges,
    #[error("writing boot parameters: {0}")]
    Write(#[from] linux_loader::configurator::Error),
}

/// Writes the Linux boot protocol's zero page at [`ZERO_PAGE_START`]. A
/// bzImage's own setup header is kept (the kernel reads fields from it);
/// an ELF kernel gets a blank one.
pub fn write_zero_page(
    mem: &GuestMemoryMmap,
    info: &BootInfo,
    kernel_header: Option<setup_header>,
) -> Result<(), BootParamsError> {
    let mut params = boot_params::default();
    if let Some(hdr) = kernel_header {
        params.hdr = hdr;
    }
    params.hdr.type_of_loader = LOADER_TYPE_UNDEFINED;
    params.hdr.boot_flag = BOOT_FLAG_MAGIC;
    params.hdr.header = HDRS_MAGIC;
    params.hdr.kernel_alignment = KERNEL_ALIGNMENT;
    params.hdr.cmd_line_ptr = CMDLINE_START as u32;
    params.hdr.cmdline_size = info.cmdline_len as u32;
    params.acpi_rsdp_addr = info.rsdp.unwrap_or(0);
    if let Some(initramfs) = info.initramfs {
        params.hdr.ramdisk_image = initramfs.addr as u32;
        params.hdr.ramdisk_size = initramfs.size as u32;
    }
    let ranges = ram_ranges(info.mem_size);
    if ranges.len() > params.e820_table.len() {
        return Err(BootParamsError::TooManyRanges);
    }
    for (slot, r) in params.e820_table.iter_mut().zip(&ranges) {
        *slot = boot_e820_entry { addr: r.start, size: r.len, r#type: E820_RAM };
    }
    params.e820_entries = ranges.len() as u8;
    let boot = BootParams::new(&params, GuestAddress(ZERO_PAGE_START));
    LinuxBootConfigurator::write_bootparams(&boot, mem)?;
    Ok(())
}

/// Writes PVH's `hvm_start_info`, memory map and module list (the
/// initramfs) at [`PVH_INFO_START`].
pub fn write_pvh_start_info(mem: &GuestMemoryMmap, info: &BootInfo) -> Result<(), BootParamsError> {
    let ranges = ram_ranges(info.mem_size);
    let memmap: Vec<hvm_memmap_table_entry> = ranges
        .iter()
        .map(|r| hvm_memmap_table_entry { addr: r.start, size: r.len, type_: E820_RAM, reserved: 0 })
        .collect();
    let mut start_info = hvm_start_info {
        magic: XEN_HVM_START_MAGIC,
        version: 1,
        cmdline_paddr: CMDLINE_START,
        memmap_paddr: PVH_MEMMAP_START,
        memmap_entries: memmap.len() as u32,
        rsdp_paddr: info.rsdp.unwrap_or(0),
        ..Default::default()
    };
    let mut modules = Vec::new();
    if let Some(initramfs) = info.initramfs {
        start_info.nr_modules = 1;
        start_info.modlist_paddr = PVH_MODLIST_START;
        modules.push(hvm_modlist_entry { paddr: initramfs.addr, size: initramfs.size, ..Default::default() });
    }
    let mut boot = BootParams::new(&start_info, GuestAddress(PVH_INFO_START));
    boot.set_sections(&memmap, GuestAddress(PVH_MEMMAP_START));
    if !modules.is_empty() {
        boot.set_modules(&modules, GuestAddress(PVH_MODLIST_START));
    }
    PvhBootConfigurator::write_bootparams(&boot, mem)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use vm_memory::Bytes;

    const MIB: u64 = 1 << 20;

    #[test]
    fn ram_ranges_skip_the_ebda_and_the_mmio_hole() {
        assert_eq!(
            ram_ranges(128 * MIB),
            vec![RamRange { start: 0, len: EBDA_START }, RamRange { start: HIMEM_START, len: 127 * MIB }]
        );
        let big = ram_ranges(4096 * MIB);
        assert_eq!(big[1], RamRange { start: HIMEM_START, len: MMIO_GAP_START - HIMEM_START });
        assert_eq!(big[2], RamRange { start: MMIO_GAP_END, len: 4096 * MIB - MMIO_GAP_START });
    }

    fn mem() -> GuestMemoryMmap {
        GuestMemoryMmap::from_ranges(&[(GuestAddress(0), (32 * MIB) as usize)]).unwrap()
    }

    #[test]
    fn zero_page_carries_cmdline_initramfs_and_e820() {
        let m = mem();
        let info = BootInfo {
            mem_size: 32 * MIB,
            cmdline_len: 42,
            initramfs: Some(InitramfsPlacement { addr: 0x1f0_0000, size: 0x1000 }),
            rsdp: Some(0xe_0000),
        };
        write_zero_page(&m, &info, None).unwrap();
        let p: boot_params = m.read_obj(GuestAddress(ZERO_PAGE_START)).unwrap();
        let (ptr, size, img, rsize, n) =
            (p.hdr.cmd_line_ptr, p.hdr.cmdline_size, p.hdr.ramdisk_image, p.hdr.ramdisk_size, p.e820_entries);
        assert_eq!((ptr, size, img, rsize, n), (CMDLINE_START as u32, 42, 0x1f0_0000, 0x1000, 2));
        let rsdp = p.acpi_rsdp_addr;
        assert_eq!(rsdp, 0xe_0000);
        let e1 = p.e820_table[1];
        let (addr, len) = (e1.addr, e1.size);
        assert_eq!((addr, len), (HIMEM_START, 31 * MIB));
    }

    #[test]
    fn pvh_start_info_points_at_memmap_and_module() {
        let m = mem();
        let info = BootInfo {
            mem_size: 32 * MIB,
            cmdline_len: 10,
            initramfs: Some(InitramfsPlacement { addr: 0x1f0_0000, size: 0x2000 }),
            rsdp: None,
        };
        write_pvh_start_info(&m, &info).unwrap();
        let si: hvm_start_info = m.read_obj(GuestAddress(PVH_INFO_START)).unwrap();
        assert_eq!(si.magic, XEN_HVM_START_MAGIC);
        assert_eq!((si.memmap_paddr, si.memmap_entries, si.nr_modules), (PVH_MEMMAP_START, 2, 1));
        let module: hvm_modlist_entry = m.read_obj(GuestAddress(PVH_MODLIST_START)).unwrap();
        assert_eq!((module.paddr, module.size), (0x1f0_0000, 0x2000));
        let e: hvm_memmap_table_entry = m.read_obj(GuestAddress(PVH_MEMMAP_START + 24)).unwrap();
        assert_eq!((e.addr, e.size, e.type_), (HIMEM_START, 31 * MIB, E820_RAM));
    }
}
