//! The Intel MultiProcessor table: how a guest without ACPI learns how many
//! CPUs it has and how the IOAPIC's pins are wired.
//!
//! berth's kernel has no ACPI, so without this table Linux sees one CPU and
//! no IOAPIC. The table is written once into the EBDA, where Linux scans
//! for the `_MP_` floating pointer. Layouts follow the MP spec 1.4.

use vm_memory::{ByteValued, Bytes, GuestAddress, GuestMemoryMmap};

use super::layout::{APIC_START, IOAPIC_START, IRQ_MAX, MPTABLE_START};

const MP_SPEC_REV: u8 = 4;
const APIC_VERSION: u8 = 0x14;
const IOAPIC_VERSION: u8 = 0x11;
const CPU_ENABLED: u8 = 1;
const CPU_BOOTPROCESSOR: u8 = 2;
/// Family 6 in the "CPU signature" field; Linux only prints it.
const CPU_STEPPING: u32 = 0x600;
/// Feature flags: FPU and on-chip APIC.
const CPU_FEATURE_APIC: u32 = 0x200;
const CPU_FEATURE_FPU: u32 = 0x001;

const ENTRY_PROCESSOR: u8 = 0;
const ENTRY_BUS: u8 = 1;
const ENTRY_IOAPIC: u8 = 2;
const ENTRY_INTSRC: u8 = 3;
const ENTRY_LINTSRC: u8 = 4;

const INT_TYPE_INT: u8 = 0;
const INT_TYPE_NMI: u8 = 1;
const INT_TYPE_EXTINT: u8 = 3;
/// Polarity and trigger "conform to the bus": ISA, so active-high edge.
const IRQ_FLAGS_DEFAULT: u16 = 0;

/// MP floating pointer structure.
#[repr(C, packed)]
#[derive(Clone, Copy, Default)]
struct MpFloatingPointer {
    signature: [u8; 4],
    physptr: u32,
    length: u8,
    specification: u8,
    checksum: u8,
    feature: [u8; 5],
}

/// MP configuration table header.
#[repr(C, packed)]
#[derive(Clone, Copy, Default)]
struct MpTableHeader {
    signature: [u8; 4],
    length: u16,
    spec: u8,
    checksum: u8,
    oem: [u8; 8],
    product_id: [u8; 12],
    oem_ptr: u32,
    oem_size: u16,
    entry_count: u16,
    lapic: u32,
    reserved: u32,
}

#[repr(C, packed)]
#[derive(Clone, Copy, Default)]
struct MpProcessor {
    entry_type: u8,
    apic_id: u8,
    apic_version: u8,
    cpu_flags: u8,
    signature: u32,
    feature_flags: u32,
    reserved: [u32; 2],
}

#[repr(C, packed)]
#[derive(Clone, Copy, Default)]
struct MpBus {
    entry_type: u8,
    bus_id: u8,
    bus_type: [u8; 6],
}

#[repr(C, packed)]
#[derive(Clone, Copy, Default)]
struct MpIoApic {
    entry_type: u8,
    apic_id: u8,
    apic_version: u8,
    flags: u8,
    address: u32,
}

/// Shared layout of I/O and local interrupt assignment entries.
#[repr(C, packed)]
#[derive(Clone, Copy, Default)]
struct MpInterrupt {
    entry_type: u8,
    int_type: u8,
    flags: u16,
    src_bus: u8,
    src_irq: u8,
    dst_apic: u8,
    dst_pin: u8,
}

// SAFETY: all of these are `repr(C, packed)` structs of integers and byte
// arrays: no padding, and every bit pattern is a valid value.
unsafe impl ByteValued for MpFloatingPointer {}
// SAFETY: as above.
unsafe impl ByteValued for MpTableHeader {}
// SAFETY: as above.
unsafe impl ByteValued for MpProcessor {}
// SAFETY: as above.
unsafe impl ByteValued for MpBus {}
// SAFETY: as above.
unsafe impl ByteValued for MpIoApic {}
// SAFETY: as above.
unsafe impl ByteValued for MpInterrupt {}

