//! ACPI tables for kernels that find their devices only through ACPI.
//!
//! Debian's stock kernel is built without `VIRTIO_MMIO_CMDLINE_DEVICES`, so
//! `virtio_mmio.device=` on its command line means nothing to it: it finds
//! virtio-mmio devices as `LNRO0005` devices in the DSDT, the way QEMU's
//! microvm and Firecracker announce them. This module writes a hardware-
//! reduced ACPI description of the VM into the BIOS area: RSDP (at
//! [`RSDP_START`], where Linux scans), XSDT, FADT (hardware-reduced, no
//! CMOS RTC, no VGA, no MSI, an i8042), MADT (one local APIC per vCPU and
//! the IOAPIC) and a DSDT with COM1, the i8042, one `LNRO0005` device per
//! virtio-mmio slot and an `_S5_` sleep state whose sleep-control register
//! is the VMM's power-off port ([`ACPI_SLEEP_PORT`]).
//!
//! The tables are built with rust-vmm's `acpi_tables` crate (the one Cloud
//! Hypervisor uses), written once before the first `KVM_RUN`, and never
//! read back. This module decides the contents; it never touches KVM or
//! devices.

use acpi_tables::aml::{self, Device, EISAName, IO, Interrupt, Memory32Fixed, Name, Package, ResourceTemplate, Scope};
use acpi_tables::fadt::{FADTBuilder, Flags};
use acpi_tables::gas::{AccessSize, AddressSpace, GAS};
use acpi_tables::madt::{EnabledStatus, IoApic, LocalInterruptController, MADT, ProcessorLocalApic};
use acpi_tables::rsdp::Rsdp;
use acpi_tables::sdt::Sdt;
use acpi_tables::xsdt::XSDT;
use acpi_tables::{Aml, AmlSink};
use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};

use super::layout::{
    ACPI_SLEEP_PORT, ACPI_TABLES_END, APIC_START, IOAPIC_START, RSDP_START, SERIAL_IRQ, VIRTIO_MMIO_SLOT_SIZE,
};

const OEM_ID: [u8; 6] = *b"BERTH ";
const OEM_REVISION: u32 = 1;
/// The sleep type a guest writes to enter S5 (soft off); any value works
/// as long as `_S5_` and the power-off port agree.
pub const S5_SLEEP_TYPE: u8 = 5;

/// IA-PC boot architecture flags (FADT `iapc_boot_arch`).
const IAPC_8042: u16 = 1 << 1;
const IAPC_NO_VGA: u16 = 1 << 2;
const IAPC_NO_MSI: u16 = 1 << 3;
const IAPC_NO_CMOS_RTC: u16 = 1 << 5;

#[derive(Debug, thiserror::Error)]
pub enum AcpiError {
    #[error("ACPI tables ({0} bytes) do not fit below 1 MiB")]
    TooLarge(u64),
    #[error("virtio-mmio slot {0:#x} lies above 4 GiB, which ACPI's Memory32Fixed cannot describe")]
    SlotAbove4G(u64),
    #[error("too many vCPUs for the MADT: {0}")]
    TooManyCpus(u8),
    #[error("writing ACPI tables: {0}")]
    Write(#[from] vm_memory::GuestMemoryError),
}

/// What the guest is told about in ACPI.
#[derive(Debug, Clone)]
pub struct AcpiDevices<'a> {
    pub vcpus: u8,
    /// Each virtio-mmio slot's base address and GSI.
    pub virtio_mmio: &'a [(u64, u32)],
}

/// Bytes already serialized to AML, placed inside a scope.
struct RawAml(Vec<u8>);

impl Aml for RawAml {
    fn to_aml_bytes(&self, sink: &mut dyn AmlSink) {
        sink.vec(&self.0);
    }
}

fn to_bytes(aml: &dyn Aml) -> Vec<u8> {
    let mut v = Vec::new();
    aml.to_aml_bytes(&mut v);
    v
}

