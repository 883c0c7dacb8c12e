//! The virtio-vsock device: three queues (rx, tx, event), the guest CID in
//! config space, and the glue between the event loop, the queues and the
//! muxer. Packets are parsed with virtio-vsock's `VsockPacket`, which checks
//! the chain's shape and lengths; a chain it rejects is returned unused and
//! logged. The event queue is never used: berth does not migrate VMs, so
//! there is no transport reset to announce.

use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::Arc;

use event_manager::{EventOps, EventSet, Events, MutEventSubscriber};
use virtio_queue::{QueueOwnedT, QueueT};
use virtio_vsock::packet::VsockPacket;
use vm_memory::GuestMemoryMmap;
use vmm_sys_util::eventfd::{EFD_NONBLOCK, EventFd};

use super::muxer::{EpollChange, Muxer};
use super::packet::{GuestHeader, MAX_PKT_DATA};
use crate::devices::virtio::{ActivateError, Activation, VirtioDevice, read_config_bytes};

const QUEUE_SIZE: u16 = 256;
/// Chains handled per direction in one wakeup of the device thread. A
/// guest that refills tx as fast as it is drained would otherwise keep
/// the thread here for ever, and every other device on it (block, net,
/// rng, the serial console) would starve; past the budget the device
/// kicks its own queue and goes back to the event loop.
const WAKEUP_BUDGET: usize = 64;
const RXQ: usize = 0;
const TXQ: usize = 1;
const EVQ: usize = 2;

pub struct VsockDevice {
    guest_cid: u64,
    muxer: Muxer,
    queue_evts: [EventFd; 3],
    active: Option<Activation>,
}

impl VsockDevice {
    /// Creates the device and binds its host socket at `uds_path`.
    pub fn new(guest_cid: u64, uds_path: &Path) -> std::io::Result<Self> {
        Ok(VsockDevice {
            guest_cid,
            muxer: Muxer::new(guest_cid, uds_path)?,
            queue_evts: [EventFd::new(EFD_NONBLOCK)?, EventFd::new(EFD_NONBLOCK)?, EventFd::new(EFD_NONBLOCK)?],
            active: None,
        })
    }

    /// Hands up to `budget` packets of the tx queue to the muxer; returns
    /// how many it took.
    fn process_tx(&mut self, budget: usize) -> usize {
        let Some(active) = &mut self.active else {
            return 0;
        };
        let mem: Arc<GuestMemoryMmap> = active.mem.clone();
        let queue = &mut active.queues[TXQ];
        let mut used = 0;
        while used < budget
            && let Some(mut chain) = queue.pop_descriptor_chain(mem.as_ref())
        {
            let head = chain.head_index();
            match VsockPacket::from_tx_virtq_chain(mem.as_ref(), &mut chain, MAX_PKT_DATA) {
                Ok(pkt) => self.muxer.on_guest_packet(&GuestHeader::of(&pkt), pkt.data_slice()),
                Err(e) => crate::devices::guest_fault::report("vsock: malformed tx packet dropped", &e),
            }
            if let Err(e) = queue.add_used(mem.as_ref(), head, 0) {
                crate::devices::guest_fault::report("vsock: cannot return a tx buffer", &e);
                break;
            }
            used += 1;
        }
        used
    }

    /// Fills up to `budget` rx buffers while the muxer has packets for the
    /// guest; returns how many it filled.
    fn process_rx(&mut self, budget: usize) -> usize {
        let Some(active) = &mut self.active else {
            return 0;
        };
        let mem: Arc<GuestMemoryMmap> = active.mem.clone();
        let queue = &mut active.queues[RXQ];
        let mut filled = 0;
        while filled < budget && self.muxer.has_rx() {
            let Some(mut chain) = queue.pop_descriptor_chain(mem.as_ref()) else {
                break;
            };
            let head = chain.head_index();
            let used = match VsockPacket::from_rx_virtq_chain(mem.as_ref(), &mut chain, MAX_PKT_DATA) {
                Ok(mut pkt) => match self.muxer.fill_rx(&mut pkt) {
                    Some(len) => len,
                    None => {
                        // Nothing to send after all: give the buffer back.
                        queue.go_to_previous_position();
                        break;
                    }
                },
                Err(e) => {
                    crate::devices::guest_fault::report("vsock: malformed rx buffer skipped", &e);
                    0
                }
            };
            if let Err(e) = queue.add_used(mem.as_ref(), head, used) {
                crate::devices::guest_fault::report("vsock: cannot return an rx buffer", &e);
                break;
            }
            filled += 1;
        }
        filled
    }

