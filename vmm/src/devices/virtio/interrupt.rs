//! A virtio-mmio device's interrupt: the InterruptStatus register's bits
//! and the irqfd that raises the line. Shared between the transport (which
//! the guest reads and acknowledges on a vCPU thread) and the device (which
//! raises it on the event-loop thread), hence atomic.

use std::sync::atomic::{AtomicU32, Ordering};

use crate::devices::irq::IrqLine;

/// "Used buffer notification" in InterruptStatus.
pub const INT_VRING: u32 = virtio_bindings::virtio_mmio::VIRTIO_MMIO_INT_VRING;
/// "Configuration change notification".
pub const INT_CONFIG: u32 = virtio_bindings::virtio_mmio::VIRTIO_MMIO_INT_CONFIG;

#[derive(Debug)]
pub struct VirtioInterrupt {
    status: AtomicU32,
    line: IrqLine,
}

impl VirtioInterrupt {
    pub fn new(line: IrqLine) -> Self {
        VirtioInterrupt { status: AtomicU32::new(0), line }
    }

    pub fn line(&self) -> &IrqLine {
        &self.line
    }

    /// Tells the driver that used rings changed.
    pub fn signal_used_queue(&self) {
        self.signal(INT_VRING);
    }

    fn signal(&self, bits: u32) {
        self.status.fetch_or(bits, Ordering::SeqCst);
        if let Err(e) = self.line.trigger() {
            tracing::error!(gsi = self.line.gsi(), error = %e, "cannot raise virtio interrupt");
        }
    }

    /// The InterruptStatus register.
    pub fn status(&self) -> u32 {
        self.status.load(Ordering::SeqCst)
    }

    /// InterruptACK: clears the acknowledged bits.
    pub fn ack(&self, bits: u32) {
        self.status.fetch_and(!bits, Ordering::SeqCst);
    }

    pub fn clear(&self) {
        self.status.store(0, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_bits_set_and_ack() {
        let i = VirtioInterrupt::new(IrqLine::new(5).unwrap());
        i.signal_used_queue();
        assert_eq!(i.status(), INT_VRING);
        assert_eq!(i.line().eventfd().read().unwrap(), 1);
        i.ack(INT_CONFIG);
        assert_eq!(i.status(), INT_VRING);
        i.ack(INT_VRING);
        assert_eq!(i.status(), 0);
    }
}
