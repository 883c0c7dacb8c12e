//! The vhost-user session with one virtiofsd: the messages that hand it
//! the guest's memory and rings, on the rust-vmm `vhost` crate's frontend.
//!
//! Owns the socket and the order of the protocol (owner, features,
//! protocol features, memory table, then per ring: size, addresses, base,
//! call and kick eventfds, enable). It never touches a ring itself: once
//! started, the backend reads and writes the rings in guest memory and
//! signals the call eventfds; the device relays those.
//!
//! Every exchange is a blocking round trip on a UNIX socket with a timeout,
//! so a backend that stops answering fails the one operation instead of
//! stalling the device thread for ever.

use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use vhost::vhost_user::message::VhostUserHeaderFlag;
use vhost::vhost_user::{Frontend, VhostUserFrontend, VhostUserProtocolFeatures, VhostUserVirtioFeatures};
use vhost::{VhostBackend, VhostUserMemoryRegionInfo, VringConfigData};
use virtio_queue::{Queue, QueueT};
use vm_memory::{GuestAddress, GuestMemoryBackend, GuestMemoryMmap};
use vmm_sys_util::eventfd::EventFd;

use crate::vstate::memory::SharedRegion;

/// How long one request may wait for the backend's answer.
const REPLY_TIMEOUT: Duration = Duration::from_secs(10);

/// Ring features a guest may negotiate when the backend offers them: the
/// backend walks the rings, so these are between the two of them.
const RING_FEATURES: u64 = (1 << virtio_bindings::virtio_ring::VIRTIO_RING_F_INDIRECT_DESC)
    | (1 << virtio_bindings::virtio_ring::VIRTIO_RING_F_EVENT_IDX)
    | super::super::VIRTIO_F_VERSION_1;

/// What the session wants of the protocol: replies to every request (so a
/// refusal is seen where it happens), and more than one queue.
const WANTED_PROTOCOL: VhostUserProtocolFeatures =
    VhostUserProtocolFeatures::REPLY_ACK.union(VhostUserProtocolFeatures::MQ);

#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("cannot connect to {path}: {source}")]
    Connect { path: String, source: std::io::Error },
    #[error("vhost-user {step}: {source}")]
    Protocol { step: &'static str, source: vhost::Error },
    #[error("the backend offers no VIRTIO_F_VERSION_1")]
    NotModern,
    #[error("ring {0} lies outside guest memory")]
    RingAddress(usize),
}

fn step(step: &'static str) -> impl FnOnce(vhost::Error) -> BackendError {
    move |source| BackendError::Protocol { step, source }
}

/// A connected, owned vhost-user backend.
pub struct Backend {
    frontend: Frontend,
    socket_fd: RawFd,
    /// Virtio features the backend offers.
    features: u64,
    /// Whether VHOST_USER_F_PROTOCOL_FEATURES was offered: rings then start
    /// disabled and are enabled by message.
    protocol: bool,
}

impl Backend {
    /// Connects to the backend on `socket` and takes ownership of it.
    pub fn connect(socket: &Path, queues: usize) -> Result<Self, BackendError> {
        let connect_err = |source| BackendError::Connect { path: socket.display().to_string(), source };
        let stream = UnixStream::connect(socket).map_err(connect_err)?;
        stream.set_read_timeout(Some(REPLY_TIMEOUT)).map_err(connect_err)?;
        stream.set_write_timeout(Some(REPLY_TIMEOUT)).map_err(connect_err)?;
        let socket_fd = stream.as_raw_fd();
        let mut frontend = Frontend::from_stream(stream, queues as u64);
        frontend.set_owner().map_err(step("SET_OWNER"))?;
        let features = frontend.get_features().map_err(step("GET_FEATURES"))?;
        if features & super::super::VIRTIO_F_VERSION_1 == 0 {
            return Err(BackendError::NotModern);
        }
        let protocol = features & VhostUserVirtioFeatures::PROTOCOL_FEATURES.bits() != 0;
        if protocol {
            let offered = frontend.get_protocol_features().map_err(step("GET_PROTOCOL_FEATURES"))?;
            let acked = offered & WANTED_PROTOCOL;
            frontend.set_protocol_features(acked).map_err(step("SET_PROTOCOL_FEATURES"))?;
            if acked.contains(VhostUserProtocolFeatures::REPLY_ACK) {
                frontend.set_hdr_flags(VhostUserHeaderFlag::NEED_REPLY);
            }
        }
        Ok(Backend { frontend, socket_fd, features, protocol })
    }