    /// Runs both directions until neither makes progress or one has used
    /// its [`WAKEUP_BUDGET`], then interrupts the guest once; a direction
    /// that used it all gets its queue kicked, so the rest waits only for
    /// the other devices' turn.
    fn pump(&mut self, ops: &mut EventOps) {
        let (mut tx_left, mut rx_left) = (WAKEUP_BUDGET, WAKEUP_BUDGET);
        loop {
            let tx = self.process_tx(tx_left);
            let rx = self.process_rx(rx_left);
            self.apply_epoll_changes(ops);
            tx_left -= tx;
            rx_left -= rx;
            if (tx == 0 && rx == 0) || tx_left == 0 || rx_left == 0 {
                break;
            }
        }
        for (left, q) in [(tx_left, TXQ), (rx_left, RXQ)] {
            if left == 0 {
                let _ = self.queue_evts[q].write(1);
            }
        }
        if (tx_left, rx_left) != (WAKEUP_BUDGET, WAKEUP_BUDGET)
            && let Some(active) = &self.active
        {
            active.interrupt.signal_used_queue();
        }
    }

    fn apply_epoll_changes(&mut self, ops: &mut EventOps) {
        for change in self.muxer.take_epoll_changes() {
            let result = match &change {
                EpollChange::Add(fd, set) => ops.add(Events::new_raw(*fd, *set)),
                EpollChange::Modify(fd, set) => ops.modify(Events::new_raw(*fd, *set)),
                EpollChange::Remove(stream) => ops.remove(Events::new_raw(stream.as_raw_fd(), EventSet::empty())),
            };
            if let Err(e) = result {
                tracing::warn!(error = ?e, "vsock: epoll update failed");
            }
            // A removed stream is closed here, after epoll forgot it.
            drop(change);
        }
    }
}

impl VirtioDevice for VsockDevice {
    fn device_type(&self) -> u32 {
        virtio_bindings::virtio_ids::VIRTIO_ID_VSOCK
    }
    fn queue_max_sizes(&self) -> &[u16] {
        &[QUEUE_SIZE; 3]
    }
    fn queue_events(&self) -> &[EventFd] {
        &self.queue_evts
    }
    fn features(&self) -> u64 {
        0
    }
    fn read_config(&self, offset: u64, data: &mut [u8]) {
        read_config_bytes(&self.guest_cid.to_le_bytes(), offset, data);
    }
    fn activate(&mut self, activation: Activation) -> Result<(), ActivateError> {
        activation.expect_queues(3)?;
        self.active = Some(activation);
        // Kick the device thread: buffers may already be queued.
        let _ = self.queue_evts[RXQ].write(1);
        Ok(())
    }
    fn reset(&mut self) -> bool {
        self.muxer.reset();
        self.active = None;
        true
    }
}

impl MutEventSubscriber for VsockDevice {
    fn init(&mut self, ops: &mut EventOps) {
        for evt in &self.queue_evts[..EVQ] {
            if let Err(e) = ops.add(Events::new(evt, EventSet::IN)) {
                tracing::error!(error = ?e, "vsock: cannot watch a queue");
            }
        }
        if let Err(e) = ops.add(Events::new_raw(self.muxer.listener_fd(), EventSet::IN)) {
            tracing::error!(error = ?e, "vsock: cannot watch the host socket");
        }
    }

    fn process(&mut self, events: Events, ops: &mut EventOps) {
        let fd = events.fd();
        if let Some(evt) = self.queue_evts.iter().find(|e| e.as_raw_fd() == fd) {
            let _ = evt.read();
        } else if fd == self.muxer.listener_fd() {
            self.muxer.on_listener_ready(self.active.is_some());
        } else {
            self.muxer.on_host_event(fd, events.event_set());
        }
        self.apply_epoll_changes(ops);
        self.pump(ops);
    }
}

#[cfg(test)]
#[path = "device_tests.rs"]
mod tests;
