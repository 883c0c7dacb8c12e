//! The host side of every vsock stream: the listening UNIX socket, the
//! `CONNECT <port>\n` handshake, the connection table, and the packets
//! waiting for the guest's rx buffers.
//!
//! The muxer never touches queues or epoll directly: the device hands it
//! packets from the tx queue and rx packets to fill, and applies the epoll
//! changes it asks for (`take_epoll_changes`). A guest that misbehaves on
//! one stream gets that stream reset; nothing it sends can end the muxer.

use std::collections::HashMap;
use std::ffi::OsString;
use std::io::{ErrorKind, Read, Write};
use std::net::Shutdown;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

use event_manager::EventSet;
use virtio_vsock::packet::VsockPacket;
use vm_memory::VolatileSlice;
use vm_memory::bitmap::BitmapSlice;

use super::connection::{Connection, HostRead, State};
use super::packet::{
    GuestHeader, HostHeader, OP_CREDIT_REQUEST, OP_CREDIT_UPDATE, OP_REQUEST, OP_RESPONSE, OP_RST, OP_RW, OP_SHUTDOWN,
    SHUTDOWN_RCV, SHUTDOWN_SEND, Verdict, check, write_header,
};
use super::rx_queue::{ConnKey, Control, ControlQueue, ReadyQueue};

/// Firecracker's limit; also bounds the fds a guest can make us hold.
pub const MAX_CONNECTIONS: usize = 1023;
/// Longest `CONNECT <port>\n` line accepted.
const MAX_HANDSHAKE_LINE: usize = 32;
/// Host-side ports for host-initiated streams start here, clear of the
/// ports guests usually listen on.
const FIRST_LOCAL_PORT: u32 = 1 << 30;

/// How long a host client has to send its `CONNECT` line. A client that
/// connects and says nothing would otherwise hold one of the
/// [`MAX_CONNECTIONS`] slots for ever; stale ones go when the next client
/// is accepted.
const HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// An accepted host stream still sending its `CONNECT` line.
struct Handshake {
    stream: UnixStream,
    line: Vec<u8>,
    since: std::time::Instant,
}

/// A change to the device's epoll set the muxer needs.
pub enum EpollChange {
    Add(RawFd, EventSet),
    Modify(RawFd, EventSet),
    /// Stop watching the stream, then drop (close) it.
    Remove(UnixStream),
}

/// Readiness a connection stream is watched for: edge-triggered, so a
/// stream the guest has no credit for does not spin the loop.
pub fn connection_events() -> EventSet {
    EventSet::IN | EventSet::OUT | EventSet::READ_HANG_UP | EventSet::EDGE_TRIGGERED
}

pub struct Muxer {
    guest_cid: u64,
    uds_path: PathBuf,
    listener: UnixListener,
    handshakes: HashMap<RawFd, Handshake>,
    conns: HashMap<ConnKey, Connection>,
    by_fd: HashMap<RawFd, ConnKey>,
    /// Bounded whatever the guest sends (see `rx_queue`).
    control: ControlQueue,
    /// Connections that may have host data for the guest.
    ready: ReadyQueue,
    next_local_port: u32,
    changes: Vec<EpollChange>,
    /// [`HANDSHAKE_TIMEOUT`], shorter in tests.
    handshake_timeout: std::time::Duration,
}

impl Muxer {
    /// Binds the host socket at `uds_path`. A stale socket file left by a
    /// previous run is replaced; any other file there is an error.
    pub fn new(guest_cid: u64, uds_path: &Path) -> std::io::Result<Self> {
        if let Ok(meta) = std::fs::symlink_metadata(uds_path) {
            if meta.file_type().is_socket() {
                std::fs::remove_file(uds_path)?;
            } else {
                return Err(std::io::Error::new(ErrorKind::AlreadyExists, "a file that is not a socket is in the way"));
            }
        }
        let listener = UnixListener::bind(uds_path)?;
        // Only the owner may connect, whatever the umask made of it.
        std::fs::set_permissions(uds_path, std::fs::Permissions::from_mode(0o600))?;
        listener.set_nonblocking(true)?;
        Ok(Muxer {
            guest_cid,
            uds_path: uds_path.to_owned(),
            listener,
            handshakes: HashMap::new(),
            handshake_timeout: HANDSHAKE_TIMEOUT,
            conns: HashMap::new(),
            by_fd: HashMap::new(),
            control: ControlQueue::default(),
            ready: ReadyQueue::default(),
            next_local_port: FIRST_LOCAL_PORT,
            changes: Vec::new(),
        })
    }

