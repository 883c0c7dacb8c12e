//! virtio-rng: fills the guest's buffers with the host kernel's random
//! bytes (getrandom), so the guest's entropy pool is ready at boot instead
//! of waiting for interrupts to trickle in. One queue; each chain's
//! writable buffers are filled, capped per request so a guest cannot make
//! the device thread stall on one huge chain.

use std::sync::Arc;

use event_manager::{EventOps, EventSet, Events, MutEventSubscriber};
use virtio_queue::{DescriptorChain, QueueT};
use vm_memory::GuestMemoryMmap;
use vmm_sys_util::eventfd::{EFD_NONBLOCK, EventFd};

use super::{ActivateError, Activation, VirtioDevice};

const QUEUE_SIZE: u16 = 256;
/// Most bytes handed out per request.
const MAX_REQUEST: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
enum RngError {
    #[error("descriptor chain: {0}")]
    Chain(#[from] virtio_queue::Error),
    #[error("getrandom: {0}")]
    Entropy(std::io::Error),
    #[error("writing to guest buffers: {0}")]
    Write(std::io::Error),
}

pub struct RngDevice {
    queue_evts: [EventFd; 1],
    active: Option<Activation>,
}

impl RngDevice {
    pub fn new() -> std::io::Result<Self> {
        Ok(RngDevice { queue_evts: [EventFd::new(EFD_NONBLOCK)?], active: None })
    }

    /// Serves every request waiting on the queue.
    pub(crate) fn process_queue(&mut self) {
        let Some(active) = &mut self.active else {
            return;
        };
        let mem: Arc<GuestMemoryMmap> = active.mem.clone();
        let queue = &mut active.queues[0];
        let mut used_any = false;
        while let Some(chain) = queue.pop_descriptor_chain(mem.as_ref()) {
            let head = chain.head_index();
            let len = fill(mem.as_ref(), chain).unwrap_or_else(|e| {
                crate::devices::guest_fault::report("virtio-rng: bad request", &e);
                0
            });
            if let Err(e) = queue.add_used(mem.as_ref(), head, len) {
                crate::devices::guest_fault::report("virtio-rng: cannot return a buffer", &e);
                break;
            }
            used_any = true;
        }
        if used_any {
            active.interrupt.signal_used_queue();
        }
    }
}

/// Fills a chain's writable buffers; returns the bytes written.
fn fill(mem: &GuestMemoryMmap, chain: DescriptorChain<&GuestMemoryMmap>) -> Result<u32, RngError> {
    let mut writer = chain.writer(mem)?;
    let want = writer.available_bytes().min(MAX_REQUEST);
    let mut buf = vec![0u8; want];
    let mut filled = 0;
    while filled < want {
        // SAFETY: the pointer and length describe the unfilled tail of
        // `buf`, which is valid for writes; getrandom writes at most that.
        let n = unsafe { libc::getrandom(buf[filled..].as_mut_ptr().cast(), want - filled, 0) };
        if n < 0 {
            let err = std::io::Error::last_os_error();
            if err.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(RngError::Entropy(err));
        }
        filled += n as usize;
    }
    std::io::Write::write_all(&mut writer, &buf).map_err(RngError::Write)?;
    Ok(want as u32)
}

impl VirtioDevice for RngDevice {
    fn device_type(&self) -> u32 {
        virtio_bindings::virtio_ids::VIRTIO_ID_RNG
    }
    fn queue_max_sizes(&self) -> &[u16] {
        &[QUEUE_SIZE]
    }
    fn queue_events(&self) -> &[EventFd] {
        &self.queue_evts
    }
    fn features(&self) -> u64 {
        0
    }
    fn read_config(&self, _offset: u64, data: &mut [u8]) {
        data.fill(0);
    }
    fn activate(&mut self, activation: Activation) -> Result<(), ActivateError> {
        activation.expect_queues(1)?;
        self.active = Some(activation);
        // The guest may have queued requests before the device ran.
        self.process_queue();
        Ok(())
    }
    fn reset(&mut self) -> bool {
        self.active = None;
        true
    }
}

impl MutEventSubscriber for RngDevice {
    fn init(&mut self, ops: &mut EventOps) {
        if let Err(e) = ops.add(Events::new(&self.queue_evts[0], EventSet::IN)) {
            tracing::error!(error = ?e, "virtio-rng: cannot watch the queue");
        }
    }

