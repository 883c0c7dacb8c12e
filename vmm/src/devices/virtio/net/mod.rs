//! virtio-net: `device` moves Ethernet frames between the guest's queues
//! and a host backend; `backend` is the frame interface a backend offers;
//! `tap` is the TAP backend and `passt` the unprivileged userspace one.
//! Frames carry the 12-byte virtio-net header between device and backend
//! (TAP passes it through with `IFF_VNET_HDR`; passt's backend adds and
//! strips it), so no offload state is translated. No offloads are negotiated: checksums are computed by the
//! guest, which keeps the device simple and guest input easy to check.

mod backend;
mod device;
mod passt;
mod tap;

#[cfg(test)]
mod real_passt_tests;

pub use backend::FrameBackend;
pub use device::NetDevice;
pub use passt::Passt;
pub use tap::Tap;
