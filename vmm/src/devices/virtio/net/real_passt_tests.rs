//! The passt backend against a real passt (Debian's `passt`, which
//! `.ci/install-deps` installs), with no KVM: the test plays the guest's
//! driver on the virtio-net device's queues and the guest's network stack by
//! hand (ARP, then a TCP connection to the gateway address, which passt
//! maps to the host's loopback), and checks that passt turned the guest's
//! connection into an ordinary host socket carrying data both ways.
//!
//! The unit tests in `passt.rs` pin the framing against a socket pair; this
//! one is what shows the framing is the one passt speaks.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use event_manager::{EventManager, SubscriberOps};

use super::device::NetDevice;
use super::passt::Passt;
use super::tap::VNET_HDR_LEN;
use crate::devices::virtio::VirtioDevice;
use crate::devices::virtio::test_utils::*;

const GUEST_MAC: [u8; 6] = [2, 0, 0, 0, 0, 7];
const GUEST_IP: [u8; 4] = [10, 0, 3, 1];
const GATEWAY_IP: [u8; 4] = [10, 0, 3, 254];
const GUEST_PORT: u16 = 40_000;
const ETH_ARP: u16 = 0x0806;
const ETH_IPV4: u16 = 0x0800;
const TCP_SYN: u8 = 0x02;
const TCP_PSH_ACK: u8 = 0x18;
const TCP_ACK: u8 = 0x10;
const QUEUE: u16 = 128;
/// Receive buffers posted: plenty for this exchange, and under half the
/// queue: virtio-queue's mock places the used ring `len` bytes after the
/// avail ring's start (not `2 * len`), so more would overlap it.
const RX_BUFFERS: u64 = 48;
const TXQ: usize = 1;
const RX_BASE: u64 = BUF_BASE + 0x10_0000;
const RX_BUF: u32 = 4096;

/// passt, killed when the test ends however it ends.
struct PasstProcess(Child);

