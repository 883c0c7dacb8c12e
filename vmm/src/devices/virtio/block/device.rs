//! The virtio-blk device: config space (capacity, segment limit), feature
//! bits (read-only, flush), and the request queue served on the device
//! thread. The image's size is fixed when the VM starts.

use std::fs::OpenOptions;
use std::path::Path;
use std::sync::Arc;

use event_manager::{EventOps, EventSet, Events, MutEventSubscriber};
use virtio_bindings::virtio_blk::{VIRTIO_BLK_F_FLUSH, VIRTIO_BLK_F_RO, VIRTIO_BLK_F_SEG_MAX, VIRTIO_BLK_ID_BYTES};
use virtio_queue::QueueT;
use vm_memory::GuestMemoryMmap;
use vmm_sys_util::eventfd::{EFD_NONBLOCK, EventFd};

use super::request::{Disk, SECTOR_SIZE, execute};
use crate::devices::virtio::{ActivateError, Activation, VirtioDevice, read_config_bytes};

const QUEUE_SIZE: u16 = 256;

pub struct BlockDevice {
    disk: Disk,
    config: [u8; 16],
    queue_evts: [EventFd; 1],
    active: Option<Activation>,
}

impl BlockDevice {
    /// Opens a raw image; read-only disks are opened read-only on the host
    /// too, so not even a VMM bug can write them.
    pub fn open(path: &Path, read_only: bool) -> std::io::Result<Self> {
        let file = OpenOptions::new().read(true).write(!read_only).open(path)?;
        let size = file.metadata()?.len();
        let capacity_sectors = size / SECTOR_SIZE;
        let mut id = [0u8; VIRTIO_BLK_ID_BYTES as usize];
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let n = name.len().min(id.len());
        id[..n].copy_from_slice(&name.as_bytes()[..n]);
        let mut config = [0u8; 16];
        config[..8].copy_from_slice(&capacity_sectors.to_le_bytes());
        // seg_max at offset 12: leave two descriptors for header and status.
        config[12..16].copy_from_slice(&u32::from(QUEUE_SIZE - 2).to_le_bytes());
        Ok(BlockDevice {
            disk: Disk { file, read_only, capacity_sectors, id },
            config,
            queue_evts: [EventFd::new(EFD_NONBLOCK)?],
            active: None,
        })
    }

    pub(crate) fn process_queue(&mut self) {
        let Some(active) = &mut self.active else {
            return;
        };
        let mem: Arc<GuestMemoryMmap> = active.mem.clone();
        let queue = &mut active.queues[0];
        let mut used_any = false;
        while let Some(chain) = queue.pop_descriptor_chain(mem.as_ref()) {
            let head = chain.head_index();
            let len = execute(&self.disk, mem.as_ref(), chain).unwrap_or_else(|e| {
                crate::devices::guest_fault::report("virtio-blk: malformed request", &e);
                0
            });
            if let Err(e) = queue.add_used(mem.as_ref(), head, len) {
                crate::devices::guest_fault::report("virtio-blk: cannot return a request", &e);
                break;
            }
            used_any = true;
        }
        if used_any {
            active.interrupt.signal_used_queue();
        }
    }
}

impl VirtioDevice for BlockDevice {
    fn device_type(&self) -> u32 {
        virtio_bindings::virtio_ids::VIRTIO_ID_BLOCK
    }
    fn queue_max_sizes(&self) -> &[u16] {
        &[QUEUE_SIZE]
    }
    fn queue_events(&self) -> &[EventFd] {
        &self.queue_evts
    }
    fn features(&self) -> u64 {
        let ro = if self.disk.read_only { 1 << VIRTIO_BLK_F_RO } else { 0 };
        (1 << VIRTIO_BLK_F_FLUSH) | (1 << VIRTIO_BLK_F_SEG_MAX) | ro
    }
    fn read_config(&self, offset: u64, data: &mut [u8]) {
        read_config_bytes(&self.config, offset, data);
    }
    fn activate(&mut self, activation: Activation) -> Result<(), ActivateError> {
        activation.expect_queues(1)?;
        self.active = Some(activation);
        self.process_queue();
        Ok(())
    }
    fn reset(&mut self) -> bool {
        self.active = None;
        true
    }
}

impl MutEventSubscriber for BlockDevice {
    fn init(&mut self, ops: &mut EventOps) {
        if let Err(e) = ops.add(Events::new(&self.queue_evts[0], EventSet::IN)) {
            tracing::error!(error = ?e, "virtio-blk: cannot watch the queue");
        }
    }