    /// The features to offer the guest (besides VERSION_1, which the
    /// transport adds).
    pub fn guest_features(&self) -> u64 {
        self.features & RING_FEATURES
    }

    /// The socket, watched for the backend going away.
    pub fn socket_fd(&self) -> RawFd {
        self.socket_fd
    }

    /// Hands the backend the guest's memory and the driver's rings and
    /// starts them: `kicks[i]` is what KVM signals when the driver notifies
    /// ring `i`, `calls[i]` what the backend signals when it used buffers.
    pub fn start(
        &mut self,
        acked_features: u64,
        mem: &GuestMemoryMmap,
        regions: &[SharedRegion],
        queues: &[Queue],
        kicks: &[EventFd],
        calls: &[EventFd],
    ) -> Result<(), BackendError> {
        let protocol_bit = if self.protocol { VhostUserVirtioFeatures::PROTOCOL_FEATURES.bits() } else { 0 };
        self.frontend.set_features(acked_features | protocol_bit).map_err(step("SET_FEATURES"))?;
        let table: Vec<VhostUserMemoryRegionInfo> = regions
            .iter()
            .map(|r| VhostUserMemoryRegionInfo {
                guest_phys_addr: r.guest_addr,
                memory_size: r.len,
                userspace_addr: r.host_addr,
                mmap_offset: 0,
                mmap_handle: r.fd,
            })
            .collect();
        self.frontend.set_mem_table(&table).map_err(step("SET_MEM_TABLE"))?;
        for (i, q) in queues.iter().enumerate() {
            if !q.ready() {
                continue;
            }
            // vhost-user ring addresses are the frontend's own (host
            // virtual) addresses, translated by the memory table.
            let host = |gpa: u64| {
                mem.get_host_address(GuestAddress(gpa)).map(|p| p as u64).map_err(|_| BackendError::RingAddress(i))
            };
            let ring = VringConfigData {
                queue_max_size: q.max_size(),
                queue_size: q.size(),
                flags: 0,
                desc_table_addr: host(q.desc_table())?,
                used_ring_addr: host(q.used_ring())?,
                avail_ring_addr: host(q.avail_ring())?,
                log_addr: None,
            };
            self.frontend.set_vring_num(i, q.size()).map_err(step("SET_VRING_NUM"))?;
            self.frontend.set_vring_addr(i, &ring).map_err(step("SET_VRING_ADDR"))?;
            self.frontend.set_vring_base(i, 0).map_err(step("SET_VRING_BASE"))?;
            self.frontend.set_vring_call(i, &calls[i]).map_err(step("SET_VRING_CALL"))?;
            self.frontend.set_vring_kick(i, &kicks[i]).map_err(step("SET_VRING_KICK"))?;
            if self.protocol {
                self.frontend.set_vring_enable(i, true).map_err(step("SET_VRING_ENABLE"))?;
            }
        }
        Ok(())
    }

    /// Stops every ring (the driver reset the device): GET_VRING_BASE
    /// makes the backend let go of it.
    pub fn stop(&mut self, queues: usize) -> Result<(), BackendError> {
        for i in 0..queues {
            if self.protocol {
                self.frontend.set_vring_enable(i, false).map_err(step("SET_VRING_ENABLE"))?;
            }
            self.frontend.get_vring_base(i).map_err(step("GET_VRING_BASE"))?;
        }
        Ok(())
    }
}
