//! The vsock packet path: the guest's tx queue (headers, ports, ops,
//! lengths, credit fields, chain shapes) into the muxer, and the muxer's
//! answers into the guest's rx queue, through the device's event loop as
//! it runs in the VMM. Host sockets are real: a listener at
//! `<uds>_1024` accepts what the guest connects to. The device must never
//! panic and must keep serving the next input.

#![no_main]

#[path = "guest.rs"]
mod guest;

use std::cell::RefCell;
use std::os::unix::net::UnixListener;
use std::sync::{Arc, Mutex};

use berth_vmm::devices::virtio::VirtioDevice;
use berth_vmm::devices::virtio::vsock::VsockDevice;
use event_manager::{EventManager, SubscriberOps};
use libfuzzer_sys::fuzz_target;

struct Harness {
    _dir: tempfile::TempDir,
    listener: UnixListener,
    dev: Arc<Mutex<VsockDevice>>,
    em: EventManager<Arc<Mutex<VsockDevice>>>,
}

fn harness() -> Harness {
    let dir = tempfile::tempdir().expect("temp dir");
    let uds = dir.path().join("v.sock");
    let listener = UnixListener::bind(dir.path().join("v.sock_1024")).expect("listener");
    listener.set_nonblocking(true).expect("nonblocking");
    let dev = Arc::new(Mutex::new(VsockDevice::new(3, &uds).expect("vsock device")));
    let mut em = EventManager::new().expect("epoll");
    em.add_subscriber(dev.clone());
    Harness { _dir: dir, listener, dev, em }
}

thread_local! {
    static HARNESS: RefCell<Harness> = RefCell::new(harness());
}

fuzz_target!(|input: &[u8]| {
    HARNESS.with_borrow_mut(|h| {
        let (mem, queues) = guest::guest(input, 3);
        {
            let mut dev = h.dev.lock().expect("not poisoned");
            dev.activate(guest::activation(mem, queues)).expect("three queues");
            for evt in &dev.queue_events()[..2] {
                evt.write(1).expect("kick");
            }
        }
        for _ in 0..3 {
            h.em.run_with_timeout(0).expect("event loop");
        }
        while let Ok((s, _)) = h.listener.accept() {
            drop(s);
        }
        h.dev.lock().expect("not poisoned").reset();
        // Streams the reset dropped leave their epoll entries to remove.
        h.em.run_with_timeout(0).expect("event loop");
    });
});