    fn process(&mut self, _events: Events, _ops: &mut EventOps) {
        // Draining the counter re-arms the eventfd; its value is unused.
        let _ = self.queue_evts[0].read();
        self.process_queue();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::devices::virtio::test_utils::*;
    use virtio_queue::desc::split::Descriptor;

    #[test]
    fn fills_writable_buffers_and_signals() {
        let mem = guest_memory();
        let mut dq = DriverQueue::new(&mem, 0, 16);
        let h0 = dq.add_chain(&[(BUF_BASE, 64, WO), (BUF_BASE + 0x1000, 32, WO)]);
        let h1 = dq.add_chain(&[(BUF_BASE + 0x2000, 16, WO)]);
        let mut dev = RngDevice::new().unwrap();
        let act = activation(&mem, vec![dq.queue()], 0);
        let irq = act.interrupt.clone();
        dev.activate(act).unwrap();
        assert_eq!(dq.used(), vec![(h0 as u32, 96), (h1 as u32, 16)]);
        assert_ne!(get(&mem, BUF_BASE, 64), vec![0u8; 64], "64 random bytes are not all zero");
        assert_eq!(irq.status(), 1);
    }

    #[test]
    fn malformed_chains_fail_alone() {
        let mem = guest_memory();
        let mut dq = DriverQueue::new(&mem, 0, 16);
        // Read-only buffer: nothing to fill.
        let h0 = dq.add_chain(&[(BUF_BASE, 64, RO)]);
        // Buffer outside guest memory.
        let h1 = dq.add_chain(&[(GUEST_MEM_SIZE as u64 - 8, 64, WO)]);
        // A chain whose `next` points back at itself (descriptor 2 -> 2).
        let loop_flags = WO | virtio_bindings::virtio_ring::VRING_DESC_F_NEXT as u16;
        let h2 = dq.add_raw(&[Descriptor::new(BUF_BASE, 8, loop_flags, 2)]);
        assert_eq!(h2, 2);
        let h3 = dq.add_chain(&[(BUF_BASE + 0x3000, 8, WO)]);
        let mut dev = RngDevice::new().unwrap();
        dev.activate(activation(&mem, vec![dq.queue()], 0)).unwrap();
        let used = dq.used();
        assert_eq!(used[0], (h0 as u32, 0));
        assert_eq!(used[1], (h1 as u32, 0));
        assert_eq!(used[2].0, h2 as u32);
        assert_eq!(used[3], (h3 as u32, 8), "a good request after bad ones is served");
    }

    #[test]
    fn huge_requests_are_capped() {
        let mem = guest_memory();
        let mut dq = DriverQueue::new(&mem, 0, 16);
        dq.add_chain(&[(BUF_BASE, 1 << 20, WO)]);
        let mut dev = RngDevice::new().unwrap();
        dev.activate(activation(&mem, vec![dq.queue()], 0)).unwrap();
        assert_eq!(dq.used()[0].1, MAX_REQUEST as u32);
    }

    #[test]
    fn bogus_avail_index_does_not_spin_or_panic() {
        let mem = guest_memory();
        let dq = DriverQueue::new(&mem, 0, 16);
        dq.set_avail_idx(1000);
        let mut dev = RngDevice::new().unwrap();
        dev.activate(activation(&mem, vec![dq.queue()], 0)).unwrap();
        assert!(dq.used().is_empty());
    }

    #[test]
    fn survives_garbage_queues_and_still_works() {
        // Garbage descriptors may point anywhere, even at the rings
        // themselves: the guest can only hurt itself. The device must not
        // panic, must stay inside guest memory (vm-memory checks every
        // access), and must serve a good driver afterwards.
        let mut rng = XorShift(0x5eed_0001);
        let mut dev = RngDevice::new().unwrap();
        for _ in 0..200 {
            let mem = guest_memory();
            let mut dq = DriverQueue::new(&mem, 0, 16);
            dq.scramble(&mut rng);
            dev.activate(activation(&mem, vec![dq.queue()], 0)).unwrap();
            assert!(dev.reset());
        }
        let mem = guest_memory();
        let mut dq = DriverQueue::new(&mem, 0, 16);
        let h = dq.add_chain(&[(BUF_BASE, 32, WO)]);
        dev.activate(activation(&mem, vec![dq.queue()], 0)).unwrap();
        assert_eq!(dq.used(), vec![(h as u32, 32)]);
    }
}
