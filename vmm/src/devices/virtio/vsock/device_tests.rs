//! The vsock device driven the way it runs: a real event loop
//! (event-manager), real UNIX sockets on the host side, and the test acting
//! as the guest driver on in-memory queues.

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use event_manager::{EventManager, SubscriberOps};
use virtio_vsock::packet::PKT_HEADER_SIZE;
use vm_memory::GuestMemoryMmap;

use super::super::packet::*;
use super::*;
use crate::devices::virtio::test_utils::*;

const GUEST_CID: u64 = 3;
const RX_BUF: u64 = 0x20_0000;
const TX_BUF: u64 = 0x80_0000;
const RX_LEN: u32 = PKT_HEADER_SIZE as u32 + 64 * 1024;

/// A parsed packet the device put in an rx buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Rx {
    src_cid: u64,
    dst_cid: u64,
    src_port: u32,
    dst_port: u32,
    op: u16,
    flags: u32,
    buf_alloc: u32,
    fwd_cnt: u32,
    data: Vec<u8>,
}

struct Guest<'a> {
    mem: &'a GuestMemoryMmap,
    dev: Arc<Mutex<VsockDevice>>,
    em: EventManager<Arc<Mutex<VsockDevice>>>,
    rxq: DriverQueue<'a>,
    txq: DriverQueue<'a>,
    rx_posted: Vec<u64>,
    rx_seen: usize,
    tx_slot: u64,
}

fn header(src_port: u32, dst_port: u32, op: u16, len: u32, flags: u32, buf_alloc: u32, fwd_cnt: u32) -> Vec<u8> {
    let mut h = Vec::with_capacity(PKT_HEADER_SIZE);
    h.extend_from_slice(&GUEST_CID.to_le_bytes());
    h.extend_from_slice(&HOST_CID.to_le_bytes());
    h.extend_from_slice(&src_port.to_le_bytes());
    h.extend_from_slice(&dst_port.to_le_bytes());
    h.extend_from_slice(&len.to_le_bytes());
    h.extend_from_slice(&TYPE_STREAM.to_le_bytes());
    h.extend_from_slice(&op.to_le_bytes());
    h.extend_from_slice(&flags.to_le_bytes());
    h.extend_from_slice(&buf_alloc.to_le_bytes());
    h.extend_from_slice(&fwd_cnt.to_le_bytes());
    h
}

impl<'a> Guest<'a> {
    fn new(mem: &'a Arc<GuestMemoryMmap>, dir: &tempfile::TempDir) -> Self {
        let dev = Arc::new(Mutex::new(VsockDevice::new(GUEST_CID, &dir.path().join("v.sock")).unwrap()));
        let mut em = EventManager::new().unwrap();
        em.add_subscriber(dev.clone());
        let rxq = DriverQueue::new(mem, 0, 128);
        let txq = DriverQueue::new(mem, 0x8000, 128);
        Guest { mem, dev, em, rxq, txq, rx_posted: Vec::new(), rx_seen: 0, tx_slot: 0 }
    }

    fn activate(&mut self) {
        let evq = DriverQueue::new(self.mem, 0x10000, 16);
        let mem = Arc::new(self.mem.clone());
        let act = activation(&mem, vec![self.rxq.queue(), self.txq.queue(), evq.queue()], 0);
        self.dev.lock().unwrap().activate(act).unwrap();
    }

    fn post_rx_buffers(&mut self, n: usize) {
        for _ in 0..n {
            let addr = RX_BUF + self.rx_posted.len() as u64 * 0x1_1000;
            self.rxq.add_chain(&[(addr, RX_LEN, WO)]);
            self.rx_posted.push(addr);
        }
        self.dev.lock().unwrap().queue_evts[RXQ].write(1).unwrap();
    }

    fn send(&mut self, bytes: &[u8]) {
        let addr = TX_BUF + self.tx_slot * 0x1_1000;
        self.tx_slot += 1;
        put(self.mem, addr, bytes);
        self.txq.add_chain(&[(addr, bytes.len() as u32, RO)]);
        self.dev.lock().unwrap().queue_evts[TXQ].write(1).unwrap();
        self.run();
    }

