//! virtio-fs: a host folder in the guest, served by virtiofsd over
//! vhost-user (the way Cloud Hypervisor and QEMU do it).
//!
//! The VMM keeps only the device's front: the config space (the tag the
//! guest mounts by and one request queue), feature negotiation with the
//! driver, and the rings' placement, which `backend` hands to virtiofsd
//! when the driver sets DRIVER_OK. From then on virtiofsd reads the rings
//! and guest memory itself: KVM signals it the driver's notifications
//! straight from the queue's ioeventfd, and its "used" signals come back
//! through one eventfd per ring that the device thread turns into the
//! virtio-mmio interrupt (InterruptStatus must say why the line went up,
//! so the eventfd cannot be an irqfd as with PCI's MSI-X).
//!
//! If virtiofsd goes away, the rings are handed to `orphan`, which fails
//! every request with EIO: the share's files error in the guest, the
//! guest and the machine carry on. It must never block a vCPU thread on the
//! backend: starting and stopping the rings happen on the device thread.

mod backend;
mod orphan;
#[cfg(test)]
mod real_virtiofsd_tests;

use std::collections::VecDeque;
use std::os::fd::AsRawFd;
use std::path::Path;

use event_manager::{EventOps, EventSet, Events, MutEventSubscriber};
use vmm_sys_util::eventfd::{EFD_NONBLOCK, EventFd};

use backend::Backend;
pub use backend::BackendError;
use orphan::Orphaned;

use super::{ActivateError, Activation, VirtioDevice, read_config_bytes};
use crate::vstate::memory::SharedRegion;

/// The high-priority ring (FORGET, interrupts) and one request ring.
const QUEUES: usize = 2;
/// Size of the hiprio ring: it only carries FORGETs.
const HIPRIO_QUEUE_SIZE: u16 = 128;
/// `struct virtio_fs_config`: `tag[36]`, `num_request_queues` (le32).
const CONFIG_LEN: usize = 40;

/// What the vCPU thread asks of the device thread.
enum Command {
    Start(Activation),
    Stop,
}

/// Where the rings are.
enum Rings {
    /// Not started by the driver (or reset).
    Idle,
    /// virtiofsd runs them; the activation is kept to hand over if it dies.
    Backend(Activation),
    /// virtiofsd is gone; the device fails every request.
    Orphaned(Orphaned),
}

pub struct FsDevice {
    tag: String,
    config: [u8; CONFIG_LEN],
    queue_sizes: [u16; QUEUES],
    /// KVM's ioeventfds: signalled by the driver's notifications, read by
    /// virtiofsd (and by the device once orphaned).
    kicks: [EventFd; QUEUES],
    /// Signalled by virtiofsd when it used buffers of ring i.
    calls: [EventFd; QUEUES],
    /// Wakes the device thread for `commands`.
    command_evt: EventFd,
    commands: VecDeque<Command>,
    /// The session; None once the backend went away.
    backend: Option<Backend>,
    guest_features: u64,
    regions: Vec<SharedRegion>,
    rings: Rings,
}

impl FsDevice {
    /// Connects to the virtiofsd listening on `socket`; the guest will
    /// mount the share as `tag`. `regions` is guest RAM as the backend must
    /// map it (shared backing).
    pub fn connect(
        tag: &str,
        socket: &Path,
        queue_size: u16,
        regions: Vec<SharedRegion>,
    ) -> Result<Self, BackendError> {
        let backend = Backend::connect(socket, QUEUES)?;
        let mut config = [0u8; CONFIG_LEN];
        config[..tag.len()].copy_from_slice(tag.as_bytes());
        config[36..40].copy_from_slice(&1u32.to_le_bytes());
        let evt =
            || EventFd::new(EFD_NONBLOCK).map_err(|source| BackendError::Connect { path: "eventfd".into(), source });
        Ok(FsDevice {
            tag: tag.to_owned(),
            config,
            queue_sizes: [HIPRIO_QUEUE_SIZE, queue_size],
            kicks: [evt()?, evt()?],
            calls: [evt()?, evt()?],
            command_evt: evt()?,
            commands: VecDeque::new(),
            guest_features: backend.guest_features(),
            backend: Some(backend),
            regions,
            rings: Rings::Idle,
        })
    }

    fn run_commands(&mut self) {
        while let Some(cmd) = self.commands.pop_front() {
            match cmd {
                Command::Start(activation) => self.start(activation),
                Command::Stop => self.stop(),
            }
        }
    }

    fn start(&mut self, activation: Activation) {
        let Some(backend) = &mut self.backend else {
            tracing::warn!(tag = %self.tag, "virtio-fs: the driver started a share whose virtiofsd is gone; failing its requests");
            self.orphan(activation);
            return;
        };
        let result = backend.start(
            activation.acked_features,
            &activation.mem,
            &self.regions,
            &activation.queues,
            &self.kicks,
            &self.calls,
        );
        match result {
            Ok(()) => {
                tracing::info!(tag = %self.tag, "virtio-fs: virtiofsd serves the share");
                self.rings = Rings::Backend(activation);
            }
            Err(e) => {
                tracing::error!(tag = %self.tag, error = %e, "virtio-fs: virtiofsd refused the rings; failing the share's requests");
                self.backend = None;
                self.orphan(activation);
            }
        }
    }