    fn process(&mut self, _events: Events, _ops: &mut EventOps) {
        let _ = self.queue_evts[0].read();
        self.process_queue();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::devices::virtio::test_utils::*;
    use std::io::Write;
    use virtio_bindings::virtio_blk::*;
    use virtio_queue::desc::split::Descriptor;

    const HDR: u64 = BUF_BASE;
    const DATA: u64 = BUF_BASE + 0x1000;
    const STATUS: u64 = BUF_BASE + 0x10_0000;

    fn image(sectors: usize) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        let bytes: Vec<u8> = (0..sectors * 512).map(|i| (i / 512) as u8).collect();
        f.write_all(&bytes).unwrap();
        f
    }

    fn header(mem: &GuestMemoryMmap, addr: u64, t: u32, sector: u64) {
        let mut h = t.to_le_bytes().to_vec();
        h.extend_from_slice(&0u32.to_le_bytes());
        h.extend_from_slice(&sector.to_le_bytes());
        put(mem, addr, &h);
    }

    /// Runs the given chains through a fresh device on `img`.
    fn run(
        img: &tempfile::NamedTempFile,
        ro: bool,
        build: impl FnOnce(&GuestMemoryMmap, &mut DriverQueue),
    ) -> (Arc<GuestMemoryMmap>, Vec<(u32, u32)>) {
        let mem = guest_memory();
        let mut dq = DriverQueue::new(&mem, 0, 16);
        build(&mem, &mut dq);
        let mut dev = BlockDevice::open(img.path(), ro).unwrap();
        dev.activate(activation(&mem, vec![dq.queue()], 0)).unwrap();
        let used = dq.used();
        (mem, used)
    }

    #[test]
    fn config_reports_capacity_and_features() {
        let img = image(8);
        let dev = BlockDevice::open(img.path(), true).unwrap();
        let mut cap = [0u8; 8];
        dev.read_config(0, &mut cap);
        assert_eq!(u64::from_le_bytes(cap), 8);
        assert_ne!(dev.features() & (1 << VIRTIO_BLK_F_RO), 0);
        let rw = BlockDevice::open(img.path(), false).unwrap();
        assert_eq!(rw.features() & (1 << VIRTIO_BLK_F_RO), 0);
    }

    #[test]
    fn reads_writes_and_flushes() {
        let img = image(8);
        let (mem, used) = run(&img, false, |mem, dq| {
            header(mem, HDR, VIRTIO_BLK_T_IN, 2);
            dq.add_chain(&[(HDR, 16, RO), (DATA, 1024, WO), (STATUS, 1, WO)]);
            header(mem, HDR + 0x100, VIRTIO_BLK_T_OUT, 7);
            put(mem, DATA + 0x8000, &[0xab; 512]);
            dq.add_chain(&[(HDR + 0x100, 16, RO), (DATA + 0x8000, 512, RO), (STATUS + 1, 1, WO)]);
            header(mem, HDR + 0x200, VIRTIO_BLK_T_FLUSH, 0);
            dq.add_chain(&[(HDR + 0x200, 16, RO), (STATUS + 2, 1, WO)]);
            header(mem, HDR + 0x300, VIRTIO_BLK_T_GET_ID, 0);
            dq.add_chain(&[(HDR + 0x300, 16, RO), (DATA + 0x9000, 20, WO), (STATUS + 3, 1, WO)]);
        });
        assert_eq!(used.iter().map(|u| u.1).collect::<Vec<_>>(), vec![1025, 1, 1, 21]);
        let data = get(&mem, DATA, 1024);
        assert!(data[..512].iter().all(|&b| b == 2) && data[512..].iter().all(|&b| b == 3));
        assert_eq!(get(&mem, STATUS, 4), vec![VIRTIO_BLK_S_OK as u8; 4]);
        let on_disk = std::fs::read(img.path()).unwrap();
        assert!(on_disk[7 * 512..8 * 512].iter().all(|&b| b == 0xab));
        let name = img.path().file_name().unwrap().to_string_lossy().into_owned();
        let n = name.len().min(20);
        assert_eq!(&get(&mem, DATA + 0x9000, n)[..], &name.as_bytes()[..n]);
    }

    #[test]
    fn read_only_disk_refuses_writes() {
        let img = image(4);
        let (mem, used) = run(&img, true, |mem, dq| {
            header(mem, HDR, VIRTIO_BLK_T_OUT, 0);
            put(mem, DATA, &[0xcd; 512]);
            dq.add_chain(&[(HDR, 16, RO), (DATA, 512, RO), (STATUS, 1, WO)]);
        });
        assert_eq!(used[0].1, 1);
        assert_eq!(get(&mem, STATUS, 1), vec![VIRTIO_BLK_S_IOERR as u8]);
        assert!(std::fs::read(img.path()).unwrap()[..512].iter().all(|&b| b == 0));
    }