    fn send_pkt(&mut self, src_port: u32, dst_port: u32, op: u16, data: &[u8], flags: u32) {
        let mut p = header(src_port, dst_port, op, data.len() as u32, flags, 64 * 1024, 0);
        p.extend_from_slice(data);
        self.send(&p);
    }

    fn run(&mut self) {
        for _ in 0..5 {
            self.em.run_with_timeout(20).unwrap();
        }
    }

    /// Packets the device delivered since the last call.
    fn received(&mut self) -> Vec<Rx> {
        self.run();
        let used = self.rxq.used();
        let out = used[self.rx_seen..]
            .iter()
            .map(|&(head, len)| {
                let addr = self.rx_posted[head as usize];
                let b = get(self.mem, addr, len as usize);
                let u32_at = |o: usize| u32::from_le_bytes(b[o..o + 4].try_into().unwrap());
                Rx {
                    src_cid: u64::from_le_bytes(b[0..8].try_into().unwrap()),
                    dst_cid: u64::from_le_bytes(b[8..16].try_into().unwrap()),
                    src_port: u32_at(16),
                    dst_port: u32_at(20),
                    op: u16::from_le_bytes([b[30], b[31]]),
                    flags: u32_at(32),
                    buf_alloc: u32_at(36),
                    fwd_cnt: u32_at(40),
                    data: b[PKT_HEADER_SIZE..].to_vec(),
                }
            })
            .collect();
        self.rx_seen = used.len();
        out
    }
}

fn read_line(s: &mut UnixStream) -> String {
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    while s.read(&mut b).unwrap() == 1 && b[0] != b'\n' {
        line.push(b[0]);
    }
    String::from_utf8(line).unwrap()
}

#[test]
fn host_connect_before_the_guest_is_up_is_closed_then_a_retry_works() {
    let mem = guest_memory();
    let dir = tempfile::tempdir().unwrap();
    let mut g = Guest::new(&mem, &dir);
    let mut early = UnixStream::connect(dir.path().join("v.sock")).unwrap();
    early.write_all(b"CONNECT 52\n").unwrap();
    g.run();
    early.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    // Closed (EOF, or a reset since the CONNECT line was never read), so
    // the client retries.
    match early.read(&mut [0u8; 8]) {
        Ok(0) => {}
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        other => panic!("expected the early connection closed, got {other:?}"),
    }

    g.activate();
    g.post_rx_buffers(16);
    let mut host = UnixStream::connect(dir.path().join("v.sock")).unwrap();
    host.write_all(b"connect 52\n").unwrap();
    let req = g.received();
    assert_eq!(req.len(), 1);
    let r = &req[0];
    assert_eq!((r.op, r.src_cid, r.dst_cid, r.dst_port), (OP_REQUEST, HOST_CID, GUEST_CID, 52));
    let host_port = r.src_port;

    // The guest accepts; the host is told the port.
    g.send_pkt(52, host_port, OP_RESPONSE, &[], 0);
    assert_eq!(read_line(&mut host), format!("OK {host_port}"));

    // Host → guest.
    host.write_all(b"hello guest").unwrap();
    let rw = g.received();
    assert_eq!(rw.len(), 1);
    assert_eq!((rw[0].op, rw[0].data.as_slice()), (OP_RW, &b"hello guest"[..]));

    // Guest → host.
    g.send_pkt(52, host_port, OP_RW, b"hello host", 0);
    let mut buf = [0u8; 10];
    host.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"hello host");

    // Guest closes both ways: the host sees EOF, the guest gets its RST.
    g.send_pkt(52, host_port, OP_SHUTDOWN, &[], SHUTDOWN_RCV | SHUTDOWN_SEND);
    assert_eq!(host.read(&mut buf).unwrap(), 0);
    let rst = g.received();
    assert_eq!(rst.last().map(|p| p.op), Some(OP_RST));
}

