//! The virtio-net device: an rx and a tx queue, an optional MAC in config
//! space, and a frame backend. Guest frames (tx) are copied out of the
//! chain, bounded by the largest frame a backend can carry, and written as
//! one frame; host frames (rx) are read only when the guest has posted a
//! buffer, so the backend's own queue holds them meanwhile.

use std::sync::Arc;

use event_manager::{EventOps, EventSet, Events, MutEventSubscriber};
use virtio_bindings::virtio_net::VIRTIO_NET_F_MAC;
use virtio_queue::{QueueOwnedT, QueueT};
use vm_memory::GuestMemoryMmap;
use vmm_sys_util::eventfd::{EFD_NONBLOCK, EventFd};

use super::backend::FrameBackend;
use super::passt::Passt;
use super::tap::{Tap, VNET_HDR_LEN};
use crate::devices::virtio::{ActivateError, Activation, VirtioDevice, read_config_bytes};

const QUEUE_SIZE: u16 = 256;
const RXQ: usize = 0;
const TXQ: usize = 1;
/// Header plus the largest frame without offloads (64 KiB IP + Ethernet).
pub const MAX_FRAME: usize = VNET_HDR_LEN + 65_535 + 14 + 4;

pub struct NetDevice {
    backend: Box<dyn FrameBackend>,
    mac: Option<[u8; 6]>,
    queue_evts: [EventFd; 2],
    active: Option<Activation>,
    /// The backend signalled readability and was not yet drained.
    backend_readable: bool,
    frame: Vec<u8>,
}

impl NetDevice {
    pub fn new(backend: Box<dyn FrameBackend>, mac: Option<[u8; 6]>) -> std::io::Result<Self> {
        Ok(NetDevice {
            backend,
            mac,
            queue_evts: [EventFd::new(EFD_NONBLOCK)?, EventFd::new(EFD_NONBLOCK)?],
            active: None,
            backend_readable: true,
            frame: vec![0u8; MAX_FRAME],
        })
    }

    /// A device on the TAP interface `name`.
    pub fn open_tap(name: &str, mac: Option<[u8; 6]>) -> std::io::Result<Self> {
        Self::new(Box::new(Tap::open(name)?), mac)
    }

    /// A device on the passt instance listening at `socket`.
    pub fn connect_passt(socket: &std::path::Path, mac: Option<[u8; 6]>) -> std::io::Result<Self> {
        Self::new(Box::new(Passt::connect(socket)?), mac)
    }

    /// Sends every frame on the tx queue to the backend.
    fn process_tx(&mut self) -> bool {
        let Some(active) = &mut self.active else {
            return false;
        };
        let mem: Arc<GuestMemoryMmap> = active.mem.clone();
        let queue = &mut active.queues[TXQ];
        let mut used_any = false;
        while let Some(chain) = queue.pop_descriptor_chain(mem.as_ref()) {
            let head = chain.head_index();
            match chain.reader(mem.as_ref()) {
                Ok(mut reader) => {
                    let len = reader.available_bytes();
                    if len <= VNET_HDR_LEN || len > MAX_FRAME {
                        tracing::debug!(len, "virtio-net: tx frame of impossible size dropped");
                    } else if std::io::Read::read_exact(&mut reader, &mut self.frame[..len]).is_ok()
                        && let Err(e) = self.backend.write_frame(&self.frame[..len])
                    {
                        // The host network drops, like a full NIC queue.
                        tracing::debug!(error = %e, "virtio-net: backend refused a frame");
                    }
                }
                Err(e) => crate::devices::guest_fault::report("virtio-net: malformed tx chain", &e),
            }
            if let Err(e) = queue.add_used(mem.as_ref(), head, 0) {
                crate::devices::guest_fault::report("virtio-net: cannot return a tx buffer", &e);
                break;
            }
            used_any = true;
        }
        used_any
    }

