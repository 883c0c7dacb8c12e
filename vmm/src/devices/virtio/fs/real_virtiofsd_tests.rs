//! The virtio-fs device against a real virtiofsd (the one `cargo xtask
//! images` installs, named by `BERTH_VIRTIOFSD` in images.env), with no
//! KVM: the test plays the guest's FUSE driver on the device's rings in
//! shared guest memory and checks that virtiofsd, driven through the
//! device's vhost-user session, answers FUSE_INIT and looks up a file of
//! the shared folder; then kills virtiofsd with SIGKILL and checks that
//! the next request is answered with EIO by the device itself.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use event_manager::{EventManager, SubscriberOps};
use vm_memory::GuestMemoryMmap;

use super::FsDevice;
use crate::devices::virtio::VirtioDevice;
use crate::devices::virtio::test_utils::*;
use crate::vstate::memory::{Backing, create_guest_memory};

const FUSE_LOOKUP: u32 = 1;
const FUSE_INIT: u32 = 26;
const IN_HEADER: u32 = 40;
const REQUEST_QUEUE: usize = 1;

/// virtiofsd, killed when the test ends however it ends.
struct Virtiofsd(Child);

impl Drop for Virtiofsd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `BERTH_VIRTIOFSD`, else the manifest `cargo xtask images` writes.
fn virtiofsd_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("BERTH_VIRTIOFSD") {
        return p.into();
    }
    let cache = std::env::var_os("BERTH_CACHE_DIR").map(PathBuf::from).unwrap_or_else(|| {
        std::env::var_os("XDG_CACHE_HOME").map(|d| PathBuf::from(d).join("berth")).unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/root".into())).join(".cache/berth")
        })
    });
    let manifest = std::fs::read_to_string(cache.join("images.env")).unwrap_or_default();
    manifest
        .lines()
        .find_map(|l| l.strip_prefix("BERTH_VIRTIOFSD="))
        .map(PathBuf::from)
        .expect("no virtiofsd: run `cargo xtask images` (it installs one) or set BERTH_VIRTIOFSD")
}

fn header(opcode: u32, unique: u64, nodeid: u64, body: u32) -> Vec<u8> {
    let mut h = vec![0u8; IN_HEADER as usize];
    h[0..4].copy_from_slice(&(IN_HEADER + body).to_le_bytes());
    h[4..8].copy_from_slice(&opcode.to_le_bytes());
    h[8..16].copy_from_slice(&unique.to_le_bytes());
    h[16..24].copy_from_slice(&nodeid.to_le_bytes());
    h
}

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

/// Runs the device thread's loop until ring `q` has `want` used entries.
fn wait_used(manager: &mut EventManager<Arc<Mutex<FsDevice>>>, dq: &DriverQueue<'_>, want: usize) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while dq.used().len() < want {
        assert!(Instant::now() < deadline, "no reply within 20 s (used: {:?})", dq.used());
        manager.run_with_timeout(50).unwrap();
    }
}