    pub fn listener_fd(&self) -> RawFd {
        self.listener.as_raw_fd()
    }

    pub fn take_epoll_changes(&mut self) -> Vec<EpollChange> {
        std::mem::take(&mut self.changes)
    }

    fn at_capacity(&self) -> bool {
        self.conns.len() + self.handshakes.len() >= MAX_CONNECTIONS
    }

    /// Accepts waiting host connections. Before the guest driver is up
    /// (`guest_ready` false) they are closed at once: the client retries.
    pub fn on_listener_ready(&mut self, guest_ready: bool) {
        self.drop_stale_handshakes();
        loop {
            let stream = match self.listener.accept() {
                Ok((s, _)) => s,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "vsock: accept failed");
                    return;
                }
            };
            if !guest_ready || self.at_capacity() || stream.set_nonblocking(true).is_err() {
                tracing::debug!(guest_ready, "vsock: host connection refused");
                continue;
            }
            let fd = stream.as_raw_fd();
            self.handshakes.insert(fd, Handshake { stream, line: Vec::new(), since: std::time::Instant::now() });
            self.changes.push(EpollChange::Add(fd, EventSet::IN));
        }
    }

    /// Closes the handshakes that have waited longer than the timeout.
    fn drop_stale_handshakes(&mut self) {
        let limit = self.handshake_timeout;
        let stale: Vec<RawFd> =
            self.handshakes.iter().filter(|(_, h)| h.since.elapsed() >= limit).map(|(&fd, _)| fd).collect();
        for fd in stale {
            if let Some(hs) = self.handshakes.remove(&fd) {
                tracing::debug!("vsock: a host client sent no CONNECT line in time");
                self.changes.push(EpollChange::Remove(hs.stream));
            }
        }
    }

    /// A host-side fd (handshake or connection) is ready.
    pub fn on_host_event(&mut self, fd: RawFd, events: EventSet) {
        if self.handshakes.contains_key(&fd) {
            self.read_handshake(fd);
        } else if let Some(&key) = self.by_fd.get(&fd) {
            if events.intersects(EventSet::IN | EventSet::READ_HANG_UP | EventSet::HANG_UP | EventSet::ERROR) {
                if let Some(c) = self.conns.get_mut(&key) {
                    c.host_readable = true;
                }
                self.mark_ready(key);
            }
            if events.contains(EventSet::OUT) {
                self.flush(key);
            }
        }
    }

    fn read_handshake(&mut self, fd: RawFd) {
        let Some(hs) = self.handshakes.get_mut(&fd) else {
            return;
        };
        // Byte by byte: whatever follows the line belongs to the stream.
        let mut byte = [0u8; 1];
        let outcome = loop {
            match hs.stream.read(&mut byte) {
                Ok(0) => break Err("closed before CONNECT"),
                Ok(_) if byte[0] == b'\n' => break Ok(parse_connect(&hs.line)),
                Ok(_) if hs.line.len() >= MAX_HANDSHAKE_LINE => break Err("CONNECT line too long"),
                Ok(_) => hs.line.push(byte[0]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => break Err("read failed"),
            }
        };
        let Some(hs) = self.handshakes.remove(&fd) else {
            return;
        };
        let port = match outcome {
            Ok(Some(port)) => port,
            Ok(None) | Err(_) => {
                tracing::debug!(line = %String::from_utf8_lossy(&hs.line), "vsock: bad host handshake");
                self.changes.push(EpollChange::Remove(hs.stream));
                return;
            }
        };
        let Some(local_port) = self.allocate_local_port(port) else {
            self.changes.push(EpollChange::Remove(hs.stream));
            return;
        };
        let key = ConnKey { local_port, peer_port: port };
        self.by_fd.insert(fd, key);
        self.conns.insert(key, Connection::new(hs.stream, local_port, State::Connecting));
        self.changes.push(EpollChange::Modify(fd, connection_events()));
        self.push_control(key, OP_REQUEST, 0);
    }

    fn allocate_local_port(&mut self, peer_port: u32) -> Option<u32> {
        for _ in 0..=MAX_CONNECTIONS {
            let p = self.next_local_port;
            self.next_local_port = self.next_local_port.checked_add(1).unwrap_or(FIRST_LOCAL_PORT);
            if !self.conns.contains_key(&ConnKey { local_port: p, peer_port }) {
                return Some(p);
            }
        }
        None
    }

    /// Acts on one packet from the guest's tx queue.
    pub fn on_guest_packet<B: BitmapSlice>(&mut self, h: &GuestHeader, data: Option<&VolatileSlice<'_, B>>) {
        let key = ConnKey { local_port: h.dst_port, peer_port: h.src_port };
        match check(h, self.guest_cid) {
            Verdict::Accept => {}
            Verdict::Reset(why) => {
                tracing::debug!(why, ?h, "vsock: packet refused");
                self.push_control(key, OP_RST, 0);
                return;
            }
            Verdict::Drop(why) => {
                tracing::debug!(why, ?h, "vsock: packet dropped");
                return;
            }
        }
        if h.op == OP_REQUEST {
            self.guest_connect(key, h);
            return;
        }
        let Some(conn) = self.conns.get_mut(&key) else {
            if h.op != OP_RST {
                self.push_control(key, OP_RST, 0);
            }
            return;
        };
        conn.update_peer_credit(h.buf_alloc, h.fwd_cnt);
        match (h.op, conn.state) {
            (OP_RST, _) => self.kill(key, false),
            (OP_RESPONSE, State::Connecting) => {
                let line = format!("OK {}\n", conn.local_port);
                match conn.stream.write(line.as_bytes()) {
                    Ok(n) if n == line.len() => {
                        conn.state = State::Established;
                        self.mark_ready(key);
                    }
                    _ => self.kill(key, true),
                }
            }
            (OP_RW, State::Established) => {
                let Some(data) = data else { return };
                match conn.send_to_host(data) {
                    Ok(()) => self.queue_credit_update_if_due(key),
                    Err(e) => {
                        tracing::debug!(error = %e, port = key.peer_port, "vsock: stream reset");
                        self.kill(key, true);
                    }
                }
            }
            (OP_CREDIT_UPDATE, _) => {
                if conn.host_readable {
                    self.mark_ready(key);
                }
            }
            (OP_CREDIT_REQUEST, _) => self.push_control(key, OP_CREDIT_UPDATE, 0),
            (OP_SHUTDOWN, _) => {
                conn.peer_shutdown |= h.flags & (SHUTDOWN_RCV | SHUTDOWN_SEND);
                self.finish_shutdown_if_flushed(key);
            }
            (op, state) => {
                tracing::debug!(op, ?state, "vsock: packet out of place; resetting the stream");
                self.kill(key, true);
            }
        }
    }

    fn guest_connect(&mut self, key: ConnKey, h: &GuestHeader) {
        if self.conns.contains_key(&key) || self.at_capacity() {
            self.push_control(key, OP_RST, 0);
            return;
        }
        let mut path = OsString::from(self.uds_path.as_os_str());
        path.push(format!("_{}", key.local_port));
        // Never blocking: a host listener whose backlog is full refuses.
        let stream = match super::unix_connect::connect_nonblocking(Path::new(&path)) {
            Ok(s) => s,
            Err(_) => {
                tracing::debug!(path = %Path::new(&path).display(), "vsock: nothing listens for the guest's connection");
                self.push_control(key, OP_RST, 0);
                return;
            }
        };
        let fd = stream.as_raw_fd();
        let mut conn = Connection::new(stream, key.local_port, State::Established);
        conn.update_peer_credit(h.buf_alloc, h.fwd_cnt);
        self.conns.insert(key, conn);
        self.by_fd.insert(fd, key);
        self.changes.push(EpollChange::Add(fd, connection_events()));
        self.push_control(key, OP_RESPONSE, 0);
    }

    /// Queues a connection to be read for the guest, once.
    fn mark_ready(&mut self, key: ConnKey) {
        self.ready.push_back(key);
    }

    /// Queues a control packet once; resets past the cap are dropped.
    fn push_control(&mut self, key: ConnKey, op: u16, flags: u32) {
        self.control.push(Control { key, op, flags });
    }

    fn queue_credit_update_if_due(&mut self, key: ConnKey) {
        if self.conns.get(&key).is_some_and(Connection::needs_credit_update) {
            self.push_control(key, OP_CREDIT_UPDATE, 0);
        }
    }

    fn flush(&mut self, key: ConnKey) {
        let Some(conn) = self.conns.get_mut(&key) else {
            return;
        };
        match conn.flush() {
            Ok(_) => {
                self.queue_credit_update_if_due(key);
                self.finish_shutdown_if_flushed(key);
            }
            Err(e) => {
                tracing::debug!(error = %e, "vsock: host stream failed");
                self.kill(key, true);
            }
        }
    }

    /// After the guest's SHUTDOWN, once its bytes reached the host: half-
    /// close the host stream, or end the stream when neither side will send
    /// again (the guest then expects our RST to finish its close).
    fn finish_shutdown_if_flushed(&mut self, key: ConnKey) {
        let Some(conn) = self.conns.get_mut(&key) else {
            return;
        };
        if conn.peer_shutdown & SHUTDOWN_SEND == 0 || conn.has_pending_tx() {
            return;
        }
        if conn.peer_shutdown == SHUTDOWN_RCV | SHUTDOWN_SEND || conn.host_eof {
            self.kill(key, true);
        } else {
            let _ = conn.stream.shutdown(Shutdown::Write);
        }
    }

    /// Ends a stream: closes the host side and optionally resets the guest's.
    fn kill(&mut self, key: ConnKey, reset_guest: bool) {
        self.control.forget(key);
        self.ready.remove(key);
        if let Some(conn) = self.conns.remove(&key) {
            self.by_fd.remove(&conn.stream.as_raw_fd());
            self.changes.push(EpollChange::Remove(conn.stream));
        }
        if reset_guest {
            self.push_control(key, OP_RST, 0);
        }
    }

    /// Whether a packet is waiting for an rx buffer.
    pub fn has_rx(&self) -> bool {
        !self.control.is_empty() || self.ready.iter().any(|k| self.conns.get(k).is_some_and(Connection::wants_to_send))
    }

    /// Fills one rx packet; returns the bytes used, or `None` if there
    /// was nothing to send after all.
    pub fn fill_rx<B: BitmapSlice>(&mut self, pkt: &mut VsockPacket<'_, B>) -> Option<u32> {
        if let Some(c) = self.control.pop() {
            let (buf_alloc, fwd_cnt) = self.conns.get_mut(&c.key).map_or((0, 0), Connection::credit_for_packet);
            let h = HostHeader {
                src_port: c.key.local_port,
                dst_port: c.key.peer_port,
                op: c.op,
                flags: c.flags,
                len: 0,
                buf_alloc,
                fwd_cnt,
            };
            return Some(write_header(pkt, self.guest_cid, &h));
        }
        while let Some(key) = self.ready.pop_front() {
            let Some(conn) = self.conns.get_mut(&key) else {
                continue;
            };
            if !conn.wants_to_send() {
                continue;
            }
            let Some(data) = pkt.data_slice() else {
                tracing::debug!("vsock: rx buffer has no room for data");
                self.ready.push_front(key);
                return None;
            };
            match conn.read_for_guest(data) {
                HostRead::Data(n) => {
                    let (buf_alloc, fwd_cnt) = conn.credit_for_packet();
                    let h = HostHeader {
                        src_port: key.local_port,
                        dst_port: key.peer_port,
                        op: OP_RW,
                        flags: 0,
                        len: n as u32,
                        buf_alloc,
                        fwd_cnt,
                    };
                    // More may be waiting; go to the back for fairness.
                    self.ready.push_back(key);
                    return Some(write_header(pkt, self.guest_cid, &h));
                }
                HostRead::WouldBlock => {
                    if conn.peer_free() > 0 {
                        conn.host_readable = false;
                    }
                }
                HostRead::Eof => {
                    // The host will send no more; it may still read, so the
                    // guest keeps its send direction until it closes.
                    conn.host_readable = false;
                    conn.host_eof = true;
                    self.push_control(key, OP_SHUTDOWN, SHUTDOWN_SEND);
                    self.finish_shutdown_if_flushed(key);
                    return self.fill_rx(pkt);
                }
                HostRead::Failed(e) => {
                    tracing::debug!(error = %e, "vsock: host read failed");
                    self.kill(key, true);
                    return self.fill_rx(pkt);
                }
            }
        }
        None
    }

    /// Drops every stream (device reset): no packets, the guest is gone.
    pub fn reset(&mut self) {
        for (_, hs) in self.handshakes.drain() {
            self.changes.push(EpollChange::Remove(hs.stream));
        }
        for (_, conn) in self.conns.drain() {
            self.changes.push(EpollChange::Remove(conn.stream));
        }
        self.by_fd.clear();
        self.control.clear();
        self.ready.clear();
    }
}

