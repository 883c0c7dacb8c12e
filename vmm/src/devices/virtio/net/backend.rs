//! The host end of a virtio-net device: something that carries one
//! Ethernet frame (with its virtio-net header) per read or write, and can
//! be waited on with epoll: TAP, or passt's UNIX socket.

use std::os::fd::AsRawFd;

/// A frame-oriented, non-blocking host network endpoint.
pub trait FrameBackend: AsRawFd + Send {
    /// Reads one frame into `buf`; `WouldBlock` when none is waiting.
    fn read_frame(&mut self, buf: &mut [u8]) -> std::io::Result<usize>;
    /// Writes one whole frame (or queues it; `WouldBlock` if it was dropped).
    fn write_frame(&mut self, frame: &[u8]) -> std::io::Result<()>;
    /// Writes anything queued, now that the endpoint may take it.
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