/// An edge-triggered, active-high interrupt the device consumes alone: how
/// KVM's IOAPIC delivers an irqfd.
fn edge_interrupt(gsi: u32) -> Interrupt {
    Interrupt::new(true, true, false, false, gsi)
}

fn com1() -> Vec<u8> {
    let irq = edge_interrupt(SERIAL_IRQ);
    let io = IO::new(0x3f8, 0x3f8, 1, 8);
    let crs = ResourceTemplate::new(vec![&io, &irq]);
    let hid = EISAName::new("PNP0501");
    to_bytes(&Device::new(
        "COM1".into(),
        vec![&Name::new("_HID".into(), &hid), &Name::new("_UID".into(), &aml::ONE), &Name::new("_CRS".into(), &crs)],
    ))
}

fn i8042() -> Vec<u8> {
    let data = IO::new(0x60, 0x60, 1, 1);
    let command = IO::new(0x64, 0x64, 1, 1);
    let irq = edge_interrupt(1);
    let crs = ResourceTemplate::new(vec![&data, &command, &irq]);
    let hid = EISAName::new("PNP0303");
    to_bytes(&Device::new("PS2_".into(), vec![&Name::new("_HID".into(), &hid), &Name::new("_CRS".into(), &crs)]))
}

fn virtio_mmio(index: usize, addr: u64, gsi: u32) -> Result<Vec<u8>, AcpiError> {
    let base = u32::try_from(addr).map_err(|_| AcpiError::SlotAbove4G(addr))?;
    let mem = Memory32Fixed::new(true, base, VIRTIO_MMIO_SLOT_SIZE as u32);
    let irq = edge_interrupt(gsi);
    let crs = ResourceTemplate::new(vec![&mem, &irq]);
    let uid = index as u32;
    // Four characters, as AML names must be: V000..VFFF.
    let name = format!("V{:03X}", index & 0xfff);
    Ok(to_bytes(&Device::new(
        name.as_str().into(),
        vec![
            &Name::new("_HID".into(), &"LNRO0005"),
            &Name::new("_UID".into(), &uid),
            &Name::new("_CCA".into(), &aml::ONE),
            &Name::new("_CRS".into(), &crs),
        ],
    )))
}

/// The DSDT's AML: devices under `\_SB_`, and `\_S5_`.
fn dsdt_body(devices: &AcpiDevices<'_>) -> Result<Vec<u8>, AcpiError> {
    let mut sb = com1();
    sb.extend(i8042());
    for (i, (addr, gsi)) in devices.virtio_mmio.iter().enumerate() {
        sb.extend(virtio_mmio(i, *addr, *gsi)?);
    }
    let raw = RawAml(sb);
    let mut body = to_bytes(&Scope::new("\\_SB_".into(), vec![&raw]));
    let s5 = Package::new(vec![&S5_SLEEP_TYPE]);
    body.extend(to_bytes(&Name::new("_S5_".into(), &s5)));
    Ok(body)
}

fn dsdt(devices: &AcpiDevices<'_>) -> Result<Vec<u8>, AcpiError> {
    let mut table = Sdt::new(*b"DSDT", 36, 6, OEM_ID, *b"BERTHDSD", OEM_REVISION);
    table.append_slice(&dsdt_body(devices)?);
    Ok(table.as_slice().to_vec())
}

fn fadt(dsdt_addr: u64) -> Vec<u8> {
    let sleep = GAS::new(AddressSpace::SystemIo, 8, 0, AccessSize::ByteAccess, ACPI_SLEEP_PORT);
    let mut b = FADTBuilder::new(OEM_ID, *b"BERTHFAC", OEM_REVISION)
        .dsdt_64(dsdt_addr)
        .flag(Flags::HwReducedAcpi)
        // Power and sleep buttons are not fixed hardware (there are none).
        .flag(Flags::PwrButton)
        .flag(Flags::SlpButton);
    b.iapc_boot_arch = (IAPC_8042 | IAPC_NO_VGA | IAPC_NO_MSI | IAPC_NO_CMOS_RTC).into();
    b.sleep_control_reg = sleep;
    b.sleep_status_reg = sleep;
    to_bytes(&b.finalize())
}