impl Drop for Muxer {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.uds_path);
    }
}

/// Parses `CONNECT <port>` (keyword case-insensitive, trailing `\r` allowed).
fn parse_connect(line: &[u8]) -> Option<u32> {
    let text = std::str::from_utf8(line).ok()?.trim_end_matches('\r');
    let mut parts = text.split_ascii_whitespace();
    let keyword = parts.next()?;
    let port = parts.next()?.parse().ok()?;
    (keyword.eq_ignore_ascii_case("connect") && parts.next().is_none()).then_some(port)
}

impl std::fmt::Debug for Muxer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Muxer")
            .field("uds_path", &self.uds_path)
            .field("connections", &self.conns.len())
            .field("handshakes", &self.handshakes.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_line_parsing() {
        assert_eq!(parse_connect(b"CONNECT 52"), Some(52));
        assert_eq!(parse_connect(b"connect 2375\r"), Some(2375));
        assert_eq!(parse_connect(b"Connect  7"), Some(7));
        assert_eq!(parse_connect(b"CONNECT"), None);
        assert_eq!(parse_connect(b"CONNECT -1"), None);
        assert_eq!(parse_connect(b"CONNECT 1 2"), None);
        assert_eq!(parse_connect(b"LISTEN 5"), None);
        assert_eq!(parse_connect(b"CONNECT 99999999999"), None);
        assert_eq!(parse_connect(&[0xff, 0xfe]), None);
    }

    /// A host client that connects and sends no CONNECT line is closed
    /// once the next client is accepted after the timeout; before, it kept
    /// its slot for ever.
    #[test]
    fn a_silent_host_client_is_dropped_after_the_handshake_timeout() {
        use std::io::Read as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.sock");
        let mut m = Muxer::new(3, &path).unwrap();
        m.handshake_timeout = std::time::Duration::from_millis(50);
        let mut silent = UnixStream::connect(&path).unwrap();
        m.on_listener_ready(true);
        assert_eq!(m.handshakes.len(), 1);
        std::thread::sleep(std::time::Duration::from_millis(60));
        let _next = UnixStream::connect(&path).unwrap();
        m.on_listener_ready(true);
        assert_eq!(m.handshakes.len(), 1, "the silent one went, the new one waits");
        drop(m.take_epoll_changes());
        silent.set_read_timeout(Some(std::time::Duration::from_secs(2))).unwrap();
        assert_eq!(silent.read(&mut [0u8; 1]).unwrap(), 0, "closed");
    }

    /// A guest that posts packets earning a reset (data for streams that do
    /// not exist) and never gives rx buffers back: the queue of resets stays
    /// at Firecracker's bound (the old queue held one per packet), and what
    /// is queued still goes out once buffers come.
    #[test]
    fn reset_flood_without_rx_buffers_stays_bounded() {
        use super::super::packet::{HOST_CID, TYPE_STREAM};
        use super::super::rx_queue::MAX_QUEUED_RESETS;
        let dir = tempfile::tempdir().unwrap();
        let mut m = Muxer::new(3, &dir.path().join("v.sock")).unwrap();
        let started = std::time::Instant::now();
        for i in 0..200_000u32 {
            let h = GuestHeader {
                src_cid: 3,
                dst_cid: HOST_CID,
                src_port: 1000 + i,
                dst_port: 52 + i % 7,
                len: 0,
                type_: TYPE_STREAM,
                op: if i % 2 == 0 { OP_CREDIT_UPDATE } else { OP_SHUTDOWN },
                flags: 0,
                buf_alloc: 0,
                fwd_cnt: 0,
            };
            m.on_guest_packet::<()>(&h, None);
        }
        assert_eq!(m.control.len(), MAX_QUEUED_RESETS);
        assert!(started.elapsed() < std::time::Duration::from_secs(20), "linear, not quadratic");
        let mut sent = 0;
        while m.control.pop().is_some() {
            sent += 1;
        }
        assert_eq!(sent, MAX_QUEUED_RESETS);
        assert!(!m.has_rx());
    }

    #[test]
    fn stale_socket_is_replaced_other_files_are_not() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("v.sock");
        drop(UnixListener::bind(&p).unwrap());
        let m = Muxer::new(3, &p).unwrap();
        use std::os::unix::fs::MetadataExt;
        assert_eq!(std::fs::metadata(&p).unwrap().mode() & 0o777, 0o600, "the owner's alone, whatever the umask");
        drop(m);
        assert!(!p.exists(), "socket removed on drop");
        std::fs::write(&p, b"x").unwrap();
        assert!(Muxer::new(3, &p).is_err());
    }
}
