//! Published ports of a machine, carried between the user's host and the
//! guest, as Docker Desktop's forwarder does: the machine process on the
//! host listens on each `HostIp:HostPort` the engine asks for, and carries
//! every TCP connection (or every UDP client's datagrams) over a vsock
//! stream to the agent, which connects to the container's address.
//!
//! Two kinds of vsock stream, both opened by the host:
//! - the *control* stream ([`CONTROL_PORT`]): one per machine, on which
//!   the engine asks for listeners ([`wire::ToHost`]) and the host answers
//!   with the port it bound or why it could not ([`wire::ToGuest`]);
//! - a *data* stream ([`DATA_PORT`]) per carried connection: a one-line
//!   [`wire::Header`] naming the protocol and the container's address,
//!   then the TCP bytes as they are, or UDP datagrams framed by length.
//!
//! Owns the wire format and the relays over any byte stream ([`host`] for
//! the listening side, [`guest`] for the connecting one). It must never
//! open vsock connections or decide what is published: the machine process
//! and the engine do.

pub mod guest;
pub mod host;
pub mod wire;

/// The guest's vsock port for the control stream.
pub const CONTROL_PORT: u32 = 2376;
/// The guest's vsock port for data streams.
pub const DATA_PORT: u32 = 2377;
