//! Segment descriptors for the first instruction. The kernel replaces
//! them almost at once, but KVM checks them on entry, so they must be
//! exactly right: a wrong access byte is a failed VM entry.

use kvm_bindings::kvm_segment;

/// Packs a descriptor the way the CPU reads it from the GDT.
pub const fn gdt_entry(flags: u16, base: u32, limit: u32) -> u64 {
    ((base as u64 & 0xff00_0000) << (56 - 24))
        | ((flags as u64 & 0x0000_f0ff) << 40)
        | ((limit as u64 & 0x000f_0000) << (48 - 16))
        | ((base as u64 & 0x00ff_ffff) << 16)
        | (limit as u64 & 0x0000_ffff)
}

fn base(entry: u64) -> u64 {
    ((entry & 0xff00_0000_0000_0000) >> 32)
        | ((entry & 0x0000_00ff_0000_0000) >> 16)
        | ((entry & 0x0000_0000_ffff_0000) >> 16)
}

fn limit(entry: u64) -> u32 {
    let raw = (((entry & 0x000f_0000_0000_0000) >> 32) | (entry & 0x0000_0000_0000_ffff)) as u32;
    // With the granularity bit set, the limit counts 4 KiB pages.
    if (entry >> 55) & 1 == 1 { (raw << 12) | 0xfff } else { raw }
}

/// Unpacks a descriptor into the form `KVM_SET_SREGS` takes.
pub fn kvm_segment_from_gdt(entry: u64, table_index: u8) -> kvm_segment {
    kvm_segment {
        base: base(entry),
        limit: limit(entry),
        selector: u16::from(table_index) * 8,
        type_: ((entry >> 40) & 0xf) as u8,
        present: ((entry >> 47) & 1) as u8,
        dpl: ((entry >> 45) & 3) as u8,
        db: ((entry >> 54) & 1) as u8,
        s: ((entry >> 44) & 1) as u8,
        l: ((entry >> 53) & 1) as u8,
        g: ((entry >> 55) & 1) as u8,
        avl: ((entry >> 52) & 1) as u8,
        padding: 0,
        unusable: u8::from((entry >> 47) & 1 == 0),
    }
}

/// Which entry protocol the GDT is built for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BootMode {
    /// PVH: 32-bit protected mode, paging off.
    Protected32,
    /// Linux 64-bit boot protocol: long mode, identity paging on.
    Long64,
}

/// The four GDT entries: null, code, data, TSS.
pub fn boot_gdt(mode: BootMode) -> [u64; 4] {
    let code = match mode {
        // 32-bit code segment: D=1, G=1, execute/read, accessed.
        BootMode::Protected32 => gdt_entry(0xc09b, 0, 0xffff_ffff),
        // 64-bit code segment: L=1, G=1.
        BootMode::Long64 => gdt_entry(0xa09b, 0, 0xfffff),
    };
    [gdt_entry(0, 0, 0), code, gdt_entry(0xc093, 0, 0xfffff), gdt_entry(0x808b, 0, 0xfffff)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_mode_code_segment_unpacks_as_kvm_expects() {
        let gdt = boot_gdt(BootMode::Long64);
        let cs = kvm_segment_from_gdt(gdt[1], 1);
        assert_eq!((cs.selector, cs.type_, cs.l, cs.db, cs.s, cs.present, cs.g), (8, 0xb, 1, 0, 1, 1, 1));
        assert_eq!(cs.limit, 0xffff_ffff);
        assert_eq!(cs.unusable, 0);
        let tss = kvm_segment_from_gdt(gdt[3], 3);
        assert_eq!((tss.selector, tss.type_, tss.s), (0x18, 0xb, 0));
        let null = kvm_segment_from_gdt(gdt[0], 0);
        assert_eq!(null.unusable, 1);
    }

    #[test]
    fn protected_mode_segments_are_flat_32_bit() {
        let gdt = boot_gdt(BootMode::Protected32);
        let cs = kvm_segment_from_gdt(gdt[1], 1);
        assert_eq!((cs.base, cs.limit, cs.db, cs.l), (0, 0xffff_ffff, 1, 0));
        let ds = kvm_segment_from_gdt(gdt[2], 2);
        assert_eq!((ds.selector, ds.type_, ds.db), (0x10, 0x3, 1));
    }

    #[test]
    fn base_and_limit_round_trip() {
        let e = gdt_entry(0x0093, 0x1234_5678, 0xabcde);
        let s = kvm_segment_from_gdt(e, 5);
        assert_eq!((s.base, s.limit, s.selector), (0x1234_5678, 0xabcde, 40));
    }
}
