//! Guest-virtual to guest-physical translation by walking the guest's own
//! page tables in guest memory, for the crash report's instruction bytes.
//!
//! Covers the x86 modes a booting kernel passes through: paging off (the
//! linear address is physical), 32-bit two-level paging (4 KiB and PSE
//! 4 MiB pages), PAE three-level, and long mode's four (or, with LA57,
//! five) levels with 1 GiB and 2 MiB pages. Pure: it reads guest memory and
//! registers it is handed, never a vCPU (the walk must work after the vCPU
//! is gone) and never writes (no accessed/dirty bits are set).

use vm_memory::{Bytes, GuestAddress, GuestMemory};

const CR0_PG: u64 = 1 << 31;
const CR4_PSE: u64 = 1 << 4;
const CR4_PAE: u64 = 1 << 5;
const CR4_LA57: u64 = 1 << 12;
const EFER_LMA: u64 = 1 << 10;
const PRESENT: u64 = 1;
const PAGE_SIZE_BIT: u64 = 1 << 7;
/// Physical-address bits of a 64-bit entry (bits 12..51).
const ADDR_MASK: u64 = 0x000f_ffff_ffff_f000;

/// The registers that decide how the guest translates addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Paging {
    pub cr0: u64,
    pub cr3: u64,
    pub cr4: u64,
    pub efer: u64,
}

/// Why an address has no guest-physical counterpart.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WalkError {
    #[error("not mapped: level-{level} entry {entry:#x} at {table:#x} is not present")]
    NotPresent { level: u8, table: u64, entry: u64 },
    #[error("page table at {0:#x} is outside guest RAM")]
    TableOutsideRam(u64),
    #[error("guest-physical {0:#x} is outside guest RAM")]
    OutsideRam(u64),
}

impl Paging {
    /// The mode's name, as the report prints it.
    pub fn mode(&self) -> &'static str {
        if self.cr0 & CR0_PG == 0 {
            "paging off"
        } else if self.efer & EFER_LMA != 0 {
            if self.cr4 & CR4_LA57 != 0 { "5-level paging" } else { "4-level paging" }
        } else if self.cr4 & CR4_PAE != 0 {
            "PAE paging"
        } else {
            "32-bit paging"
        }
    }

    /// The guest-physical address of `linear`.
    pub fn translate<M: GuestMemory>(&self, mem: &M, linear: u64) -> Result<u64, WalkError> {
        if self.cr0 & CR0_PG == 0 {
            return Ok(linear & 0xffff_ffff);
        }
        if self.efer & EFER_LMA != 0 {
            let levels = if self.cr4 & CR4_LA57 != 0 { 5 } else { 4 };
            return walk64(mem, self.cr3 & ADDR_MASK, linear, levels);
        }
        let linear = linear & 0xffff_ffff;
        if self.cr4 & CR4_PAE != 0 {
            // The PDPT: four 8-byte entries at CR3[31:5].
            let pdpt = self.cr3 & 0xffff_ffe0;
            let pdpte = read_u64(mem, pdpt + (linear >> 30) * 8)?;
            if pdpte & PRESENT == 0 {
                return Err(WalkError::NotPresent { level: 3, table: pdpt, entry: pdpte });
            }
            return walk64(mem, pdpte & ADDR_MASK, linear, 2);
        }
        let pd = self.cr3 & 0xffff_f000;
        let pde = u64::from(read_u32(mem, pd + (linear >> 22) * 4)?);
        if pde & PRESENT == 0 {
            return Err(WalkError::NotPresent { level: 2, table: pd, entry: pde });
        }
        if pde & PAGE_SIZE_BIT != 0 && self.cr4 & CR4_PSE != 0 {
            // PSE-36: bits 13..20 of the entry are physical bits 32..39.
            let high = ((pde >> 13) & 0xff) << 32;
            return Ok(high | (pde & 0xffc0_0000) | (linear & 0x3f_ffff));
        }
        let pt = pde & 0xffff_f000;
        let pte = u64::from(read_u32(mem, pt + ((linear >> 12) & 0x3ff) * 4)?);
        if pte & PRESENT == 0 {
            return Err(WalkError::NotPresent { level: 1, table: pt, entry: pte });
        }
        Ok((pte & 0xffff_f000) | (linear & 0xfff))
    }

    /// Up to `len` bytes at `linear`, page by page. Stops at the first
    /// byte that is not mapped: the bytes before it, and why, if any.
    pub fn read<M: GuestMemory>(&self, mem: &M, linear: u64, len: usize) -> (Vec<u8>, Option<WalkError>) {
        let mut out = Vec::with_capacity(len);
        while out.len() < len {
            let at = linear.wrapping_add(out.len() as u64);
            let gpa = match self.translate(mem, at) {
                Ok(gpa) => gpa,
                Err(e) => return (out, Some(e)),
            };
            let in_page = (0x1000 - (at & 0xfff)) as usize;
            let mut chunk = vec![0u8; in_page.min(len - out.len())];
            if mem.read_slice(&mut chunk, GuestAddress(gpa)).is_err() {
                return (out, Some(WalkError::OutsideRam(gpa)));
            }
            out.extend_from_slice(&chunk);
        }
        (out, None)
    }
}