    /// Moves waiting host frames into the guest's rx buffers.
    fn process_rx(&mut self) -> bool {
        let Some(active) = &mut self.active else {
            return false;
        };
        let mem: Arc<GuestMemoryMmap> = active.mem.clone();
        let queue = &mut active.queues[RXQ];
        let mut used_any = false;
        while self.backend_readable {
            let Some(chain) = queue.pop_descriptor_chain(mem.as_ref()) else {
                break;
            };
            let head = chain.head_index();
            let n = match self.backend.read_frame(&mut self.frame) {
                Ok(n) => n,
                Err(e) => {
                    if e.kind() != std::io::ErrorKind::WouldBlock {
                        tracing::warn!(error = %e, "virtio-net: backend read failed");
                    }
                    self.backend_readable = false;
                    queue.go_to_previous_position();
                    break;
                }
            };
            let used = match chain.writer(mem.as_ref()) {
                Ok(mut w) if w.available_bytes() >= n => {
                    std::io::Write::write_all(&mut w, &self.frame[..n]).map(|_| n as u32).unwrap_or(0)
                }
                Ok(w) => {
                    tracing::debug!(
                        frame = n,
                        room = w.available_bytes(),
                        "virtio-net: rx buffer too small; frame dropped"
                    );
                    0
                }
                Err(e) => {
                    crate::devices::guest_fault::report("virtio-net: malformed rx chain", &e);
                    0
                }
            };
            if let Err(e) = queue.add_used(mem.as_ref(), head, used) {
                crate::devices::guest_fault::report("virtio-net: cannot return an rx buffer", &e);
                break;
            }
            used_any = true;
        }
        used_any
    }

    fn pump(&mut self) {
        let tx = self.process_tx();
        let rx = self.process_rx();
        if (tx || rx)
            && let Some(active) = &self.active
        {
            active.interrupt.signal_used_queue();
        }
    }
}

impl VirtioDevice for NetDevice {
    fn device_type(&self) -> u32 {
        virtio_bindings::virtio_ids::VIRTIO_ID_NET
    }
    fn queue_max_sizes(&self) -> &[u16] {
        &[QUEUE_SIZE; 2]
    }
    fn queue_events(&self) -> &[EventFd] {
        &self.queue_evts
    }
    fn features(&self) -> u64 {
        if self.mac.is_some() { 1 << VIRTIO_NET_F_MAC } else { 0 }
    }
    fn read_config(&self, offset: u64, data: &mut [u8]) {
        read_config_bytes(&self.mac.unwrap_or_default(), offset, data);
    }
    fn activate(&mut self, activation: Activation) -> Result<(), ActivateError> {
        activation.expect_queues(2)?;
        self.active = Some(activation);
        let _ = self.queue_evts[RXQ].write(1);
        Ok(())
    }
    fn reset(&mut self) -> bool {
        self.active = None;
        true
    }
}

impl MutEventSubscriber for NetDevice {
    fn init(&mut self, ops: &mut EventOps) {
        for evt in &self.queue_evts {
            if let Err(e) = ops.add(Events::new(evt, EventSet::IN)) {
                tracing::error!(error = ?e, "virtio-net: cannot watch a queue");
            }
        }
        // Edge-triggered: readability is remembered in `backend_readable`
        // until drained; writability lets a backend flush queued frames.
        let backend =
            Events::new_raw(self.backend.as_raw_fd(), EventSet::IN | EventSet::OUT | EventSet::EDGE_TRIGGERED);
        if let Err(e) = ops.add(backend) {
            tracing::error!(error = ?e, "virtio-net: cannot watch the backend");
        }
    }

