//! Paravirtual devices on the virtio-mmio transport.
//!
//! `mmio` is the transport: the register window a driver programs, shared
//! by every device. Each device (`block`, `rng`, `vsock`, `net`, `fs`) implements
//! [`VirtioDevice`] for the transport's side (features, config space,
//! activation) and event-manager's `MutEventSubscriber` for its own side
//! (queue notifications and host backends, on the event-loop thread).
//! Queues are virtio-queue's; no device walks a ring by hand. Everything
//! that comes out of a queue is guest-controlled: a device checks it, fails
//! the one request that is wrong, and carries on.

pub mod block;
pub mod fs;
pub mod interrupt;
pub mod mmio;
pub mod net;
pub mod rng;
#[cfg(test)]
pub mod test_utils;
pub mod vsock;

use std::sync::Arc;

use virtio_queue::Queue;
use vm_memory::GuestMemoryMmap;
use vmm_sys_util::eventfd::EventFd;

pub use interrupt::VirtioInterrupt;

/// Feature bit every modern (virtio 1.x) device offers.
pub const VIRTIO_F_VERSION_1: u64 = 1 << virtio_bindings::virtio_config::VIRTIO_F_VERSION_1;

/// What a device is given when the driver sets DRIVER_OK.
pub struct Activation {
    pub mem: Arc<GuestMemoryMmap>,
    pub queues: Vec<Queue>,
    pub acked_features: u64,
    pub interrupt: Arc<VirtioInterrupt>,
}

impl Activation {
    /// Fails unless the driver set up exactly the `want` queues the device
    /// runs on; every device checks this before touching `queues[i]`.
    pub fn expect_queues(&self, want: usize) -> Result<(), ActivateError> {
        let got = self.queues.len();
        if got == want { Ok(()) } else { Err(ActivateError::QueueCount { got, want }) }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ActivateError {
    #[error("driver set up {got} queues, the device needs {want}")]
    QueueCount { got: usize, want: usize },
    #[error("device backend failed to start: {0}")]
    Backend(String),
}

/// The transport-facing side of a virtio device.
pub trait VirtioDevice: Send {
    /// virtio device ID (`VIRTIO_ID_*`).
    fn device_type(&self) -> u32;
    /// Maximum size of each queue; the number of entries is the number of
    /// queues.
    fn queue_max_sizes(&self) -> &[u16];
    /// One eventfd per queue, signalled by KVM (ioeventfd) when the driver
    /// writes that queue's index to QueueNotify.
    fn queue_events(&self) -> &[EventFd];
    /// Feature bits the device offers.
    fn features(&self) -> u64;
    /// Reads the device-specific config space; bytes past its end read 0.
    fn read_config(&self, offset: u64, data: &mut [u8]);
    /// Writes the config space; devices whose config is read-only ignore it.
    fn write_config(&mut self, offset: u64, data: &[u8]) {
        tracing::debug!(device = self.device_type(), offset, len = data.len(), "ignored config write");
    }
    /// Starts the device with the queues the driver set up.
    fn activate(&mut self, activation: Activation) -> Result<(), ActivateError>;
    /// Returns the device to its pre-activation state (driver wrote 0 to
    /// the status register). Returns false if the device cannot be reset.
    fn reset(&mut self) -> bool;
}

/// Copies the window `[offset, offset + data.len())` of `config` into
/// `data`, with zeros past the end: guest offsets are untrusted.
pub fn read_config_bytes(config: &[u8], offset: u64, data: &mut [u8]) {
    data.fill(0);
    let Ok(start) = usize::try_from(offset) else {
        return;
    };
    if start >= config.len() {
        return;
    }
    let n = data.len().min(config.len() - start);
    data[..n].copy_from_slice(&config[start..start + n]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_reads_are_bounded() {
        let cfg = [1u8, 2, 3, 4];
        let mut d = [9u8; 4];
        read_config_bytes(&cfg, 2, &mut d);
        assert_eq!(d, [3, 4, 0, 0]);
        read_config_bytes(&cfg, 100, &mut d);
        assert_eq!(d, [0; 4]);
        read_config_bytes(&cfg, u64::MAX, &mut d);
        assert_eq!(d, [0; 4]);
    }
}