fn madt(vcpus: u8) -> Result<Vec<u8>, AcpiError> {
    let mut m = MADT::new(OEM_ID, *b"BERTHAPI", OEM_REVISION, LocalInterruptController::Address(APIC_START as u32));
    for id in 0..vcpus {
        m.add_structure(ProcessorLocalApic::new(id, id, EnabledStatus::Enabled));
    }
    // The same IOAPIC ID the MP table gives, clear of the local APICs.
    let ioapic_id = vcpus.checked_add(1).ok_or(AcpiError::TooManyCpus(vcpus))?;
    m.add_structure(IoApic::new(ioapic_id, IOAPIC_START as u32, 0));
    Ok(to_bytes(&m))
}

/// Tables are placed 16-byte aligned, one after another.
fn align(addr: u64) -> u64 {
    (addr + 15) & !15
}

/// Writes every table and returns the RSDP's address (for the zero page's
/// `acpi_rsdp_addr` and PVH's `rsdp_paddr`).
pub fn write_acpi_tables(mem: &GuestMemoryMmap, devices: &AcpiDevices<'_>) -> Result<u64, AcpiError> {
    let mut next = align(RSDP_START + Rsdp::len() as u64);
    let mut place = |bytes: &[u8]| -> Result<u64, AcpiError> {
        let at = next;
        let end = at + bytes.len() as u64;
        if end > ACPI_TABLES_END {
            return Err(AcpiError::TooLarge(end - RSDP_START));
        }
        mem.write_slice(bytes, GuestAddress(at))?;
        next = align(end);
        Ok(at)
    };
    let dsdt_addr = place(&dsdt(devices)?)?;
    let fadt_addr = place(&fadt(dsdt_addr))?;
    let madt_addr = place(&madt(devices.vcpus)?)?;
    let mut xsdt = XSDT::new(OEM_ID, *b"BERTHXSD", OEM_REVISION);
    xsdt.add_entry(fadt_addr);
    xsdt.add_entry(madt_addr);
    let xsdt_addr = place(&to_bytes(&xsdt))?;
    mem.write_slice(&to_bytes(&Rsdp::new(OEM_ID, xsdt_addr)), GuestAddress(RSDP_START))?;
    Ok(RSDP_START)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mem() -> GuestMemoryMmap {
        GuestMemoryMmap::from_ranges(&[(GuestAddress(0), 2 << 20)]).unwrap()
    }

    fn read(m: &GuestMemoryMmap, addr: u64, len: usize) -> Vec<u8> {
        let mut v = vec![0u8; len];
        m.read_slice(&mut v, GuestAddress(addr)).unwrap();
        v
    }

    fn u32_at(b: &[u8], o: usize) -> u32 {
        u32::from_le_bytes(b[o..o + 4].try_into().unwrap())
    }

    fn u64_at(b: &[u8], o: usize) -> u64 {
        u64::from_le_bytes(b[o..o + 8].try_into().unwrap())
    }

    /// Reads a table at `addr`: its signature, and its bytes after checking
    /// that they sum to zero as ACPI requires.
    fn table(m: &GuestMemoryMmap, addr: u64) -> ([u8; 4], Vec<u8>) {
        let head = read(m, addr, 36);
        let len = u32_at(&head, 4) as usize;
        let bytes = read(m, addr, len);
        let sum = bytes.iter().fold(0u8, |a, b| a.wrapping_add(*b));
        assert_eq!(sum, 0, "checksum of {:?}", &bytes[..4]);
        (bytes[..4].try_into().unwrap(), bytes)
    }

    fn contains(hay: &[u8], needle: &[u8]) -> bool {
        hay.windows(needle.len()).any(|w| w == needle)
    }

    #[test]
    fn tables_chain_from_the_rsdp_and_checksum() {
        let m = mem();
        let slots = [(0xc000_0000, 5), (0xc000_1000, 6), (0xc000_2000, 7)];
        let rsdp_addr = write_acpi_tables(&m, &AcpiDevices { vcpus: 2, virtio_mmio: &slots }).unwrap();
        assert_eq!(rsdp_addr, RSDP_START);
        let rsdp = read(&m, rsdp_addr, 36);
        assert_eq!(&rsdp[..8], b"RSD PTR ");
        assert_eq!(rsdp.iter().fold(0u8, |a, b| a.wrapping_add(*b)), 0);
        assert_eq!(rsdp[..20].iter().fold(0u8, |a, b| a.wrapping_add(*b)), 0);

        let (sig, xsdt) = table(&m, u64_at(&rsdp, 24));
        assert_eq!(&sig, b"XSDT");
        let entries: Vec<u64> = (36..xsdt.len()).step_by(8).map(|o| u64_at(&xsdt, o)).collect();
        assert_eq!(entries.len(), 2);

        let (sig, fadt) = table(&m, entries[0]);
        assert_eq!(&sig, b"FACP");
        let flags = u32_at(&fadt, 112);
        assert_ne!(flags & Flags::HwReducedAcpi as u32, 0, "hardware-reduced");
        let boot_arch = u16::from_le_bytes([fadt[109], fadt[110]]);
        assert_eq!(boot_arch, IAPC_8042 | IAPC_NO_VGA | IAPC_NO_MSI | IAPC_NO_CMOS_RTC);
        // Sleep control register: system I/O, 8 bits, at the power-off port.
        assert_eq!(fadt[244], 1);
        assert_eq!(u64_at(&fadt, 248), ACPI_SLEEP_PORT);

        let (sig, dsdt) = table(&m, u64_at(&fadt, 140));
        assert_eq!(&sig, b"DSDT");
        let hids = dsdt.windows(8).filter(|w| w == b"LNRO0005").count();
        assert_eq!(hids, 3, "one LNRO0005 device per slot");
        for name in [b"V000", b"V001", b"V002", b"COM1", b"PS2_", b"_S5_"] {
            assert!(contains(&dsdt, name), "{}", String::from_utf8_lossy(name));
        }
        // Memory32Fixed (0x86, length 9, read-write) for the second slot.
        let mut desc = vec![0x86, 9, 0, 1];
        desc.extend_from_slice(&0xc000_1000u32.to_le_bytes());
        desc.extend_from_slice(&0x1000u32.to_le_bytes());
        assert!(contains(&dsdt, &desc));
        // Extended interrupt descriptor for GSI 7: consumer, edge, high.
        let mut irq = vec![0x89, 6, 0, 0b011, 1];
        irq.extend_from_slice(&7u32.to_le_bytes());
        assert!(contains(&dsdt, &irq));

        let (sig, madt) = table(&m, entries[1]);
        assert_eq!(&sig, b"APIC");
        assert_eq!(u32_at(&madt, 36), APIC_START as u32);
        // Two local APICs (type 0, 8 bytes, ids 0 and 1), then the IOAPIC
        // (type 1, 12 bytes).
        assert_eq!(&madt[44..48], &[0, 8, 0, 0]);
        assert_eq!(&madt[52..56], &[0, 8, 1, 1]);
        assert_eq!((madt[60], madt[61]), (1, 12));
        assert_eq!(madt[62], 3, "IOAPIC id after the CPUs'");
        assert_eq!(u32_at(&madt, 64), IOAPIC_START as u32);
    }

    #[test]
    fn slots_above_4g_are_refused() {
        let e = write_acpi_tables(&mem(), &AcpiDevices { vcpus: 1, virtio_mmio: &[(1 << 32, 5)] }).unwrap_err();
        assert!(matches!(e, AcpiError::SlotAbove4G(_)), "{e}");
    }

    #[test]
    fn tables_that_do_not_fit_in_guest_memory_are_an_error() {
        let small = GuestMemoryMmap::from_ranges(&[(GuestAddress(0), 0xe_0000)]).unwrap();
        let e = write_acpi_tables(&small, &AcpiDevices { vcpus: 1, virtio_mmio: &[] });
        assert!(matches!(e, Err(AcpiError::Write(_))));
    }
}