    fn process(&mut self, events: Events, _ops: &mut EventOps) {
        let fd = events.fd();
        if let Some(evt) = self.queue_evts.iter().find(|e| std::os::fd::AsRawFd::as_raw_fd(*e) == fd) {
            let _ = evt.read();
        } else {
            let set = events.event_set();
            if set.intersects(EventSet::IN | EventSet::HANG_UP | EventSet::ERROR) {
                self.backend_readable = true;
            }
            if set.contains(EventSet::OUT)
                && let Err(e) = self.backend.flush()
            {
                tracing::warn!(error = %e, "virtio-net: backend flush failed");
            }
        }
        self.pump();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::devices::virtio::test_utils::*;
    use std::os::fd::{AsRawFd, RawFd};
    use std::os::unix::net::UnixDatagram;

    /// A datagram socket pair carries one frame per message, like TAP.
    struct DatagramBackend(UnixDatagram);
    impl AsRawFd for DatagramBackend {
        fn as_raw_fd(&self) -> RawFd {
            self.0.as_raw_fd()
        }
    }
    impl FrameBackend for DatagramBackend {
        fn read_frame(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            self.0.recv(buf)
        }
        fn write_frame(&mut self, frame: &[u8]) -> std::io::Result<()> {
            self.0.send(frame).map(|_| ())
        }
    }

    fn device() -> (NetDevice, UnixDatagram) {
        let (a, b) = UnixDatagram::pair().unwrap();
        a.set_nonblocking(true).unwrap();
        b.set_nonblocking(true).unwrap();
        (NetDevice::new(Box::new(DatagramBackend(a)), Some([2, 0, 0, 0, 0, 7])).unwrap(), b)
    }

    #[test]
    fn frames_flow_both_ways() {
        let mem = guest_memory();
        let mut rxq = DriverQueue::new(&mem, 0, 16);
        let mut txq = DriverQueue::new(&mem, 0x4000, 16);
        let (mut dev, host) = device();
        let frame: Vec<u8> = (0..(VNET_HDR_LEN + 60) as u8).collect();
        put(&mem, BUF_BASE, &frame);
        txq.add_chain(&[(BUF_BASE, 4, RO), (BUF_BASE + 4, frame.len() as u32 - 4, RO)]);
        let h = rxq.add_chain(&[(BUF_BASE + 0x1_0000, 2048, WO)]);
        dev.activate(activation(&mem, vec![rxq.queue(), txq.queue()], 0)).unwrap();
        host.send(b"0123456789ab-from-the-host").unwrap();
        dev.pump();
        let mut got = [0u8; 128];
        let n = host.recv(&mut got).unwrap();
        assert_eq!(&got[..n], &frame[..]);
        assert_eq!(rxq.used(), vec![(h as u32, 26)]);
        assert_eq!(get(&mem, BUF_BASE + 0x1_0000, 26), b"0123456789ab-from-the-host");
        let mut mac = [0u8; 6];
        dev.read_config(0, &mut mac);
        assert_eq!(mac, [2, 0, 0, 0, 0, 7]);
    }

    #[test]
    fn host_frames_wait_for_guest_buffers() {
        let mem = guest_memory();
        let mut rxq = DriverQueue::new(&mem, 0, 16);
        let txq = DriverQueue::new(&mem, 0x4000, 16);
        let (mut dev, host) = device();
        dev.activate(activation(&mem, vec![rxq.queue(), txq.queue()], 0)).unwrap();
        host.send(&[1u8; 100]).unwrap();
        dev.pump();
        assert!(rxq.used().is_empty());
        rxq.add_chain(&[(BUF_BASE, 2048, WO)]);
        dev.pump();
        assert_eq!(rxq.used()[0].1, 100);
    }

    #[test]
    fn malformed_chains_and_sizes_are_dropped() {
        let mem = guest_memory();
        let mut rxq = DriverQueue::new(&mem, 0, 16);
        let mut txq = DriverQueue::new(&mem, 0x4000, 16);
        let (mut dev, host) = device();
        // tx: header only, too large, outside memory, then a good one.
        txq.add_chain(&[(BUF_BASE, VNET_HDR_LEN as u32, RO)]);
        txq.add_chain(&[(BUF_BASE, MAX_FRAME as u32 + 1, RO)]);
        txq.add_chain(&[(GUEST_MEM_SIZE as u64 - 10, 100, RO)]);
        put(&mem, BUF_BASE + 0x2000, &[5u8; 40]);
        txq.add_chain(&[(BUF_BASE + 0x2000, 40, RO)]);
        // rx: a buffer too small, a read-only one, then a good one.
        rxq.add_chain(&[(BUF_BASE + 0x3000, 10, WO)]);
        rxq.add_chain(&[(BUF_BASE + 0x4000, 2048, RO)]);
        rxq.add_chain(&[(BUF_BASE + 0x5000, 2048, WO)]);
        dev.activate(activation(&mem, vec![rxq.queue(), txq.queue()], 0)).unwrap();
        host.send(&[1u8; 50]).unwrap();
        host.send(&[2u8; 50]).unwrap();
        host.send(&[3u8; 50]).unwrap();
        dev.pump();
        let mut got = [0u8; 64];
        assert_eq!(host.recv(&mut got).unwrap(), 40, "only the good tx frame reached the host");
        assert!(host.recv(&mut got).is_err());
        assert_eq!(txq.used().len(), 4);
        assert_eq!(rxq.used().iter().map(|u| u.1).collect::<Vec<_>>(), vec![0, 0, 50]);
        assert_eq!(get(&mem, BUF_BASE + 0x5000, 1), vec![3]);
    }

    #[test]
    fn survives_garbage_queues_and_still_works() {
        let mut rng = XorShift(0x5eed_0003);
        let (mut dev, host) = device();
        for _ in 0..200 {
            let mem = guest_memory();
            scribble(&mem, &mut rng, BUF_BASE, 64 * 1024);
            let mut rxq = DriverQueue::new(&mem, 0, 16);
            let mut txq = DriverQueue::new(&mem, 0x4000, 16);
            rxq.scramble(&mut rng);
            txq.scramble(&mut rng);
            for _ in 0..4 {
                let _ = host.send(&vec![7u8; rng.below(2000) as usize + 1]);
            }
            dev.activate(activation(&mem, vec![rxq.queue(), txq.queue()], 0)).unwrap();
            dev.pump();
            assert!(dev.reset());
        }
        // Drain what the garbage rounds let through, then check a clean run.
        let mut sink = [0u8; 70_000];
        while host.recv(&mut sink).is_ok() {}
        let mem = guest_memory();
        let rxq = DriverQueue::new(&mem, 0, 16);
        let mut txq = DriverQueue::new(&mem, 0x4000, 16);
        put(&mem, BUF_BASE, &[9u8; 60]);
        txq.add_chain(&[(BUF_BASE, 60, RO)]);
        dev.activate(activation(&mem, vec![rxq.queue(), txq.queue()], 0)).unwrap();
        dev.pump();
        assert_eq!(host.recv(&mut sink).unwrap(), 60);
    }

    #[test]
    fn passt_backend_carries_frames_without_the_vnet_header() {
        use std::io::{Read, Write};
        let mem = guest_memory();
        let mut rxq = DriverQueue::new(&mem, 0, 16);
        let mut txq = DriverQueue::new(&mem, 0x4000, 16);
        let (ours, mut passt) = std::os::unix::net::UnixStream::pair().unwrap();
        let backend = crate::devices::virtio::net::Passt::from_stream(ours).unwrap();
        let mut dev = NetDevice::new(Box::new(backend), None).unwrap();
        let mut guest_frame = vec![0u8; VNET_HDR_LEN];
        guest_frame.extend_from_slice(b"ethernet-frame-from-guest");
        put(&mem, BUF_BASE, &guest_frame);
        txq.add_chain(&[(BUF_BASE, guest_frame.len() as u32, RO)]);
        rxq.add_chain(&[(BUF_BASE + 0x1_0000, 2048, WO)]);
        passt.write_all(&[0, 0, 0, 4, b'p', b'o', b'n', b'g']).unwrap();
        dev.activate(activation(&mem, vec![rxq.queue(), txq.queue()], 0)).unwrap();
        dev.pump();
        let mut got = [0u8; 29];
        passt.read_exact(&mut got).unwrap();
        assert_eq!(&got[..4], &25u32.to_be_bytes());
        assert_eq!(&got[4..], b"ethernet-frame-from-guest");
        assert_eq!(rxq.used()[0].1 as usize, VNET_HDR_LEN + 4);
        let rx = get(&mem, BUF_BASE + 0x1_0000, VNET_HDR_LEN + 4);
        assert_eq!(&rx[VNET_HDR_LEN..], b"pong");
        assert!(rx[..VNET_HDR_LEN].iter().all(|&b| b == 0));
    }
}
