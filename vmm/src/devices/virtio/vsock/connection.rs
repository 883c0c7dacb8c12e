//! One vsock stream between a guest socket and a host UNIX stream.
//!
//! Owns the stream's state machine and both directions' flow control.
//! Guest → host bytes are written to the UNIX stream at once when it takes
//! them and buffered (up to the credit we advertised) when it does not; a
//! guest that sends past its credit has broken the protocol and gets a
//! reset. Host → guest bytes are read only as far as the guest's credit
//! allows. All counters wrap as the protocol says they do. It never talks
//! to queues; the muxer turns its answers into packets.

use std::collections::VecDeque;
use std::io::{ErrorKind, Write};
use std::num::Wrapping;
use std::os::unix::net::UnixStream;

use vm_memory::bitmap::BitmapSlice;
use vm_memory::{ReadVolatile, VolatileMemoryError, VolatileSlice, WriteVolatile};

/// Bytes we accept from the guest ahead of the host reading them; also the
/// `buf_alloc` we advertise.
pub const CONN_TX_BUF_SIZE: u32 = 256 * 1024;
/// Send a credit update once this much was forwarded since the last one.
const CREDIT_UPDATE_THRESHOLD: u32 = CONN_TX_BUF_SIZE / 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Host-initiated: REQUEST sent, waiting for the guest's RESPONSE.
    Connecting,
    Established,
}

/// What reading from the host side produced.
#[derive(Debug, PartialEq, Eq)]
pub enum HostRead {
    Data(usize),
    /// Nothing more until the next readiness event.
    WouldBlock,
    /// The host closed its end.
    Eof,
    Failed(String),
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConnError {
    #[error("guest sent {pending} bytes beyond its credit of {CONN_TX_BUF_SIZE}")]
    CreditOverrun { pending: usize },
    #[error("host socket: {0}")]
    Host(String),
}

pub struct Connection {
    pub stream: UnixStream,
    /// The host side's port (the guest's destination port).
    pub local_port: u32,
    pub state: State,
    /// Set when the stream has signalled readability and not yet been
    /// drained to `WouldBlock`.
    pub host_readable: bool,
    /// SHUTDOWN flags the guest sent.
    pub peer_shutdown: u32,
    /// The host half-closed (or closed) its end: nothing more to read.
    pub host_eof: bool,
    tx_buf: VecDeque<u8>,
    peer_buf_alloc: u32,
    peer_fwd_cnt: Wrapping<u32>,
    rx_cnt: Wrapping<u32>,
    fwd_cnt: Wrapping<u32>,
    last_fwd_cnt_sent: Wrapping<u32>,
}

fn io_kind(e: &VolatileMemoryError) -> Option<ErrorKind> {
    match e {
        VolatileMemoryError::IOError(io) => Some(io.kind()),
        _ => None,
    }
}

impl Connection {
    pub fn new(stream: UnixStream, local_port: u32, state: State) -> Self {
        Connection {
            stream,
            local_port,
            state,
            host_readable: false,
            peer_shutdown: 0,
            host_eof: false,
            tx_buf: VecDeque::new(),
            peer_buf_alloc: 0,
            peer_fwd_cnt: Wrapping(0),
            rx_cnt: Wrapping(0),
            fwd_cnt: Wrapping(0),
            last_fwd_cnt_sent: Wrapping(0),
        }
    }

    /// Records the guest's receive buffer state from any packet it sent.
    pub fn update_peer_credit(&mut self, buf_alloc: u32, fwd_cnt: u32) {
        self.peer_buf_alloc = buf_alloc;
        self.peer_fwd_cnt = Wrapping(fwd_cnt);
    }

    /// Bytes the guest can take now. A guest reporting more consumed than
    /// we sent is lying; treat that as no room rather than a huge window.
    pub fn peer_free(&self) -> u32 {
        let in_flight = (self.rx_cnt - self.peer_fwd_cnt).0;
        self.peer_buf_alloc.saturating_sub(in_flight)
    }

    /// Whether host data can flow to the guest now.
    pub fn wants_to_send(&self) -> bool {
        self.state == State::Established && self.host_readable && !self.host_eof && self.peer_free() > 0
    }

    /// The credit fields for a packet to the guest; remembers what was sent.
    pub fn credit_for_packet(&mut self) -> (u32, u32) {
        self.last_fwd_cnt_sent = self.fwd_cnt;
        (CONN_TX_BUF_SIZE, self.fwd_cnt.0)
    }

    /// Whether enough was forwarded since the last update that a guest
    /// waiting for credit should hear about it.
    pub fn needs_credit_update(&self) -> bool {
        (self.fwd_cnt - self.last_fwd_cnt_sent).0 >= CREDIT_UPDATE_THRESHOLD
    }

    pub fn has_pending_tx(&self) -> bool {
        !self.tx_buf.is_empty()
    }