    fn stop(&mut self) {
        if let (Rings::Backend(_), Some(backend)) = (&self.rings, &mut self.backend)
            && let Err(e) = backend.stop(QUEUES)
        {
            tracing::warn!(tag = %self.tag, error = %e, "virtio-fs: stopping virtiofsd's rings failed");
            self.backend = None;
        }
        self.rings = Rings::Idle;
    }

    /// The rings go to the EIO responder.
    fn orphan(&mut self, activation: Activation) {
        let event_idx = activation.acked_features & (1 << virtio_bindings::virtio_ring::VIRTIO_RING_F_EVENT_IDX) != 0;
        let mut o = Orphaned::take_over(activation.mem, activation.queues, event_idx, activation.interrupt);
        o.answer_all();
        self.rings = Rings::Orphaned(o);
    }

    /// virtiofsd closed the session (killed, crashed): the rings it held
    /// are taken over.
    fn on_backend_gone(&mut self, ops: &mut EventOps) {
        let Some(backend) = self.backend.take() else {
            return;
        };
        tracing::error!(tag = %self.tag, "virtio-fs: virtiofsd went away; the share's requests fail with EIO from now on");
        let _ = ops.remove(Events::new_raw(backend.socket_fd(), EventSet::empty()));
        drop(backend);
        // From now on the driver's notifications are the device's to hear.
        for kick in &self.kicks {
            if let Err(e) = ops.add(Events::new(kick, EventSet::IN)) {
                tracing::error!(error = ?e, "virtio-fs: cannot watch a ring");
            }
        }
        if let Rings::Backend(activation) = std::mem::replace(&mut self.rings, Rings::Idle) {
            self.orphan(activation);
        }
    }
}

/// True if the socket has nothing to read after all (a wake-up that a
/// finished exchange already consumed); false if it is closed or holds an
/// unasked-for message.
fn socket_still_quiet(fd: std::os::fd::RawFd) -> bool {
    let mut byte = 0u8;
    // SAFETY: a one-byte peek into a local buffer on an fd the backend
    // owns; nothing is consumed.
    let n = unsafe { libc::recv(fd, (&raw mut byte).cast(), 1, libc::MSG_PEEK | libc::MSG_DONTWAIT) };
    n < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::WouldBlock
}

impl VirtioDevice for FsDevice {
    fn device_type(&self) -> u32 {
        virtio_bindings::virtio_ids::VIRTIO_ID_FS
    }
    fn queue_max_sizes(&self) -> &[u16] {
        &self.queue_sizes
    }
    fn queue_events(&self) -> &[EventFd] {
        &self.kicks
    }
    fn features(&self) -> u64 {
        self.guest_features
    }
    fn read_config(&self, offset: u64, data: &mut [u8]) {
        read_config_bytes(&self.config, offset, data);
    }
    fn activate(&mut self, activation: Activation) -> Result<(), ActivateError> {
        activation.expect_queues(QUEUES)?;
        self.commands.push_back(Command::Start(activation));
        self.command_evt.write(1).map_err(|e| ActivateError::Backend(e.to_string()))
    }
    fn reset(&mut self) -> bool {
        self.commands.push_back(Command::Stop);
        self.command_evt.write(1).is_ok()
    }
}

impl MutEventSubscriber for FsDevice {
    fn init(&mut self, ops: &mut EventOps) {
        let mut watch = |e: Events| {
            if let Err(err) = ops.add(e) {
                tracing::error!(error = ?err, "virtio-fs: cannot watch an fd");
            }
        };
        watch(Events::new(&self.command_evt, EventSet::IN));
        for call in &self.calls {
            watch(Events::new(call, EventSet::IN));
        }
        if let Some(b) = &self.backend {
            watch(Events::new_raw(b.socket_fd(), EventSet::IN | EventSet::HANG_UP | EventSet::ERROR));
        }
    }

    fn process(&mut self, events: Events, ops: &mut EventOps) {
        let fd = events.fd();
        if fd == self.command_evt.as_raw_fd() {
            let _ = self.command_evt.read();
            self.run_commands();
        } else if let Some(call) = self.calls.iter().find(|c| c.as_raw_fd() == fd) {
            let _ = call.read();
            if let Rings::Backend(a) = &self.rings {
                a.interrupt.signal_used_queue();
            }
        } else if let Some(kick) = self.kicks.iter().find(|k| k.as_raw_fd() == fd) {
            let _ = kick.read();
            if let Rings::Orphaned(o) = &mut self.rings {
                o.answer_all();
            }
        } else if self.backend.as_ref().is_some_and(|b| b.socket_fd() == fd) && !socket_still_quiet(fd) {
            // The backend never speaks unasked: readable means closed.
            self.on_backend_gone(ops);
        }
    }
}
