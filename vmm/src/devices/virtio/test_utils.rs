//! An in-memory guest for device tests: guest RAM, a driver-side split
//! queue (virtio-queue's `MockSplitQueue`) to post descriptor chains on,
//! and readers for the used ring. No KVM involved.

use std::sync::Arc;

use virtio_bindings::virtio_ring::{VRING_DESC_F_NEXT, VRING_DESC_F_WRITE};
use virtio_queue::Queue;
use virtio_queue::desc::RawDescriptor;
use virtio_queue::desc::split::Descriptor as SplitDescriptor;
use virtio_queue::mock::MockSplitQueue;
use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};

use super::{Activation, VirtioInterrupt};
use crate::devices::irq::IrqLine;

/// 16 MiB of guest RAM at 0: queues live in the first pages, buffers from
/// [`BUF_BASE`] up.
pub const GUEST_MEM_SIZE: usize = 16 << 20;
pub const BUF_BASE: u64 = 0x10_0000;

/// Device-readable (driver → device) buffer.
pub const RO: u16 = 0;
/// Device-writable (device → driver) buffer.
pub const WO: u16 = VRING_DESC_F_WRITE as u16;

pub fn guest_memory() -> Arc<GuestMemoryMmap> {
    Arc::new(GuestMemoryMmap::from_ranges(&[(GuestAddress(0), GUEST_MEM_SIZE)]).unwrap())
}

/// A driver-side view of one queue, placed at `base` in guest memory.
pub struct DriverQueue<'a> {
    mock: MockSplitQueue<'a, GuestMemoryMmap>,
    mem: &'a GuestMemoryMmap,
    next_desc: u16,
    size: u16,
}

impl<'a> DriverQueue<'a> {
    pub fn new(mem: &'a GuestMemoryMmap, base: u64, size: u16) -> Self {
        DriverQueue { mock: MockSplitQueue::create(mem, GuestAddress(base), size), mem, next_desc: 0, size }
    }

    /// The device-side `Queue` for this ring.
    pub fn queue(&self) -> Queue {
        self.mock.create_queue().unwrap()
    }

    /// Posts one chain of `(addr, len, flags)` buffers; returns its head.
    pub fn add_chain(&mut self, bufs: &[(u64, u32, u16)]) -> u16 {
        let head = self.next_desc;
        let descs: Vec<RawDescriptor> = bufs
            .iter()
            .enumerate()
            .map(|(i, &(addr, len, flags))| {
                let index = (head + i as u16) % self.size;
                let last = i + 1 == bufs.len();
                let flags = if last { flags } else { flags | VRING_DESC_F_NEXT as u16 };
                let next = if last { 0 } else { (index + 1) % self.size };
                RawDescriptor::from(SplitDescriptor::new(addr, len, flags, next))
            })
            .collect();
        self.mock.add_desc_chains(&descs, head).unwrap();
        self.next_desc = (head + bufs.len() as u16) % self.size;
        head
    }

    /// Posts a raw descriptor table slice as given (for malformed chains):
    /// flags and `next` are not touched.
    pub fn add_raw(&mut self, descs: &[SplitDescriptor]) -> u16 {
        let head = self.next_desc;
        let raw: Vec<RawDescriptor> = descs.iter().map(|d| RawDescriptor::from(*d)).collect();
        self.mock.add_desc_chains(&raw, head).unwrap();
        self.next_desc = (head + descs.len() as u16) % self.size;
        head
    }

    /// The used ring's entries so far, as (head, len).
    pub fn used(&self) -> Vec<(u32, u32)> {
        let idx = self.mock.used().idx().load();
        (0..idx)
            .map(|i| {
                let e = self.mock.used().ring().ref_at((i % self.size) as usize).unwrap().load();
                (e.id(), e.len())
            })
            .collect()
    }

    /// Overwrites the available ring's index (to fake a broken driver).
    pub fn set_avail_idx(&self, idx: u16) {
        self.mem.write_obj(idx, GuestAddress(self.mock.avail_addr().0 + 2)).unwrap();
    }
}

/// A small deterministic generator for hostile-guest tests: the same seed
/// gives the same garbage, so a failure can be replayed.
pub struct XorShift(pub u64);

impl XorShift {
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// An address a hostile driver might use: inside the buffers, straddling
    /// the end of memory, past it, or anything at all.
    pub fn address(&mut self) -> u64 {
        match self.below(4) {
            0 | 1 => BUF_BASE + self.below(8 << 20),
            2 => GUEST_MEM_SIZE as u64 - self.below(4096),
            _ => self.next_u64(),
        }
    }

    pub fn length(&mut self) -> u32 {
        match self.below(4) {
            0 => self.below(64) as u32,
            1 => self.below(70_000) as u32,
            2 => 44 + self.below(512) as u32,
            _ => self.next_u64() as u32,
        }
    }
}

impl DriverQueue<'_> {
    /// Overwrites the descriptor table and available ring with garbage:
    /// random addresses, lengths, flags (NEXT, WRITE, INDIRECT) and `next`
    /// links, random ring entries and a random available index.
    pub fn scramble(&mut self, rng: &mut XorShift) {
        let table = self.mock.desc_table_addr().0;
        for i in 0..u64::from(self.size) {
            let flags = rng.below(8) as u16;
            let next = rng.below(u64::from(self.size) + 2) as u16;
            let d = SplitDescriptor::new(rng.address(), rng.length(), flags, next);
            self.mem.write_obj(RawDescriptor::from(d), GuestAddress(table + 16 * i)).unwrap();
        }
        let avail = self.mock.avail_addr().0;
        let used_idx = self.mock.used().idx().load();
        let new_idx = used_idx.wrapping_add(rng.below(u64::from(self.size) * 2) as u16);
        for i in 0..u64::from(self.size) {
            let entry = rng.below(u64::from(self.size) + 1) as u16;
            self.mem.write_obj(entry, GuestAddress(avail + 4 + 2 * i)).unwrap();
        }
        self.mem.write_obj(new_idx, GuestAddress(avail + 2)).unwrap();
    }
}

/// Fills `[addr, addr + len)` with garbage.
pub fn scribble(mem: &GuestMemoryMmap, rng: &mut XorShift, addr: u64, len: usize) {
    let bytes: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
    put(mem, addr, &bytes);
}

/// An activation for `queues` on `mem`, with a fresh interrupt line.
pub fn activation(mem: &Arc<GuestMemoryMmap>, queues: Vec<Queue>, features: u64) -> Activation {
    Activation {
        mem: mem.clone(),
        queues,
        acked_features: features,
        interrupt: Arc::new(VirtioInterrupt::new(IrqLine::new(5).unwrap())),
    }
}

/// Writes `bytes` at `addr`.
pub fn put(mem: &GuestMemoryMmap, addr: u64, bytes: &[u8]) {
    mem.write_slice(bytes, GuestAddress(addr)).unwrap();
}

/// Reads `len` bytes at `addr`.
pub fn get(mem: &GuestMemoryMmap, addr: u64, len: usize) -> Vec<u8> {
    let mut v = vec![0u8; len];
    mem.read_slice(&mut v, GuestAddress(addr)).unwrap();
    v
}