/// Walks `levels` levels of 8-byte entries from `table` (long mode: 4 or
/// 5; PAE below its PDPT: 2).
fn walk64<M: GuestMemory>(mem: &M, mut table: u64, linear: u64, levels: u8) -> Result<u64, WalkError> {
    for level in (1..=levels).rev() {
        let shift = 12 + 9 * u32::from(level - 1);
        let entry = read_u64(mem, table + ((linear >> shift) & 0x1ff) * 8)?;
        if entry & PRESENT == 0 {
            return Err(WalkError::NotPresent { level, table, entry });
        }
        // A large page at level 3 (1 GiB) or 2 (2 MiB) ends the walk.
        if level > 1 && level < 4 && entry & PAGE_SIZE_BIT != 0 {
            let page = 1u64 << shift;
            return Ok((entry & ADDR_MASK & !(page - 1)) | (linear & (page - 1)));
        }
        table = entry & ADDR_MASK;
    }
    Ok(table | (linear & 0xfff))
}

fn read_u64<M: GuestMemory>(mem: &M, at: u64) -> Result<u64, WalkError> {
    mem.read_obj::<u64>(GuestAddress(at)).map_err(|_| WalkError::TableOutsideRam(at))
}

fn read_u32<M: GuestMemory>(mem: &M, at: u64) -> Result<u32, WalkError> {
    mem.read_obj::<u32>(GuestAddress(at)).map_err(|_| WalkError::TableOutsideRam(at))
}

#[cfg(test)]
mod tests {
    use super::*;
    use vm_memory::GuestMemoryMmap;

    fn mem() -> GuestMemoryMmap {
        GuestMemoryMmap::from_ranges(&[(GuestAddress(0), 4 << 20)]).unwrap()
    }

    fn put64(m: &GuestMemoryMmap, at: u64, v: u64) {
        m.write_obj(v, GuestAddress(at)).unwrap();
    }

    const KERNEL_VA: u64 = 0xffff_ffff_8100_0123;
    const LONG: Paging = Paging { cr0: CR0_PG | 1, cr3: 0x1000, cr4: CR4_PAE, efer: EFER_LMA | (1 << 8) };

    /// A 4-level map of the kernel's text address to 0x20_0000 + offset via
    /// 4 KiB pages, and a 2 MiB page for the identity-mapped first 2 MiB.
    fn long_mode_tables(m: &GuestMemoryMmap) {
        let (pml4, pdpt, pd, pt) = (0x1000, 0x2000, 0x3000, 0x4000);
        put64(m, pml4 + 511 * 8, pdpt | 3);
        put64(m, pdpt + ((KERNEL_VA >> 30) & 0x1ff) * 8, pd | 3);
        put64(m, pd + ((KERNEL_VA >> 21) & 0x1ff) * 8, pt | 3);
        put64(m, pt + ((KERNEL_VA >> 12) & 0x1ff) * 8, 0x20_0000 | 3);
        // The next page is not mapped.
        put64(m, pml4, 0x5000 | 3);
        put64(m, 0x5000, 0x6000 | 3);
        put64(m, 0x6000, PAGE_SIZE_BIT | 3); // 0..2 MiB, a large page
    }