    #[test]
    fn out_of_range_and_odd_lengths_are_io_errors() {
        let img = image(4);
        let (mem, used) = run(&img, false, |mem, dq| {
            header(mem, HDR, VIRTIO_BLK_T_IN, 3);
            dq.add_chain(&[(HDR, 16, RO), (DATA, 1024, WO), (STATUS, 1, WO)]);
            header(mem, HDR + 0x100, VIRTIO_BLK_T_IN, u64::MAX);
            dq.add_chain(&[(HDR + 0x100, 16, RO), (DATA, 512, WO), (STATUS + 1, 1, WO)]);
            header(mem, HDR + 0x200, VIRTIO_BLK_T_OUT, 0);
            dq.add_chain(&[(HDR + 0x200, 16, RO), (DATA, 100, RO), (STATUS + 2, 1, WO)]);
            header(mem, HDR + 0x300, 99, 0);
            dq.add_chain(&[(HDR + 0x300, 16, RO), (STATUS + 3, 1, WO)]);
        });
        assert_eq!(used.len(), 4);
        let s = get(&mem, STATUS, 4);
        assert_eq!(&s[..3], &[VIRTIO_BLK_S_IOERR as u8; 3]);
        assert_eq!(s[3], VIRTIO_BLK_S_UNSUPP as u8);
    }

    #[test]
    fn malformed_chains_get_no_status_and_do_not_stop_the_queue() {
        let img = image(4);
        let (mem, used) = run(&img, false, |mem, dq| {
            // Header too short.
            dq.add_chain(&[(HDR, 8, RO), (STATUS, 1, WO)]);
            // No writable status byte.
            header(mem, HDR + 0x100, VIRTIO_BLK_T_IN, 0);
            dq.add_chain(&[(HDR + 0x100, 16, RO)]);
            // Data buffer beyond guest memory.
            header(mem, HDR + 0x200, VIRTIO_BLK_T_IN, 0);
            dq.add_chain(&[(HDR + 0x200, 16, RO), (GUEST_MEM_SIZE as u64 - 100, 512, WO), (STATUS, 1, WO)]);
            // Lengths that overflow when summed.
            dq.add_raw(&[
                Descriptor::new(HDR + 0x200, u32::MAX, virtio_bindings::virtio_ring::VRING_DESC_F_NEXT as u16, 4),
                Descriptor::new(HDR + 0x200, u32::MAX, WO, 0),
            ]);
            // A good request after all that.
            header(mem, HDR + 0x300, VIRTIO_BLK_T_IN, 1);
            dq.add_chain(&[(HDR + 0x300, 16, RO), (DATA, 512, WO), (STATUS + 5, 1, WO)]);
        });
        assert_eq!(used.len(), 5);
        assert!(used[..4].iter().all(|u| u.1 == 0), "{used:?}");
        assert_eq!(used[4].1, 513);
        assert_eq!(get(&mem, STATUS + 5, 1), vec![VIRTIO_BLK_S_OK as u8]);
        assert!(get(&mem, DATA, 512).iter().all(|&b| b == 1));
    }

    #[test]
    fn survives_garbage_queues_and_requests() {
        let img = image(64);
        let mut rng = XorShift(0x5eed_0002);
        let mut dev = BlockDevice::open(img.path(), false).unwrap();
        for _ in 0..200 {
            let mem = guest_memory();
            scribble(&mem, &mut rng, BUF_BASE, 64 * 1024);
            let mut dq = DriverQueue::new(&mem, 0, 16);
            dq.scramble(&mut rng);
            dev.activate(activation(&mem, vec![dq.queue()], 0)).unwrap();
            assert!(dev.reset());
        }
        assert_eq!(std::fs::metadata(img.path()).unwrap().len(), 64 * 512, "the image never grows");
        let (mem, used) = run(&img, false, |mem, dq| {
            header(mem, HDR, VIRTIO_BLK_T_OUT, 63);
            put(mem, DATA, &[0x5a; 512]);
            dq.add_chain(&[(HDR, 16, RO), (DATA, 512, RO), (STATUS, 1, WO)]);
        });
        assert_eq!(used[0].1, 1);
        assert_eq!(get(&mem, STATUS, 1), vec![VIRTIO_BLK_S_OK as u8]);
    }
}