#[test]
fn guest_connects_to_a_host_listener_or_gets_a_reset() {
    let mem = guest_memory();
    let dir = tempfile::tempdir().unwrap();
    let mut g = Guest::new(&mem, &dir);
    g.activate();
    g.post_rx_buffers(16);
    let listener = UnixListener::bind(dir.path().join("v.sock_1234")).unwrap();

    g.send_pkt(40000, 1234, OP_REQUEST, &[], 0);
    let resp = g.received();
    assert_eq!((resp[0].op, resp[0].src_port, resp[0].dst_port), (OP_RESPONSE, 1234, 40000));
    let (mut host, _) = listener.accept().unwrap();
    g.send_pkt(40000, 1234, OP_RW, b"ping", 0);
    let mut b = [0u8; 4];
    host.read_exact(&mut b).unwrap();
    assert_eq!(&b, b"ping");
    host.write_all(b"pong").unwrap();
    let rw = g.received();
    assert_eq!(rw[0].data, b"pong");

    // The host half-closes: the guest hears the host will send no more,
    // and can still send; its own shutdown then ends the stream.
    host.shutdown(std::net::Shutdown::Write).unwrap();
    let shut = g.received();
    assert_eq!((shut[0].op, shut[0].flags), (OP_SHUTDOWN, SHUTDOWN_SEND));
    g.send_pkt(40000, 1234, OP_RW, b"reply", 0);
    let mut r = [0u8; 5];
    host.read_exact(&mut r).unwrap();
    assert_eq!(&r, b"reply");
    g.send_pkt(40000, 1234, OP_SHUTDOWN, &[], SHUTDOWN_SEND);
    assert_eq!(host.read(&mut r).unwrap(), 0, "host sees EOF");
    assert_eq!(g.received().last().map(|p| p.op), Some(OP_RST), "stream over: reset completes the close");

    // Nothing listens on 4321.
    g.send_pkt(40001, 4321, OP_REQUEST, &[], 0);
    let rst = g.received();
    assert_eq!((rst[0].op, rst[0].dst_port), (OP_RST, 40001));
}

#[test]
fn host_data_waits_for_guest_credit() {
    let mem = guest_memory();
    let dir = tempfile::tempdir().unwrap();
    let mut g = Guest::new(&mem, &dir);
    g.activate();
    g.post_rx_buffers(32);
    let listener = UnixListener::bind(dir.path().join("v.sock_7")).unwrap();
    let mut p = header(5, 7, OP_REQUEST, 0, 0, 1000, 0);
    p.truncate(PKT_HEADER_SIZE);
    g.send(&p);
    g.received();
    let (mut host, _) = listener.accept().unwrap();
    host.write_all(&[9u8; 5000]).unwrap();
    let got: usize = g.received().iter().map(|p| p.data.len()).sum();
    assert_eq!(got, 1000, "only the advertised 1000 bytes");
    // The guest consumed them and says so.
    g.send(&header(5, 7, OP_CREDIT_UPDATE, 0, 0, 1000, 1000));
    let got: usize = g.received().iter().filter(|p| p.op == OP_RW).map(|p| p.data.len()).sum();
    assert_eq!(got, 1000);
}

#[test]
fn malformed_packets_fail_alone() {
    let mem = guest_memory();
    let dir = tempfile::tempdir().unwrap();
    let mut g = Guest::new(&mem, &dir);
    g.activate();
    g.post_rx_buffers(16);
    let listener = UnixListener::bind(dir.path().join("v.sock_99")).unwrap();

    // Header shorter than 44 bytes: dropped.
    g.send(&[0u8; 20]);
    // Payload length beyond the limit: dropped.
    g.send(&header(1, 99, OP_RW, MAX_PKT_DATA + 1, 0, 0, 0));
    // Length claims more data than the buffer holds: dropped.
    g.send(&header(1, 99, OP_RW, 4096, 0, 0, 0));
    // Spoofed source CID: dropped silently.
    let mut spoof = header(1, 99, OP_REQUEST, 0, 0, 0, 0);
    spoof[0] = 9;
    g.send(&spoof);
    // Datagram type: reset.
    let mut dgram = header(2, 99, OP_REQUEST, 0, 0, 0, 0);
    dgram[28] = 2;
    g.send(&dgram);
    // Data for a stream that does not exist: reset.
    g.send_pkt(3, 99, OP_RW, b"x", 0);
    // A write-only tx buffer: dropped.
    g.txq.add_chain(&[(TX_BUF, 64, WO)]);
    g.dev.lock().unwrap().queue_evts[TXQ].write(1).unwrap();
    g.run();
    let got = g.received();
    assert_eq!(got.iter().map(|p| (p.op, p.dst_port)).collect::<Vec<_>>(), vec![(OP_RST, 2), (OP_RST, 3)]);
    assert!(g.txq.used().iter().all(|&(_, len)| len == 0));

    // An rx buffer the device may not write is skipped, not fatal.
    g.rxq.add_chain(&[(RX_BUF + 0x100_0000, RX_LEN, RO)]);
    g.rx_posted.push(RX_BUF + 0x100_0000);
    // After all that, a good connection still works.
    g.send_pkt(4, 99, OP_REQUEST, &[], 0);
    let (mut host, _) = listener.accept().unwrap();
    g.send_pkt(4, 99, OP_RW, b"still fine", 0);
    let mut b = [0u8; 10];
    host.read_exact(&mut b).unwrap();
    assert_eq!(&b, b"still fine");
}

