//! The virtio-mmio transport (version 2, "modern"): the 4 KiB register
//! window through which a driver discovers a device, negotiates features,
//! places its queues and starts it.
//!
//! Runs on vCPU threads (every access is an MMIO exit, except queue
//! notifications, which KVM turns into ioeventfd signals). Owns the queue
//! configuration until the driver sets DRIVER_OK, then hands the queues to
//! the device. Every value the driver writes is checked before use; a
//! driver that breaks the protocol gets DEVICE_NEEDS_RESET, never a crash.

use std::sync::{Arc, Mutex, PoisonError};

use virtio_bindings::virtio_config::{
    VIRTIO_CONFIG_S_ACKNOWLEDGE, VIRTIO_CONFIG_S_DRIVER, VIRTIO_CONFIG_S_DRIVER_OK, VIRTIO_CONFIG_S_FAILED,
    VIRTIO_CONFIG_S_FEATURES_OK, VIRTIO_CONFIG_S_NEEDS_RESET,
};
use virtio_queue::{Queue, QueueT};
use vm_memory::GuestMemoryMmap;

use super::{Activation, VIRTIO_F_VERSION_1, VirtioDevice, VirtioInterrupt};
use crate::devices::bus::BusDevice;

/// "virt" in little-endian.
const MMIO_MAGIC: u32 = 0x7472_6976;
const MMIO_VERSION: u32 = 2;
/// Vendor ID reported to the driver ("BRTH").
const VENDOR_ID: u32 = 0x4854_5242;

const REG_MAGIC: u64 = 0x000;
const REG_VERSION: u64 = 0x004;
const REG_DEVICE_ID: u64 = 0x008;
const REG_VENDOR_ID: u64 = 0x00c;
const REG_DEVICE_FEATURES: u64 = 0x010;
const REG_DEVICE_FEATURES_SEL: u64 = 0x014;
const REG_DRIVER_FEATURES: u64 = 0x020;
const REG_DRIVER_FEATURES_SEL: u64 = 0x024;
const REG_QUEUE_SEL: u64 = 0x030;
const REG_QUEUE_NUM_MAX: u64 = 0x034;
const REG_QUEUE_NUM: u64 = 0x038;
const REG_QUEUE_READY: u64 = 0x044;
/// Queue notifications are normally caught by an ioeventfd in KVM.
pub const REG_QUEUE_NOTIFY: u64 = 0x050;
const REG_INTERRUPT_STATUS: u64 = 0x060;
const REG_INTERRUPT_ACK: u64 = 0x064;
const REG_STATUS: u64 = 0x070;
const REG_QUEUE_DESC_LOW: u64 = 0x080;
const REG_QUEUE_DESC_HIGH: u64 = 0x084;
const REG_QUEUE_AVAIL_LOW: u64 = 0x090;
const REG_QUEUE_AVAIL_HIGH: u64 = 0x094;
const REG_QUEUE_USED_LOW: u64 = 0x0a0;
const REG_QUEUE_USED_HIGH: u64 = 0x0a4;
const REG_CONFIG_GENERATION: u64 = 0x0fc;
const CONFIG_SPACE: u64 = 0x100;

/// One device's register window.
pub struct MmioTransport {
    device: Arc<Mutex<dyn VirtioDevice>>,
    mem: Arc<GuestMemoryMmap>,
    interrupt: Arc<VirtioInterrupt>,
    device_type: u32,
    offered_features: u64,
    queues: Vec<Queue>,
    device_features_sel: u32,
    driver_features_sel: u32,
    acked_features: u64,
    queue_sel: u32,
    status: u32,
    activated: bool,
    /// Set when a reset was refused: the device stays dead.
    broken: bool,
}

impl MmioTransport {
    pub fn new(
        device: Arc<Mutex<dyn VirtioDevice>>,
        mem: Arc<GuestMemoryMmap>,
        interrupt: Arc<VirtioInterrupt>,
    ) -> Self {
        let (device_type, offered_features, queues) = {
            let d = device.lock().unwrap_or_else(PoisonError::into_inner);
            let queues = d.queue_max_sizes().iter().map(|&max| new_queue(max)).collect();
            (d.device_type(), d.features() | VIRTIO_F_VERSION_1, queues)
        };
        MmioTransport {
            device,
            mem,
            interrupt,
            device_type,
            offered_features,
            queues,
            device_features_sel: 0,
            driver_features_sel: 0,
            acked_features: 0,
            queue_sel: 0,
            status: 0,
            activated: false,
            broken: false,
        }
    }