#[derive(Debug, thiserror::Error)]
pub enum MptableError {
    #[error("MP table for {0} vCPUs does not fit below 1 MiB")]
    TooManyCpus(u8),
    #[error("writing the MP table to guest memory: {0}")]
    Memory(#[from] vm_memory::GuestMemoryError),
}

/// Value that makes `bytes` sum to zero modulo 256.
fn checksum(bytes: &[u8]) -> u8 {
    bytes.iter().fold(0u8, |acc, b| acc.wrapping_add(*b)).wrapping_neg()
}

/// Builds the MP table (floating pointer + configuration table) as bytes,
/// to be placed at `base`.
fn build(base: u64, cpus: u8) -> Result<Vec<u8>, MptableError> {
    let ioapic_id = cpus.checked_add(1).ok_or(MptableError::TooManyCpus(cpus))?;
    let mut entries: Vec<u8> = Vec::new();
    let mut count: u16 = 0;
    let mut push = |bytes: &[u8]| {
        entries.extend_from_slice(bytes);
        count += 1;
    };
    for id in 0..cpus {
        let flags = CPU_ENABLED | if id == 0 { CPU_BOOTPROCESSOR } else { 0 };
        let cpu = MpProcessor {
            entry_type: ENTRY_PROCESSOR,
            apic_id: id,
            apic_version: APIC_VERSION,
            cpu_flags: flags,
            signature: CPU_STEPPING,
            feature_flags: CPU_FEATURE_APIC | CPU_FEATURE_FPU,
            reserved: [0; 2],
        };
        push(cpu.as_slice());
    }
    push(MpBus { entry_type: ENTRY_BUS, bus_id: 0, bus_type: *b"ISA   " }.as_slice());
    push(
        MpIoApic {
            entry_type: ENTRY_IOAPIC,
            apic_id: ioapic_id,
            apic_version: IOAPIC_VERSION,
            flags: 1,
            address: IOAPIC_START as u32,
        }
        .as_slice(),
    );
    for irq in 0..=IRQ_MAX as u8 {
        let int = MpInterrupt {
            entry_type: ENTRY_INTSRC,
            int_type: INT_TYPE_INT,
            flags: IRQ_FLAGS_DEFAULT,
            src_bus: 0,
            src_irq: irq,
            dst_apic: ioapic_id,
            dst_pin: irq,
        };
        push(int.as_slice());
    }
    let lint = |int_type, dst_apic, dst_pin| MpInterrupt {
        entry_type: ENTRY_LINTSRC,
        int_type,
        flags: IRQ_FLAGS_DEFAULT,
        src_bus: 0,
        src_irq: 0,
        dst_apic,
        dst_pin,
    };
    push(lint(INT_TYPE_EXTINT, 0, 0).as_slice());
    push(lint(INT_TYPE_NMI, 0xff, 1).as_slice());

    let fp_size = std::mem::size_of::<MpFloatingPointer>();
    let table_len = std::mem::size_of::<MpTableHeader>() + entries.len();
    let table_len_u16 = u16::try_from(table_len).map_err(|_| MptableError::TooManyCpus(cpus))?;
    let mut header = MpTableHeader {
        signature: *b"PCMP",
        length: table_len_u16,
        spec: MP_SPEC_REV,
        checksum: 0,
        oem: *b"BERTH   ",
        product_id: *b"MICROVM     ",
        oem_ptr: 0,
        oem_size: 0,
        entry_count: count,
        lapic: APIC_START as u32,
        reserved: 0,
    };
    let mut table = header.as_slice().to_vec();
    table.extend_from_slice(&entries);
    header.checksum = checksum(&table);
    table[..std::mem::size_of::<MpTableHeader>()].copy_from_slice(header.as_slice());

    let mut fp = MpFloatingPointer {
        signature: *b"_MP_",
        physptr: (base + fp_size as u64) as u32,
        length: 1, // in 16-byte units
        specification: MP_SPEC_REV,
        checksum: 0,
        feature: [0; 5],
    };
    fp.checksum = checksum(fp.as_slice());
    let mut out = fp.as_slice().to_vec();
    out.extend_from_slice(&table);
    Ok(out)
}

/// Writes the MP table for `cpus` vCPUs at [`MPTABLE_START`].
pub fn setup_mptable(mem: &GuestMemoryMmap, cpus: u8) -> Result<(), MptableError> {
    let bytes = build(MPTABLE_START, cpus)?;
    // The EBDA runs up to 0xa0000 (the VGA hole); stay inside it.
    if MPTABLE_START + bytes.len() as u64 > 0xa0000 {
        return Err(MptableError::TooManyCpus(cpus));
    }
    mem.write_slice(&bytes, GuestAddress(MPTABLE_START))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sum(bytes: &[u8]) -> u8 {
        bytes.iter().fold(0u8, |a, b| a.wrapping_add(*b))
    }

    #[test]
    fn checksums_and_counts_are_right() {
        for cpus in [1u8, 2, 8] {
            let b = build(MPTABLE_START, cpus).unwrap();
            assert_eq!(&b[..4], b"_MP_");
            assert_eq!(sum(&b[..16]), 0, "floating pointer checksum");
            let table = &b[16..];
            assert_eq!(&table[..4], b"PCMP");
            let len = u16::from_le_bytes([table[4], table[5]]) as usize;
            assert_eq!(len, table.len());
            assert_eq!(sum(table), 0, "table checksum");
            let count = u16::from_le_bytes([table[34], table[35]]);
            // cpus + bus + ioapic + 24 intsrc + 2 lintsrc
            assert_eq!(count as usize, cpus as usize + 2 + 24 + 2);
            let physptr = u32::from_le_bytes([b[4], b[5], b[6], b[7]]);
            assert_eq!(physptr as u64, MPTABLE_START + 16);
            // The first processor entry is the enabled boot processor.
            assert_eq!(table[44], ENTRY_PROCESSOR);
            assert_eq!(table[47], CPU_ENABLED | CPU_BOOTPROCESSOR);
        }
    }

    #[test]
    fn largest_config_fits_in_the_ebda() {
        let mem = GuestMemoryMmap::from_ranges(&[(GuestAddress(0), 0x10_0000)]).unwrap();
        setup_mptable(&mem, crate::config::MAX_VCPUS).unwrap();
        assert!(matches!(build(MPTABLE_START, 255), Err(MptableError::TooManyCpus(255))));
    }
}