#[test]
fn credit_overrun_resets_the_stream() {
    let mem = guest_memory();
    let dir = tempfile::tempdir().unwrap();
    let mut g = Guest::new(&mem, &dir);
    g.activate();
    g.post_rx_buffers(8);
    let listener = UnixListener::bind(dir.path().join("v.sock_5")).unwrap();
    g.send_pkt(6, 5, OP_REQUEST, &[], 0);
    let (_host, _) = listener.accept().unwrap();
    g.received();
    // The host never reads; the guest ignores its credit.
    let chunk = vec![0u8; 60 * 1024];
    let mut reset = false;
    for _ in 0..60 {
        g.send_pkt(6, 5, OP_RW, &chunk, 0);
        if g.received().iter().any(|p| p.op == OP_RST) {
            reset = true;
            break;
        }
    }
    assert!(reset, "a guest sending past its credit gets a reset");
}

/// A guest that keeps tx full gets WAKEUP_BUDGET chains a wakeup: the
/// device thread goes back to its event loop (and its other devices) and
/// finishes the rest on its next turn, kicked by itself. Before the
/// budget, one wakeup drained all 100.
#[test]
fn a_full_tx_queue_is_drained_a_budget_at_a_time() {
    let mem = guest_memory();
    let dir = tempfile::tempdir().unwrap();
    let mut g = Guest::new(&mem, &dir);
    g.activate();
    g.run();
    for i in 0..100u64 {
        // Data for a stream that does not exist: each earns an RST, which
        // waits for rx buffers the guest has not posted.
        let p = header(1000 + i as u32, 99, OP_RW, 0, 0, 0, 0);
        let addr = TX_BUF + i * 0x1000;
        put(g.mem, addr, &p);
        g.txq.add_chain(&[(addr, p.len() as u32, RO)]);
    }
    g.dev.lock().unwrap().queue_evts[TXQ].write(1).unwrap();
    g.em.run_with_timeout(20).unwrap();
    assert_eq!(g.txq.used().len(), WAKEUP_BUDGET, "one wakeup takes one budget");
    g.em.run_with_timeout(20).unwrap();
    assert_eq!(g.txq.used().len(), 100, "the next turn, kicked by the device itself, takes the rest");
}

/// A guest connecting to a host listener that does not accept (backlog
/// full) gets a reset at once; before, the device thread blocked in
/// connect(2) until the host accepted, and every device with it.
#[test]
fn a_host_listener_with_a_full_backlog_resets_the_guest_without_blocking() {
    let mem = guest_memory();
    let dir = tempfile::tempdir().unwrap();
    let mut g = Guest::new(&mem, &dir);
    g.activate();
    g.post_rx_buffers(16);
    let path = dir.path().join("v.sock_99");
    let _listener = UnixListener::bind(&path).unwrap();
    let mut held = Vec::new();
    while let Ok(s) = super::super::unix_connect::connect_nonblocking(&path) {
        held.push(s);
        assert!(held.len() < 100_000);
    }
    g.send_pkt(5, 99, OP_REQUEST, &[], 0);
    let got = g.received();
    assert_eq!(got.iter().map(|p| (p.op, p.dst_port)).collect::<Vec<_>>(), vec![(OP_RST, 5)]);
}