    fn device(&self) -> std::sync::MutexGuard<'_, dyn VirtioDevice + 'static> {
        self.device.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn selected_queue(&mut self) -> Option<&mut Queue> {
        let q = self.queues.get_mut(self.queue_sel as usize);
        if q.is_none() {
            tracing::debug!(
                device = self.device_type,
                sel = self.queue_sel,
                "driver selected a queue that does not exist"
            );
        }
        q
    }

    /// Queue registers may only change before the device runs.
    fn queue_config_allowed(&self) -> bool {
        !self.activated
            && self.status & VIRTIO_CONFIG_S_FEATURES_OK != 0
            && self.status & VIRTIO_CONFIG_S_DRIVER_OK == 0
    }

    fn read_reg(&mut self, offset: u64) -> u32 {
        match offset {
            REG_MAGIC => MMIO_MAGIC,
            REG_VERSION => MMIO_VERSION,
            REG_DEVICE_ID if self.broken => 0,
            REG_DEVICE_ID => self.device_type,
            REG_VENDOR_ID => VENDOR_ID,
            REG_DEVICE_FEATURES => match self.device_features_sel {
                0 => self.offered_features as u32,
                1 => (self.offered_features >> 32) as u32,
                _ => 0,
            },
            REG_QUEUE_NUM_MAX => self.selected_queue().map_or(0, |q| q.max_size().into()),
            REG_QUEUE_READY => self.selected_queue().map_or(0, |q| q.ready().into()),
            REG_INTERRUPT_STATUS => self.interrupt.status(),
            REG_STATUS => self.status,
            REG_CONFIG_GENERATION => 0,
            _ => {
                tracing::debug!(device = self.device_type, offset, "read of a write-only or unknown register");
                0
            }
        }
    }

    fn write_reg(&mut self, offset: u64, v: u32) {
        match offset {
            REG_DEVICE_FEATURES_SEL => self.device_features_sel = v,
            REG_DRIVER_FEATURES_SEL => self.driver_features_sel = v,
            REG_DRIVER_FEATURES => self.write_driver_features(v),
            REG_QUEUE_SEL => self.queue_sel = v,
            REG_QUEUE_NUM | REG_QUEUE_READY | REG_QUEUE_DESC_LOW | REG_QUEUE_DESC_HIGH | REG_QUEUE_AVAIL_LOW
            | REG_QUEUE_AVAIL_HIGH | REG_QUEUE_USED_LOW | REG_QUEUE_USED_HIGH => self.write_queue_reg(offset, v),
            REG_QUEUE_NOTIFY => {
                // Only reached if the ioeventfd is missing; the device's
                // event loop would never hear it, so say so.
                crate::devices::guest_fault::report(
                    "queue notify reached the VMM (no ioeventfd)",
                    &format_args!("{} queue {v}", self.device_type),
                );
            }
            REG_INTERRUPT_ACK => self.interrupt.ack(v),
            REG_STATUS => self.write_status(v),
            _ => tracing::debug!(device = self.device_type, offset, "write to a read-only or unknown register"),
        }
    }

    fn write_driver_features(&mut self, v: u32) {
        if self.status & VIRTIO_CONFIG_S_DRIVER == 0 || self.status & VIRTIO_CONFIG_S_FEATURES_OK != 0 {
            crate::devices::guest_fault::report(
                "virtio-mmio: driver features written outside negotiation",
                &self.device_type,
            );
            return;
        }
        let shift = match self.driver_features_sel {
            0 => 0,
            1 => 32,
            _ => return,
        };
        let mask = 0xffff_ffffu64 << shift;
        self.acked_features = (self.acked_features & !mask) | ((u64::from(v) << shift) & mask);
    }

    fn write_queue_reg(&mut self, offset: u64, v: u32) {
        if !self.queue_config_allowed() {
            crate::devices::guest_fault::report(
                "virtio-mmio: queue register written outside queue setup",
                &format_args!("device {} register {offset:#x}", self.device_type),
            );
            return;
        }
        let Some(q) = self.selected_queue() else {
            return;
        };
        match offset {
            REG_QUEUE_NUM => q.set_size(v as u16),
            REG_QUEUE_READY => q.set_ready(v == 1),
            REG_QUEUE_DESC_LOW => q.set_desc_table_address(Some(v), None),
            REG_QUEUE_DESC_HIGH => q.set_desc_table_address(None, Some(v)),
            REG_QUEUE_AVAIL_LOW => q.set_avail_ring_address(Some(v), None),
            REG_QUEUE_AVAIL_HIGH => q.set_avail_ring_address(None, Some(v)),
            REG_QUEUE_USED_LOW => q.set_used_ring_address(Some(v), None),
            REG_QUEUE_USED_HIGH => q.set_used_ring_address(None, Some(v)),
            _ => {}
        }
    }

    fn write_status(&mut self, v: u32) {
        if v == 0 {
            self.reset();
            return;
        }
        if self.broken {
            return;
        }
        let new_bits = v & !self.status;
        if v & self.status != self.status {
            // Drivers may only add bits (or reset with 0).
            crate::devices::guest_fault::report(
                "virtio-mmio: driver cleared status bits",
                &format_args!("device {} status {:#x} -> {v:#x}", self.device_type, self.status),
            );
            self.status |= VIRTIO_CONFIG_S_NEEDS_RESET;
            return;
        }
        if new_bits & VIRTIO_CONFIG_S_FEATURES_OK != 0 {
            let unknown = self.acked_features & !self.offered_features;
            if unknown != 0 || self.acked_features & VIRTIO_F_VERSION_1 == 0 {
                crate::devices::guest_fault::report(
                    "virtio-mmio: driver accepted features not offered (or not VERSION_1)",
                    &format_args!("device {} features {:#x}", self.device_type, self.acked_features),
                );
                // Leaving FEATURES_OK clear tells the driver negotiation failed.
                self.status = v & !VIRTIO_CONFIG_S_FEATURES_OK;
                return;
            }
        }
        self.status = v;
        if new_bits & VIRTIO_CONFIG_S_DRIVER_OK != 0 {
            self.activate();
        }
        if new_bits & VIRTIO_CONFIG_S_FAILED != 0 {
            tracing::warn!(device = self.device_type, "driver gave up on the device (FAILED)");
        }
    }

    fn activate(&mut self) {
        let expected = VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK;
        if self.activated || self.status & expected != expected {
            crate::devices::guest_fault::report(
                "virtio-mmio: DRIVER_OK before feature negotiation",
                &format_args!("device {} status {:#x}", self.device_type, self.status),
            );
            self.status |= VIRTIO_CONFIG_S_NEEDS_RESET;
            return;
        }
        for (i, q) in self.queues.iter().enumerate() {
            if q.ready() && !q.is_valid(&*self.mem) {
                crate::devices::guest_fault::report(
                    "virtio-mmio: queue outside guest memory or misaligned",
                    &format_args!("device {} queue {i}", self.device_type),
                );
                self.status |= VIRTIO_CONFIG_S_NEEDS_RESET;
                return;
            }
        }
        let queues = self.queues.iter().map(copy_queue).collect();
        let activation = Activation {
            mem: self.mem.clone(),
            queues,
            acked_features: self.acked_features,
            interrupt: self.interrupt.clone(),
        };
        let result = self.device().activate(activation);
        match result {
            Ok(()) => self.activated = true,
            Err(e) => {
                tracing::error!(device = self.device_type, error = %e, "device activation failed");
                self.status |= VIRTIO_CONFIG_S_NEEDS_RESET;
            }
        }
    }

    fn reset(&mut self) {
        if self.activated && !self.device().reset() {
            tracing::error!(device = self.device_type, "device cannot be reset; it stays unusable");
            self.broken = true;
        }
        self.activated = false;
        self.status = 0;
        self.acked_features = 0;
        self.device_features_sel = 0;
        self.driver_features_sel = 0;
        self.queue_sel = 0;
        for q in &mut self.queues {
            q.reset();
        }
        self.interrupt.clear();
    }
}

fn new_queue(max: u16) -> Queue {
    // Devices only declare power-of-two sizes up to 32768, which
    // virtio-queue accepts; fall back to the default for anything else.
    Queue::new(max).unwrap_or_default()
}

/// A fresh `Queue` with the same configuration as the driver's.
fn copy_queue(q: &Queue) -> Queue {
    let mut out = new_queue(q.max_size());
    out.set_size(q.size());
    out.set_desc_table_address(Some(q.desc_table() as u32), Some((q.desc_table() >> 32) as u32));
    out.set_avail_ring_address(Some(q.avail_ring() as u32), Some((q.avail_ring() >> 32) as u32));
    out.set_used_ring_address(Some(q.used_ring() as u32), Some((q.used_ring() >> 32) as u32));
    out.set_ready(q.ready());
    out
}

impl BusDevice for MmioTransport {
    fn read(&mut self, offset: u64, data: &mut [u8]) {
        if offset >= CONFIG_SPACE {
            self.device().read_config(offset - CONFIG_SPACE, data);
            return;
        }
        match <&mut [u8; 4]>::try_from(data) {
            Ok(word) => *word = self.read_reg(offset).to_le_bytes(),
            Err(_) => tracing::debug!(device = self.device_type, offset, "register read not 4 bytes wide"),
        }
    }