impl Drop for PasstProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_passt(dir: &Path) -> (PasstProcess, UnixStream) {
    let socket = dir.join("passt.socket");
    let log = dir.join("passt.log");
    let child = Command::new("passt")
        .args(["--foreground", "--one-off", "--ipv4-only", "--quiet", "--socket"])
        .arg(&socket)
        .args(["--address", "10.0.3.1", "--netmask", "24", "--gateway", "10.0.3.254"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start passt ({e}): apt-get install passt (.ci/install-deps does)"));
    let passt = PasstProcess(child);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match UnixStream::connect(&socket) {
            Ok(stream) => return (passt, stream),
            Err(e) if Instant::now() > deadline => panic!(
                "passt never listened on {}: {e}; its log:\n{}",
                socket.display(),
                std::fs::read_to_string(&log).unwrap_or_default()
            ),
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// The Internet checksum of `data`, starting from `sum`.
fn checksum(data: &[u8], mut sum: u32) -> u16 {
    for pair in data.chunks(2) {
        sum += u32::from(u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// A frame as the guest driver hands it to the device: the zeroed
/// virtio-net header, then Ethernet.
fn frame(dst: [u8; 6], ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0u8; VNET_HDR_LEN];
    f.extend_from_slice(&dst);
    f.extend_from_slice(&GUEST_MAC);
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

fn arp_request_for_gateway() -> Vec<u8> {
    let mut arp = vec![0, 1, 8, 0, 6, 4, 0, 1];
    arp.extend_from_slice(&GUEST_MAC);
    arp.extend_from_slice(&GUEST_IP);
    arp.extend_from_slice(&[0; 6]);
    arp.extend_from_slice(&GATEWAY_IP);
    frame([0xff; 6], ETH_ARP, &arp)
}

struct Segment<'a> {
    dst_port: u16,
    seq: u32,
    ack: u32,
    flags: u8,
    payload: &'a [u8],
}

/// An IPv4 TCP segment from the guest to the gateway address.
fn tcp_frame(gateway_mac: [u8; 6], s: &Segment) -> Vec<u8> {
    let mut tcp = Vec::with_capacity(20 + s.payload.len());
    tcp.extend_from_slice(&GUEST_PORT.to_be_bytes());
    tcp.extend_from_slice(&s.dst_port.to_be_bytes());
    tcp.extend_from_slice(&s.seq.to_be_bytes());
    tcp.extend_from_slice(&s.ack.to_be_bytes());
    tcp.extend_from_slice(&[5 << 4, s.flags, 0xff, 0xff, 0, 0, 0, 0]);
    tcp.extend_from_slice(s.payload);
    let mut pseudo = Vec::new();
    pseudo.extend_from_slice(&GUEST_IP);
    pseudo.extend_from_slice(&GATEWAY_IP);
    pseudo.extend_from_slice(&[0, 6]);
    pseudo.extend_from_slice(&(tcp.len() as u16).to_be_bytes());
    pseudo.extend_from_slice(&tcp);
    let sum = checksum(&pseudo, 0);
    tcp[16..18].copy_from_slice(&sum.to_be_bytes());
    let mut ip = vec![0x45, 0];
    ip.extend_from_slice(&((20 + tcp.len()) as u16).to_be_bytes());
    ip.extend_from_slice(&[0, 1, 0x40, 0, 64, 6, 0, 0]);
    ip.extend_from_slice(&GUEST_IP);
    ip.extend_from_slice(&GATEWAY_IP);
    let sum = checksum(&ip, 0);
    ip[10..12].copy_from_slice(&sum.to_be_bytes());
    ip.extend_from_slice(&tcp);
    frame(gateway_mac, ETH_IPV4, &ip)
}

/// What the guest cares about in a frame passt sent.
#[derive(Debug)]
enum Received {
    ArpReply { mac: [u8; 6], ip: [u8; 4] },
    Tcp { src_port: u16, seq: u32, ack: u32, flags: u8, payload: Vec<u8> },
    Other,
}

fn parse(rx: &[u8]) -> Received {
    let Some(eth) = rx.get(VNET_HDR_LEN..).filter(|e| e.len() >= 14) else {
        return Received::Other;
    };
    let body = &eth[14..];
    match u16::from_be_bytes([eth[12], eth[13]]) {
        ETH_ARP if body.len() >= 28 && body[7] == 2 => {
            Received::ArpReply { mac: body[8..14].try_into().unwrap(), ip: body[14..18].try_into().unwrap() }
        }
        ETH_IPV4 if body.len() >= 20 && body[9] == 6 => {
            let ihl = usize::from(body[0] & 0xf) * 4;
            let total = usize::from(u16::from_be_bytes([body[2], body[3]])).min(body.len());
            let tcp = &body[ihl..total];
            let offset = usize::from(tcp[12] >> 4) * 4;
            let word = |at: usize| u32::from_be_bytes(tcp[at..at + 4].try_into().unwrap());
            Received::Tcp {
                src_port: u16::from_be_bytes([tcp[0], tcp[1]]),
                seq: word(4),
                ack: word(8),
                flags: tcp[13],
                payload: tcp[offset..].to_vec(),
            }
        }
        _ => Received::Other,
    }
}

/// The guest side: the device in an event loop as the VMM runs it, its
/// memory and both queues, and which rx buffers came back already.
struct Guest<'a> {
    mem: &'a vm_memory::GuestMemoryMmap,
    dev: Arc<Mutex<NetDevice>>,
    events: EventManager<Arc<Mutex<NetDevice>>>,
    tx: DriverQueue<'a>,
    rx: DriverQueue<'a>,
    rx_addr: Vec<u64>,
    rx_seen: usize,
    tx_next: u64,
}

impl Guest<'_> {
    fn send(&mut self, frame: &[u8]) {
        put(self.mem, self.tx_next, frame);
        self.tx.add_chain(&[(self.tx_next, frame.len() as u32, RO)]);
        self.tx_next += 0x1000;
        self.dev.lock().unwrap().queue_events()[TXQ].write(1).unwrap();
        self.events.run_with_timeout(10).unwrap();
    }

    /// The next frame passt sends that `want` accepts, within 10 s.
    fn receive<T>(&mut self, what: &str, mut want: impl FnMut(Received) -> Option<T>) -> T {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            self.events.run_with_timeout(10).unwrap();
            let used = self.rx.used();
            while let Some(&(head, len)) = used.get(self.rx_seen) {
                self.rx_seen += 1;
                let bytes = get(self.mem, self.rx_addr[head as usize], len as usize);
                if let Some(found) = want(parse(&bytes)) {
                    return found;
                }
            }
            assert!(Instant::now() < deadline, "passt sent no {what} within 10 s");
        }
    }
}

#[test]
fn a_real_passt_carries_a_guest_tcp_connection_to_a_host_socket() {
    let dir = tempfile::tempdir().unwrap();
    // passt refuses to stay root (it becomes nobody) and creates its
    // socket after that, so the directory must let anyone create it.
    std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let (_passt, stream) = start_passt(dir.path());
    let mem = guest_memory();
    let dev = NetDevice::new(Box::new(Passt::from_stream(stream).unwrap()), Some(GUEST_MAC)).unwrap();
    let dev = Arc::new(Mutex::new(dev));
    let mut events = EventManager::new().unwrap();
    events.add_subscriber(dev.clone());
    let mut guest = Guest {
        mem: &mem,
        dev,
        events,
        rx: DriverQueue::new(&mem, 0, QUEUE),
        tx: DriverQueue::new(&mem, 0x8000, QUEUE),
        rx_addr: vec![0; usize::from(QUEUE)],
        rx_seen: 0,
        tx_next: BUF_BASE,
    };
    for i in 0..RX_BUFFERS {
        let addr = RX_BASE + i * u64::from(RX_BUF);
        let head = guest.rx.add_chain(&[(addr, RX_BUF, WO)]);
        guest.rx_addr[usize::from(head)] = addr;
    }
    let queues = vec![guest.rx.queue(), guest.tx.queue()];
    guest.dev.lock().unwrap().activate(activation(&mem, queues, 0)).unwrap();

    // A host server on loopback: it gets the guest's bytes and answers.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (done, heard) = mpsc::channel();
    std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut got = [0u8; 64];
        let n = conn.read(&mut got).unwrap();
        conn.write_all(b"pong-from-the-host").unwrap();
        done.send(got[..n].to_vec()).unwrap();
        std::thread::sleep(Duration::from_secs(2));
    });

    guest.send(&arp_request_for_gateway());
    let gateway_mac = guest.receive("ARP reply", |r| match r {
        Received::ArpReply { mac, ip } if ip == GATEWAY_IP => Some(mac),
        _ => None,
    });

    let isn = 1000;
    guest.send(&tcp_frame(gateway_mac, &Segment { dst_port: port, seq: isn, ack: 0, flags: TCP_SYN, payload: &[] }));
    let their_isn = guest.receive("SYN-ACK", |r| match r {
        Received::Tcp { src_port, ack, flags, seq, .. } if src_port == port && flags & 0x12 == 0x12 => {
            assert_eq!(ack, isn + 1, "SYN-ACK acknowledges the guest's SYN");
            Some(seq)
        }
        _ => None,
    });
    // The handshake's ACK on its own, as Linux sends it (passt takes the
    // segment that completes the handshake as that alone).
    let ack = Segment { dst_port: port, seq: isn + 1, ack: their_isn + 1, flags: TCP_ACK, payload: &[] };
    guest.send(&tcp_frame(gateway_mac, &ack));
    let hello = b"hello-through-passt";
    let data = Segment { dst_port: port, seq: isn + 1, ack: their_isn + 1, flags: TCP_PSH_ACK, payload: hello };
    guest.send(&tcp_frame(gateway_mac, &data));
    let at_host = heard.recv_timeout(Duration::from_secs(10)).expect("the host socket got no data");
    assert_eq!(at_host, hello, "the host socket got the guest's bytes");

    let reply = guest.receive("the host's reply", |r| match r {
        Received::Tcp { src_port, payload, .. } if src_port == port && !payload.is_empty() => Some(payload),
        _ => None,
    });
    assert_eq!(reply, b"pong-from-the-host");
    let ack = their_isn + 1 + reply.len() as u32;
    let seq = isn + 1 + hello.len() as u32;
    guest.send(&tcp_frame(gateway_mac, &Segment { dst_port: port, seq, ack, flags: TCP_ACK, payload: &[] }));
}