#[test]
fn config_space_holds_the_cid() {
    let dir = tempfile::tempdir().unwrap();
    let dev = VsockDevice::new(42, &dir.path().join("v.sock")).unwrap();
    let mut b = [0u8; 8];
    dev.read_config(0, &mut b);
    assert_eq!(u64::from_le_bytes(b), 42);
    let mut hi = [0u8; 4];
    dev.read_config(4, &mut hi);
    assert_eq!(hi, [0; 4]);
}

#[test]
fn survives_garbage_queues_and_packets() {
    let mut rng = XorShift(0x5eed_0004);
    let dir = tempfile::tempdir().unwrap();
    let listener = UnixListener::bind(dir.path().join("v.sock_99")).unwrap();
    listener.set_nonblocking(true).unwrap();
    for round in 0..60 {
        let mem = guest_memory();
        let mut g = Guest::new(&mem, &dir);
        g.activate();
        // Plausible headers with random ops, ports, lengths and flags.
        for i in 0..8u64 {
            let mut h = header(
                rng.below(4) as u32,
                if rng.below(2) == 0 { 99 } else { rng.next_u64() as u32 },
                rng.below(9) as u16,
                rng.length(),
                rng.next_u64() as u32,
                rng.next_u64() as u32,
                rng.next_u64() as u32,
            );
            if rng.below(4) == 0 {
                h[28] = rng.next_u64() as u8;
            }
            h.resize(h.len() + rng.below(256) as usize, 0xa5);
            put(&mem, TX_BUF + i * 0x1_1000, &h);
        }
        scribble(&mem, &mut rng, RX_BUF, 64 * 1024);
        g.txq.scramble(&mut rng);
        g.rxq.scramble(&mut rng);
        // Some descriptors point at the plausible packets.
        for i in 0..4u64 {
            g.txq.add_chain(&[(TX_BUF + i * 0x1_1000, 44 + rng.below(300) as u32, RO)]);
        }
        if round % 5 == 0 {
            let mut host = UnixStream::connect(dir.path().join("v.sock")).unwrap();
            let _ = host.write_all(b"CONNECT 77\n");
        }
        for q in [RXQ, TXQ] {
            g.dev.lock().unwrap().queue_evts[q].write(1).unwrap();
        }
        g.run();
        while let Ok((s, _)) = listener.accept() {
            drop(s);
        }
    }
    // After all that, the socket still accepts and a clean guest still works.
    let mem = guest_memory();
    let mut g = Guest::new(&mem, &dir);
    g.activate();
    g.post_rx_buffers(8);
    let mut host = UnixStream::connect(dir.path().join("v.sock")).unwrap();
    host.write_all(b"CONNECT 8\n").unwrap();
    assert_eq!(g.received()[0].op, OP_REQUEST);
}

/// A client that writes `CONNECT <port>\n` and its first bytes in one
/// write (as `socat` and most HTTP clients do) must see those bytes reach
/// the guest once the guest accepts, before and in order with later ones.
#[test]
fn bytes_after_the_connect_line_reach_the_guest() {
    let mem = guest_memory();
    let dir = tempfile::tempdir().unwrap();
    let mut g = Guest::new(&mem, &dir);
    g.activate();
    g.post_rx_buffers(16);
    let mut host = UnixStream::connect(dir.path().join("v.sock")).unwrap();
    host.write_all(b"CONNECT 52\nGET /_ping HTTP/1.1\r\n\r\n").unwrap();
    let req = g.received();
    assert_eq!(req.len(), 1, "{req:?}");
    assert_eq!(req[0].op, OP_REQUEST);
    let host_port = req[0].src_port;

    g.send_pkt(52, host_port, OP_RESPONSE, &[], 0);
    assert_eq!(read_line(&mut host), format!("OK {host_port}"));
    let rw = |g: &mut Guest| -> Vec<u8> {
        g.received().iter().filter(|p| p.op == OP_RW).flat_map(|p| p.data.clone()).collect()
    };
    // Nothing else is written: the early bytes must flow on their own.
    assert_eq!(rw(&mut g), b"GET /_ping HTTP/1.1\r\n\r\n");
    host.write_all(b"more").unwrap();
    assert_eq!(rw(&mut g), b"more");
}
