//! The rings of a virtio-fs device whose backend is gone (virtiofsd
//! killed or crashed): the VMM takes them over and fails every request
//! with EIO, so the guest's file system calls on the share return an error
//! at once instead of waiting for ever on a reply that cannot come, and
//! the machine stays up.
//!
//! Owns only that: reading a request's FUSE header far enough to echo its
//! `unique`, and writing a FUSE reply header that carries the error. It
//! never interprets a request otherwise. Requests the backend had taken
//! but not answered are those between the used and the available index
//! (virtiofsd without a thread pool serves a ring in order), so those are
//! answered first.

use std::io::{Read, Write};
use std::num::Wrapping;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use virtio_queue::{DescriptorChain, Queue, QueueT};
use vm_memory::GuestMemoryMmap;

use crate::devices::virtio::VirtioInterrupt;

/// `EIO`, negated, as a FUSE reply's `error`.
const FUSE_EIO: i32 = -libc::EIO;
/// `struct fuse_in_header`: len, opcode, unique, nodeid, uid, gid, pid,
/// total_extlen, padding.
const IN_HEADER_LEN: usize = 40;
/// `struct fuse_out_header`: len, error, unique.
const OUT_HEADER_LEN: u32 = 16;

/// The rings after the backend left.
pub struct Orphaned {
    mem: Arc<GuestMemoryMmap>,
    queues: Vec<Queue>,
    interrupt: Arc<VirtioInterrupt>,
}

impl Orphaned {
    /// Takes over `queues` where the backend stopped: the next request to
    /// answer is the first one not yet in the used ring.
    pub fn take_over(
        mem: Arc<GuestMemoryMmap>,
        mut queues: Vec<Queue>,
        event_idx: bool,
        interrupt: Arc<VirtioInterrupt>,
    ) -> Self {
        for q in &mut queues {
            if !q.ready() {
                continue;
            }
            let used = q.used_idx(mem.as_ref(), Ordering::Acquire).unwrap_or(Wrapping(0)).0;
            q.set_next_avail(used);
            q.set_next_used(used);
            q.set_event_idx(event_idx);
        }
        Orphaned { mem, queues, interrupt }
    }

    /// Fails every request waiting on any ring.
    pub fn answer_all(&mut self) {
        let mut used_any = false;
        for q in &mut self.queues {
            if q.ready() {
                used_any |= answer_ring(&self.mem, q);
            }
        }
        if used_any {
            self.interrupt.signal_used_queue();
        }
    }
}

/// Fails the requests on one ring; true if any was returned.
fn answer_ring(mem: &GuestMemoryMmap, q: &mut Queue) -> bool {
    let mut used_any = false;
    loop {
        if q.disable_notification(mem).is_err() {
            return used_any;
        }
        while let Some(chain) = q.pop_descriptor_chain(mem) {
            let head = chain.head_index();
            let len = fail_request(mem, chain);
            if let Err(e) = q.add_used(mem, head, len) {
                crate::devices::guest_fault::report("virtio-fs: cannot return a request", &e);
                return used_any;
            }
            used_any = true;
        }
        // Re-arms notifications (EVENT_IDX: the avail event) and says
        // whether more arrived meanwhile.
        match q.enable_notification(mem) {
            Ok(true) => continue,
            _ => return used_any,
        }
    }
}

