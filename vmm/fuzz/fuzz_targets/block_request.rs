//! virtio-blk request parsing and execution against a real (temporary)
//! image: the input is guest RAM and the avail ring, so every header,
//! sector, length, direction and chain shape is the fuzzer's. The device
//! must answer or refuse each request and never panic; a read-only disk
//! must never change.

#![no_main]

#[path = "guest.rs"]
mod guest;

use std::path::PathBuf;
use std::sync::OnceLock;

use berth_vmm::devices::virtio::VirtioDevice;
use berth_vmm::devices::virtio::block::BlockDevice;
use libfuzzer_sys::fuzz_target;

const DISK_BYTES: usize = 64 * 512;

fn images() -> &'static (tempfile::TempDir, PathBuf, PathBuf) {
    static IMAGES: OnceLock<(tempfile::TempDir, PathBuf, PathBuf)> = OnceLock::new();
    IMAGES.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let rw = dir.path().join("rw.img");
        let ro = dir.path().join("ro.img");
        std::fs::write(&rw, vec![0u8; DISK_BYTES]).expect("image");
        std::fs::write(&ro, vec![0xa5u8; DISK_BYTES]).expect("image");
        (dir, rw, ro)
    })
}

fuzz_target!(|input: &[u8]| {
    let (_, rw, ro) = images();
    let read_only = input.first().is_some_and(|b| b & 0x80 != 0);
    let path = if read_only { ro } else { rw };
    let mut dev = BlockDevice::open(path, read_only).expect("open image");
    let (mem, queues) = guest::guest(input, 1);
    // Activation serves whatever the avail ring already offers.
    dev.activate(guest::activation(mem, queues)).expect("one queue");
    dev.reset();
    if read_only {
        let bytes = std::fs::read(ro).expect("read image");
        assert!(bytes.iter().all(|&b| b == 0xa5), "a read-only disk changed");
    }
});