    /// Delivers guest bytes to the host: straight into the socket if it
    /// takes them, the rest into the buffer.
    pub fn send_to_host<B: BitmapSlice>(&mut self, data: &VolatileSlice<'_, B>) -> Result<(), ConnError> {
        let mut offset = 0;
        if self.tx_buf.is_empty() {
            while offset < data.len() {
                let chunk = data.offset(offset).map_err(|e| ConnError::Host(e.to_string()))?;
                match self.stream.write_volatile(&chunk) {
                    Ok(0) => return Err(ConnError::Host("socket closed".into())),
                    Ok(n) => {
                        offset += n;
                        self.fwd_cnt += Wrapping(n as u32);
                    }
                    Err(e) if io_kind(&e) == Some(ErrorKind::WouldBlock) => break,
                    Err(e) if io_kind(&e) == Some(ErrorKind::Interrupted) => {}
                    Err(e) => return Err(ConnError::Host(e.to_string())),
                }
            }
        }
        let rest = data.len() - offset;
        if rest == 0 {
            return Ok(());
        }
        let pending = self.tx_buf.len() + rest;
        if pending > CONN_TX_BUF_SIZE as usize {
            return Err(ConnError::CreditOverrun { pending });
        }
        let mut bytes = vec![0u8; rest];
        data.offset(offset).map_err(|e| ConnError::Host(e.to_string()))?.copy_to(&mut bytes[..]);
        self.tx_buf.extend(bytes);
        Ok(())
    }

    /// Writes buffered guest bytes to the host; returns whether the buffer
    /// is now empty.
    pub fn flush(&mut self) -> Result<bool, ConnError> {
        while !self.tx_buf.is_empty() {
            let (front, _) = self.tx_buf.as_slices();
            match self.stream.write(front) {
                Ok(0) => return Err(ConnError::Host("socket closed".into())),
                Ok(n) => {
                    self.tx_buf.drain(..n);
                    self.fwd_cnt += Wrapping(n as u32);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(ConnError::Host(e.to_string())),
            }
        }
        Ok(true)
    }

    /// Reads host bytes for the guest into `dst`, at most the guest's credit.
    pub fn read_for_guest<B: BitmapSlice>(&mut self, dst: &VolatileSlice<'_, B>) -> HostRead {
        let room = dst.len().min(self.peer_free() as usize);
        if room == 0 {
            return HostRead::WouldBlock;
        }
        let mut window = match dst.subslice(0, room) {
            Ok(w) => w,
            Err(e) => return HostRead::Failed(e.to_string()),
        };
        loop {
            return match self.stream.read_volatile(&mut window) {
                Ok(0) => HostRead::Eof,
                Ok(n) => {
                    self.rx_cnt += Wrapping(n as u32);
                    HostRead::Data(n)
                }
                Err(e) if io_kind(&e) == Some(ErrorKind::WouldBlock) => HostRead::WouldBlock,
                Err(e) if io_kind(&e) == Some(ErrorKind::Interrupted) => continue,
                Err(e) => HostRead::Failed(e.to_string()),
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn pair() -> (Connection, UnixStream) {
        let (a, b) = UnixStream::pair().unwrap();
        a.set_nonblocking(true).unwrap();
        (Connection::new(a, 1024, State::Established), b)
    }

    #[test]
    fn credit_limits_what_the_guest_gets() {
        let (mut c, mut host) = pair();
        host.write_all(&[7u8; 100]).unwrap();
        let mut buf = [0u8; 64];
        let slice = VolatileSlice::from(&mut buf[..]);
        assert_eq!(c.read_for_guest(&slice), HostRead::WouldBlock, "no credit yet");
        c.update_peer_credit(40, 0);
        assert_eq!(c.read_for_guest(&slice), HostRead::Data(40));
        assert_eq!(c.peer_free(), 0);
        c.update_peer_credit(40, 40);
        assert_eq!(c.read_for_guest(&slice), HostRead::Data(40));
        c.update_peer_credit(1000, 80);
        assert_eq!(c.read_for_guest(&slice), HostRead::Data(20));
        assert_eq!(c.read_for_guest(&slice), HostRead::WouldBlock);
        drop(host);
        assert_eq!(c.read_for_guest(&slice), HostRead::Eof);
        // A guest claiming to have consumed more than was sent gets nothing.
        c.update_peer_credit(10, 1_000_000);
        assert_eq!(c.peer_free(), 0);
    }

    #[test]
    fn buffers_when_the_host_is_slow_and_rejects_overruns() {
        let (mut c, mut host) = pair();
        let mut chunk = vec![1u8; 64 * 1024];
        let slice = VolatileSlice::from(&mut chunk[..]);
        // Fill the socket buffer, then CONN_TX_BUF_SIZE more is accepted.
        let mut sent = 0usize;
        let err = loop {
            match c.send_to_host(&slice) {
                Ok(()) => sent += 64 * 1024,
                Err(e) => break e,
            }
            assert!(sent < 64 << 20, "the socket never filled");
        };
        assert!(matches!(err, ConnError::CreditOverrun { .. }));
        assert!(c.has_pending_tx());
        // The host drains; flushing empties the buffer and counts forwarded bytes.
        host.set_nonblocking(true).unwrap();
        let mut sink = vec![0u8; 1 << 20];
        let mut drained = 0;
        loop {
            match host.read(&mut sink) {
                Ok(n) => drained += n,
                Err(_) => {
                    if c.flush().unwrap() {
                        break;
                    }
                }
            }
        }
        while let Ok(n) = host.read(&mut sink) {
            drained += n;
        }
        assert_eq!(drained, sent);
        assert!(c.needs_credit_update());
        let (buf_alloc, fwd) = c.credit_for_packet();
        assert_eq!((buf_alloc, fwd as usize), (CONN_TX_BUF_SIZE, sent));
        assert!(!c.needs_credit_update());
    }

    #[test]
    fn a_closed_host_is_an_error_not_a_panic() {
        let (mut c, host) = pair();
        drop(host);
        let mut b = [0u8; 8];
        let r = c.send_to_host(&VolatileSlice::from(&mut b[..]));
        assert!(matches!(r, Err(ConnError::Host(_))), "{r:?}");
    }
}
