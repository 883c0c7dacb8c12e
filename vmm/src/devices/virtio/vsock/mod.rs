//! virtio-vsock with Firecracker's hybrid host side: the host end of every
//! guest socket is a UNIX socket.
//!
//! - `device`: the virtio side — three queues (rx, tx, event), the guest
//!   CID in config space, and the event-loop glue.
//! - `packet`: the vsock header's constants and the checks a packet from the
//!   guest must pass (virtio-vsock's `VsockPacket` does the parsing).
//! - `connection`: one stream's state machine and credit accounting.
//! - `muxer`: the table of connections, the host listener and the
//!   `CONNECT <port>\n` / `OK <port>\n` handshake, and the queue of packets
//!   waiting for the guest's rx buffers.
//! - `rx_queue`: those waiting packets, bounded whatever the guest sends.
//!
//! Host → guest: connect to the UNIX socket, write `CONNECT <port>\n`; once
//! the guest accepts, read `OK <host port>\n`, then stream. If nothing
//! listens in the guest the socket is closed: retry. Guest → host: a
//! connection to CID 2 port P becomes a connection to the UNIX socket
//! `<path>_<P>`; if that fails the guest sees a reset.

mod connection;
mod device;
mod muxer;
mod packet;
mod rx_queue;
mod unix_connect;

pub use device::VsockDevice;