#[test]
fn virtiofsd_serves_the_rings_and_its_death_fails_requests_with_eio() {
    let dir = tempfile::tempdir().unwrap();
    let share = dir.path().join("share");
    std::fs::create_dir(&share).unwrap();
    std::fs::write(share.join("hello"), b"twelve bytes").unwrap();
    let socket = dir.path().join("fs.sock");
    let mut child = Virtiofsd(
        Command::new(virtiofsd_binary())
            .arg("--shared-dir")
            .arg(&share)
            .arg("--socket-path")
            .arg(&socket)
            .args(["--sandbox", "none", "--log-level", "error"])
            .stdin(Stdio::null())
            .spawn()
            .expect("start virtiofsd"),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while !socket.exists() {
        assert!(Instant::now() < deadline, "virtiofsd made no socket");
        std::thread::sleep(Duration::from_millis(20));
    }

    let ram = create_guest_memory(32, Backing::Shared).unwrap();
    let mem: Arc<GuestMemoryMmap> = ram.memory().clone();
    let device = Arc::new(Mutex::new(FsDevice::connect("share", &socket, 64, ram.shared_regions()).unwrap()));
    let mut manager: EventManager<Arc<Mutex<FsDevice>>> = EventManager::new().unwrap();
    manager.add_subscriber(device.clone());

    let hiprio = DriverQueue::new(&mem, 0, 16);
    let mut requests = DriverQueue::new(&mem, 0x8000, 16);
    // FUSE_INIT: fuse_init_in (major 7, minor 31, readahead, flags).
    let mut init = header(FUSE_INIT, 1, 0, 16);
    init.extend_from_slice(&[7, 0, 0, 0, 31, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0]);
    put(&mem, BUF_BASE, &init);
    requests.add_chain(&[(BUF_BASE, init.len() as u32, RO), (BUF_BASE + 0x1000, 16 + 64, WO)]);
    // LOOKUP "hello" under the root (node 1): fuse_entry_out with its attr.
    let mut lookup = header(FUSE_LOOKUP, 2, 1, 6);
    lookup.extend_from_slice(b"hello\0");
    put(&mem, BUF_BASE + 0x2000, &lookup);
    requests.add_chain(&[(BUF_BASE + 0x2000, lookup.len() as u32, RO), (BUF_BASE + 0x3000, 16 + 128, WO)]);

    let act = activation(&mem, vec![hiprio.queue(), requests.queue()], crate::devices::virtio::VIRTIO_F_VERSION_1);
    let irq = act.interrupt.clone();
    device.lock().unwrap().activate(act).unwrap();
    // The driver's notification, as KVM's ioeventfd would deliver it.
    device.lock().unwrap().queue_events()[REQUEST_QUEUE].write(1).unwrap();
    wait_used(&mut manager, &requests, 2);

    let init_reply = get(&mem, BUF_BASE + 0x1000, 24);
    assert_eq!(le32(&init_reply, 4), 0, "FUSE_INIT error");
    assert_eq!(le32(&init_reply, 16), 7, "FUSE major version");
    let entry = get(&mem, BUF_BASE + 0x3000, 16 + 128);
    assert_eq!(le32(&entry, 4), 0, "LOOKUP error");
    // fuse_entry_out: nodeid, generation, entry/attr valid (+nsec), then
    // fuse_attr: ino, size.
    let size = u64::from_le_bytes(entry[16 + 40 + 8..16 + 40 + 16].try_into().unwrap());
    assert_eq!(size, 12, "size of hello as virtiofsd saw it");
    // virtiofsd signals the call eventfd after it fills the used ring.
    let deadline = Instant::now() + Duration::from_secs(5);
    while irq.status() == 0 && Instant::now() < deadline {
        manager.run_with_timeout(50).unwrap();
    }
    assert_ne!(irq.status(), 0, "the used-buffer signals were relayed to the interrupt");

    // virtiofsd dies; the device notices the closed session and answers
    // from now on.
    child.0.kill().unwrap();
    child.0.wait().unwrap();
    let mut again = header(FUSE_LOOKUP, 3, 1, 6);
    again.extend_from_slice(b"hello\0");
    put(&mem, BUF_BASE + 0x4000, &again);
    requests.add_chain(&[(BUF_BASE + 0x4000, again.len() as u32, RO), (BUF_BASE + 0x5000, 16 + 128, WO)]);
    // Let the loop see the hang-up first, then notify.
    for _ in 0..10 {
        manager.run_with_timeout(20).unwrap();
    }
    device.lock().unwrap().queue_events()[REQUEST_QUEUE].write(1).unwrap();
    wait_used(&mut manager, &requests, 3);
    let reply = get(&mem, BUF_BASE + 0x5000, 16);
    assert_eq!(i32::from_le_bytes(reply[4..8].try_into().unwrap()), -libc::EIO);
    assert_eq!(u64::from_le_bytes(reply[8..16].try_into().unwrap()), 3);
}
