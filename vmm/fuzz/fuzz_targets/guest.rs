//! A guest the fuzzer writes: its input becomes guest RAM (descriptor
//! tables, packet headers, data), and the split rings are placed so that
//! the driver's `avail` ring offers the chains the input names. Shared by
//! the fuzz targets; nothing here trusts the input.

use std::sync::Arc;

use berth_vmm::devices::irq::IrqLine;
use berth_vmm::devices::virtio::{Activation, VirtioInterrupt};
use virtio_queue::{Queue, QueueT};
use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};

/// Guest RAM: 1 MiB, small enough to map per input.
pub const MEM_SIZE: usize = 1 << 20;
pub const QUEUE_SIZE: u16 = 16;
/// The input is copied here: descriptor tables of queue i at `i * 0x100`
/// (16 descriptors x 16 bytes), buffers anywhere after them.
const INPUT_AT: u64 = 0;
/// Rings the harness writes, above anything a short input covers.
const AVAIL_BASE: u64 = 0x8_0000;
const USED_BASE: u64 = 0x9_0000;
const RING_STRIDE: u64 = 0x1000;

/// Guest memory holding `input` and `queues` split rings whose avail rings
/// offer chains named by the first bytes of `input`: byte `q` says how
/// many chains queue `q` offers, the following ones which heads (indices
/// out of range included: the device must refuse them).
pub fn guest(input: &[u8], queues: usize) -> (Arc<GuestMemoryMmap>, Vec<Queue>) {
    let mem = GuestMemoryMmap::from_ranges(&[(GuestAddress(0), MEM_SIZE)]).expect("1 MiB of guest memory");
    let n = input.len().min(MEM_SIZE);
    mem.write_slice(&input[..n], GuestAddress(INPUT_AT)).expect("input fits");
    let byte = |i: usize| input.get(i).copied().unwrap_or(0);
    let mut out = Vec::with_capacity(queues);
    for q in 0..queues {
        let avail = AVAIL_BASE + q as u64 * RING_STRIDE;
        let used = USED_BASE + q as u64 * RING_STRIDE;
        let count = u16::from(byte(q)) % (QUEUE_SIZE + 1);
        // avail: flags, idx, ring[QUEUE_SIZE]
        mem.write_obj(0u16, GuestAddress(avail)).expect("in memory");
        mem.write_obj(count, GuestAddress(avail + 2)).expect("in memory");
        for i in 0..count {
            let head = u16::from(byte(queues + q * usize::from(QUEUE_SIZE) + usize::from(i))) % (2 * QUEUE_SIZE);
            mem.write_obj(head, GuestAddress(avail + 4 + 2 * u64::from(i))).expect("in memory");
        }
        let mut queue = Queue::new(QUEUE_SIZE).expect("valid size");
        queue.set_size(QUEUE_SIZE);
        let desc = INPUT_AT + q as u64 * 0x100;
        queue.set_desc_table_address(Some(desc as u32), Some(0));
        queue.set_avail_ring_address(Some(avail as u32), Some(0));
        queue.set_used_ring_address(Some(used as u32), Some(0));
        queue.set_ready(true);
        out.push(queue);
    }
    (Arc::new(mem), out)
}

/// What the transport hands a device at DRIVER_OK.
pub fn activation(mem: Arc<GuestMemoryMmap>, queues: Vec<Queue>) -> Activation {
    Activation {
        mem,
        queues,
        acked_features: 0,
        interrupt: Arc::new(VirtioInterrupt::new(IrqLine::new(5).expect("eventfd"))),
    }
}