    #[test]
    fn long_mode_walks_4k_and_2m_pages_and_says_where_it_stopped() {
        let m = mem();
        long_mode_tables(&m);
        assert_eq!(LONG.mode(), "4-level paging");
        assert_eq!(LONG.translate(&m, KERNEL_VA), Ok(0x20_0123));
        assert_eq!(LONG.translate(&m, 0x1234), Ok(0x1234));
        assert_eq!(LONG.translate(&m, 0x12_3456), Ok(0x12_3456));
        let next_page = (KERNEL_VA & !0xfff) + 0x1000;
        assert_eq!(LONG.translate(&m, next_page), Err(WalkError::NotPresent { level: 1, table: 0x4000, entry: 0 }));
        assert!(matches!(LONG.translate(&m, 0x7fff_0000_0000), Err(WalkError::NotPresent { level: 4, .. })));
    }

    #[test]
    fn reading_across_into_an_unmapped_page_keeps_the_mapped_bytes() {
        let m = mem();
        long_mode_tables(&m);
        m.write_slice(&[0x0f, 0x0b, 0x90], GuestAddress(0x20_0ffd)).unwrap();
        let end_of_page = (KERNEL_VA & !0xfff) + 0xffd;
        let (bytes, err) = LONG.read(&m, end_of_page, 16);
        assert_eq!(bytes, [0x0f, 0x0b, 0x90]);
        assert!(matches!(err, Some(WalkError::NotPresent { level: 1, .. })));
        let (bytes, err) = LONG.read(&m, KERNEL_VA, 16);
        assert_eq!((bytes.len(), err), (16, None));
    }

    #[test]
    fn paging_off_is_physical_and_outside_ram_is_said() {
        let m = mem();
        let off = Paging { cr0: 1, ..Default::default() };
        assert_eq!(off.mode(), "paging off");
        m.write_slice(&[0xf4], GuestAddress(0x10_0000)).unwrap();
        assert_eq!(off.read(&m, 0x10_0000, 1), (vec![0xf4], None));
        let (bytes, err) = off.read(&m, 0x9000_0000, 16);
        assert!(bytes.is_empty());
        assert_eq!(err, Some(WalkError::OutsideRam(0x9000_0000)));
    }

    #[test]
    fn thirty_two_bit_and_pae_paging() {
        let m = mem();
        // 32-bit: a 4 MiB PSE page at 0xc000_0000 -> 0, and a 4 KiB page.
        let p32 = Paging { cr0: CR0_PG | 1, cr3: 0x1000, cr4: CR4_PSE, efer: 0 };
        m.write_obj(0x83u32, GuestAddress(0x1000 + (0xc000_0000u64 >> 22) * 4)).unwrap();
        m.write_obj(0x2003u32, GuestAddress(0x1000 + 4)).unwrap(); // 0x40_0000.. via PT at 0x2000
        m.write_obj(0x30_0003u32, GuestAddress(0x2000 + 5 * 4)).unwrap();
        assert_eq!(p32.mode(), "32-bit paging");
        assert_eq!(p32.translate(&m, 0xc012_3456), Ok(0x12_3456));
        assert_eq!(p32.translate(&m, 0x40_5abc), Ok(0x30_0abc));
        assert!(matches!(p32.translate(&m, 0x40_6000), Err(WalkError::NotPresent { level: 1, .. })));

        // PAE: PDPT at 0x8000, PD at 0x9000 with a 2 MiB page.
        let pae = Paging { cr0: CR0_PG | 1, cr3: 0x8000, cr4: CR4_PAE, efer: 0 };
        put64(&m, 0x8000 + 3 * 8, 0x9001);
        put64(&m, 0x9000 + 8, 0x20_0000 | PAGE_SIZE_BIT | 3);
        assert_eq!(pae.mode(), "PAE paging");
        assert_eq!(pae.translate(&m, 0xc020_0010), Ok(0x20_0010));
        assert!(matches!(pae.translate(&m, 0x0), Err(WalkError::NotPresent { level: 3, .. })));
    }
}