    fn write(&mut self, offset: u64, data: &[u8]) {
        if offset >= CONFIG_SPACE {
            if self.status & VIRTIO_CONFIG_S_DRIVER != 0 {
                self.device().write_config(offset - CONFIG_SPACE, data);
            }
            return;
        }
        match <[u8; 4]>::try_from(data) {
            Ok(word) => self.write_reg(offset, u32::from_le_bytes(word)),
            Err(_) => tracing::debug!(device = self.device_type, offset, "register write not 4 bytes wide"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::devices::irq::IrqLine;
    use crate::devices::virtio::ActivateError;
    use vm_memory::GuestAddress;

    /// (size, ready, descriptor table address) of one activated queue.
    type QueueSeen = (u16, bool, u64);

    /// A device that records what the transport did to it.
    #[derive(Default)]
    struct Recorder {
        activations: Vec<(u64, Vec<QueueSeen>)>,
        resets: usize,
        config: [u8; 8],
        events: Vec<vmm_sys_util::eventfd::EventFd>,
    }

    impl VirtioDevice for Recorder {
        fn device_type(&self) -> u32 {
            42
        }
        fn queue_max_sizes(&self) -> &[u16] {
            &[16, 8]
        }
        fn queue_events(&self) -> &[vmm_sys_util::eventfd::EventFd] {
            &self.events
        }
        fn features(&self) -> u64 {
            1 << 3
        }
        fn read_config(&self, offset: u64, data: &mut [u8]) {
            super::super::read_config_bytes(&self.config, offset, data);
        }
        fn write_config(&mut self, offset: u64, data: &[u8]) {
            if let Some(dst) = self.config.get_mut(offset as usize..offset as usize + data.len()) {
                dst.copy_from_slice(data);
            }
        }
        fn activate(&mut self, a: Activation) -> Result<(), ActivateError> {
            let qs = a.queues.iter().map(|q| (q.size(), q.ready(), q.desc_table())).collect();
            self.activations.push((a.acked_features, qs));
            Ok(())
        }
        fn reset(&mut self) -> bool {
            self.resets += 1;
            true
        }
    }

    fn setup() -> (MmioTransport, Arc<Mutex<Recorder>>) {
        let mem = Arc::new(GuestMemoryMmap::from_ranges(&[(GuestAddress(0), 0x10_0000)]).unwrap());
        let dev = Arc::new(Mutex::new(Recorder::default()));
        let irq = Arc::new(VirtioInterrupt::new(IrqLine::new(5).unwrap()));
        (MmioTransport::new(dev.clone(), mem, irq), dev)
    }

    fn r(t: &mut MmioTransport, off: u64) -> u32 {
        let mut b = [0u8; 4];
        t.read(off, &mut b);
        u32::from_le_bytes(b)
    }

    fn w(t: &mut MmioTransport, off: u64, v: u32) {
        t.write(off, &v.to_le_bytes());
    }

    fn negotiate(t: &mut MmioTransport) {
        w(t, REG_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE);
        w(t, REG_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
        w(t, REG_DRIVER_FEATURES_SEL, 0);
        w(t, REG_DRIVER_FEATURES, 1 << 3);
        w(t, REG_DRIVER_FEATURES_SEL, 1);
        w(t, REG_DRIVER_FEATURES, 1);
        w(t, REG_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK);
    }

    fn setup_queue(t: &mut MmioTransport, sel: u32, size: u32, base: u32) {
        w(t, REG_QUEUE_SEL, sel);
        w(t, REG_QUEUE_NUM, size);
        w(t, REG_QUEUE_DESC_LOW, base);
        w(t, REG_QUEUE_AVAIL_LOW, base + 0x1000);
        w(t, REG_QUEUE_USED_LOW, base + 0x2000);
        w(t, REG_QUEUE_READY, 1);
    }

    #[test]
    fn identifies_itself() {
        let (mut t, _) = setup();
        assert_eq!(r(&mut t, REG_MAGIC), MMIO_MAGIC);
        assert_eq!(r(&mut t, REG_VERSION), 2);
        assert_eq!(r(&mut t, REG_DEVICE_ID), 42);
        assert_eq!(r(&mut t, REG_DEVICE_FEATURES), 1 << 3);
        w(&mut t, REG_DEVICE_FEATURES_SEL, 1);
        assert_eq!(r(&mut t, REG_DEVICE_FEATURES), 1, "VERSION_1 is bit 32");
        w(&mut t, REG_QUEUE_SEL, 1);
        assert_eq!(r(&mut t, REG_QUEUE_NUM_MAX), 8);
        w(&mut t, REG_QUEUE_SEL, 7);
        assert_eq!(r(&mut t, REG_QUEUE_NUM_MAX), 0);
    }

    #[test]
    fn full_handshake_activates_with_the_driver_queues() {
        let (mut t, dev) = setup();
        negotiate(&mut t);
        assert_ne!(r(&mut t, REG_STATUS) & VIRTIO_CONFIG_S_FEATURES_OK, 0);
        setup_queue(&mut t, 0, 16, 0x1_0000);
        setup_queue(&mut t, 1, 8, 0x2_0000);
        let status = r(&mut t, REG_STATUS);
        w(&mut t, REG_STATUS, status | VIRTIO_CONFIG_S_DRIVER_OK);
        let d = dev.lock().unwrap();
        assert_eq!(d.activations.len(), 1);
        let (features, queues) = &d.activations[0];
        assert_eq!(*features, (1 << 3) | VIRTIO_F_VERSION_1);
        assert_eq!(queues, &vec![(16, true, 0x1_0000), (8, true, 0x2_0000)]);
        drop(d);
        assert_eq!(r(&mut t, REG_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET, 0);
        // Reset hands control back.
        w(&mut t, REG_STATUS, 0);
        assert_eq!(dev.lock().unwrap().resets, 1);
        assert_eq!(r(&mut t, REG_STATUS), 0);
    }

    #[test]
    fn unoffered_features_fail_negotiation() {
        let (mut t, _) = setup();
        w(&mut t, REG_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
        w(&mut t, REG_DRIVER_FEATURES, 1 << 7);
        w(&mut t, REG_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK);
        assert_eq!(r(&mut t, REG_STATUS) & VIRTIO_CONFIG_S_FEATURES_OK, 0);
    }

    #[test]
    fn queue_outside_memory_is_refused_not_activated() {
        let (mut t, dev) = setup();
        negotiate(&mut t);
        setup_queue(&mut t, 0, 16, 0xfff_0000);
        let status = r(&mut t, REG_STATUS);
        w(&mut t, REG_STATUS, status | VIRTIO_CONFIG_S_DRIVER_OK);
        assert!(dev.lock().unwrap().activations.is_empty());
        assert_ne!(r(&mut t, REG_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET, 0);
    }

    #[test]
    fn protocol_violations_are_contained() {
        let (mut t, dev) = setup();
        // DRIVER_OK without negotiation.
        w(&mut t, REG_STATUS, VIRTIO_CONFIG_S_DRIVER_OK);
        assert!(dev.lock().unwrap().activations.is_empty());
        w(&mut t, REG_STATUS, 0);
        // Queue setup before FEATURES_OK is ignored.
        setup_queue(&mut t, 0, 16, 0x1_0000);
        w(&mut t, REG_QUEUE_SEL, 0);
        assert_eq!(r(&mut t, REG_QUEUE_READY), 0);
        // Odd-sized register accesses are ignored; config space is not.
        t.write(REG_STATUS, &[1, 0]);
        assert_eq!(r(&mut t, REG_STATUS), 0);
        w(&mut t, REG_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
        t.write(CONFIG_SPACE + 2, &[7, 8]);
        let mut b = [0u8; 2];
        t.read(CONFIG_SPACE + 2, &mut b);
        assert_eq!(b, [7, 8]);
        // Clearing bits is a violation.
        w(&mut t, REG_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE);
        assert_ne!(r(&mut t, REG_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET, 0);
    }
}