/// Writes an EIO reply for one request if it has room for one (a FORGET
/// has none and needs none); returns the bytes written.
fn fail_request(mem: &GuestMemoryMmap, chain: DescriptorChain<&GuestMemoryMmap>) -> u32 {
    let mut header = [0u8; IN_HEADER_LEN];
    let read = chain.clone().reader(mem).map(|mut r| r.read_exact(&mut header));
    if !matches!(read, Ok(Ok(()))) {
        crate::devices::guest_fault::report("virtio-fs: request without a FUSE header", &chain.head_index());
        return 0;
    }
    let unique = u64::from_le_bytes(header[8..16].try_into().expect("8 bytes"));
    let Ok(mut writer) = chain.writer(mem) else {
        return 0;
    };
    if writer.available_bytes() < OUT_HEADER_LEN as usize {
        return 0;
    }
    let mut reply = [0u8; OUT_HEADER_LEN as usize];
    reply[0..4].copy_from_slice(&OUT_HEADER_LEN.to_le_bytes());
    reply[4..8].copy_from_slice(&FUSE_EIO.to_le_bytes());
    reply[8..16].copy_from_slice(&unique.to_le_bytes());
    match writer.write_all(&reply) {
        Ok(()) => OUT_HEADER_LEN,
        Err(e) => {
            crate::devices::guest_fault::report("virtio-fs: cannot write a reply", &e);
            0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::devices::virtio::test_utils::*;

    fn in_header(unique: u64, opcode: u32) -> Vec<u8> {
        let mut h = vec![0u8; IN_HEADER_LEN];
        h[0..4].copy_from_slice(&(IN_HEADER_LEN as u32).to_le_bytes());
        h[4..8].copy_from_slice(&opcode.to_le_bytes());
        h[8..16].copy_from_slice(&unique.to_le_bytes());
        h
    }

    /// A LOOKUP with room for a reply gets EIO with its own `unique`; a
    /// FORGET (no writable part) is returned with nothing written; a chain
    /// too short for a header is returned too, and the ring goes on.
    #[test]
    fn every_request_fails_with_eio_and_its_unique() {
        let mem = guest_memory();
        let mut dq = DriverQueue::new(&mem, 0, 16);
        put(&mem, BUF_BASE, &in_header(0x77, 1));
        let lookup = dq.add_chain(&[(BUF_BASE, IN_HEADER_LEN as u32, RO), (BUF_BASE + 0x1000, 144, WO)]);
        put(&mem, BUF_BASE + 0x2000, &in_header(0x78, 2));
        let forget = dq.add_chain(&[(BUF_BASE + 0x2000, IN_HEADER_LEN as u32 + 8, RO)]);
        let short = dq.add_chain(&[(BUF_BASE + 0x3000, 8, RO), (BUF_BASE + 0x4000, 16, WO)]);
        let act = activation(&mem, vec![dq.queue()], 0);
        let irq = act.interrupt.clone();
        let mut o = Orphaned::take_over(act.mem.clone(), act.queues, false, irq.clone());
        o.answer_all();
        assert_eq!(dq.used(), vec![(lookup as u32, 16), (forget as u32, 0), (short as u32, 0)]);
        let reply = get(&mem, BUF_BASE + 0x1000, 16);
        assert_eq!(u32::from_le_bytes(reply[0..4].try_into().unwrap()), 16);
        assert_eq!(i32::from_le_bytes(reply[4..8].try_into().unwrap()), -libc::EIO);
        assert_eq!(u64::from_le_bytes(reply[8..16].try_into().unwrap()), 0x77);
        assert_eq!(irq.status(), 1);
    }

    /// Requests the backend answered before it died are not answered
    /// again: the take-over starts at the used index.
    #[test]
    fn takes_over_after_what_the_backend_answered() {
        let mem = guest_memory();
        let mut dq = DriverQueue::new(&mem, 0, 16);
        for i in 0..3u64 {
            put(&mem, BUF_BASE + i * 0x1000, &in_header(i, 1));
            dq.add_chain(&[(BUF_BASE + i * 0x1000, IN_HEADER_LEN as u32, RO), (BUF_BASE + 0x8000 + i * 0x100, 16, WO)]);
        }
        // The backend answered the first request.
        let act = activation(&mem, vec![dq.queue()], 0);
        let mut q = act.queues.into_iter().next().unwrap();
        let first = q.pop_descriptor_chain(mem.as_ref()).unwrap().head_index();
        q.add_used(mem.as_ref(), first, 16).unwrap();
        let fresh = activation(&mem, vec![dq.queue()], 0);
        let mut o = Orphaned::take_over(fresh.mem.clone(), fresh.queues, false, fresh.interrupt.clone());
        o.answer_all();
        let used = dq.used();
        assert_eq!(used.len(), 3, "{used:?}");
        assert_eq!(used[0].0, u32::from(first));
        let uniques: Vec<u64> = (1..3u64)
            .map(|i| u64::from_le_bytes(get(&mem, BUF_BASE + 0x8000 + i * 0x100 + 8, 8).try_into().unwrap()))
            .collect();
        assert_eq!(uniques, vec![1, 2]);
    }
}
