//! Guest RAM: host mappings laid out around the 32-bit MMIO hole.
//!
//! Owns the shape of guest memory (which guest-physical ranges are RAM),
//! where it sits in the host's address space, its backing, and its
//! unmapping; nothing else: registering it with KVM is the VM's job,
//! filling it is the loader's. Devices only ever see it through
//! vm-memory's checked accessors.
//!
//! RAM is private anonymous memory unless another process must map it too:
//! a vhost-user backend (virtiofsd) reads and writes the guest's buffers
//! itself, so for a VM with one, each region is a memfd mapped shared and
//! the fds are what the backend is sent ([`GuestRam::shared_regions`]).
//! Shared memory is shmem to the host kernel, which gives it transparent
//! huge pages only where `shmem_enabled` allows, so such a VM may take
//! more nested page faults while it boots; only VMs that share folders pay.
//!
//! Each region is mapped at a 2 MiB-aligned host address and advised
//! `MADV_HUGEPAGE` (QEMU does both). KVM maps guest memory with 2 MiB
//! nested-paging entries only where the host address and the guest address
//! agree modulo 2 MiB and the host backs the range with a huge page; a
//! mapping at whatever address `mmap` picks (page-aligned only) gets 4 KiB
//! entries throughout, so every 4 KiB page the guest first touches is a
//! nested page fault: thousands during a boot, each a round trip through
//! the host kernel (and very expensive under nested virtualisation).

use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::sync::Arc;

use vm_memory::mmap::MmapRegionBuilder;
use vm_memory::{GuestAddress, GuestMemoryMmap, GuestRegionMmap};

use crate::arch::x86_64::layout::{MMIO_GAP_END, MMIO_GAP_START};

/// The huge-page size guest RAM is aligned to.
const HUGE_PAGE: usize = 2 << 20;
const PROT: i32 = libc::PROT_READ | libc::PROT_WRITE;
const FLAGS: i32 = libc::MAP_NORESERVE | libc::MAP_PRIVATE | libc::MAP_ANONYMOUS;
/// Flags of a region backed by a memfd another process maps too.
const SHARED_FLAGS: i32 = libc::MAP_NORESERVE | libc::MAP_SHARED;

/// Whether guest RAM can be mapped by another process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backing {
    /// Private anonymous memory: only this process sees it.
    Private,
    /// memfds mapped shared, for vhost-user backends.
    Shared,
}

#[derive(Debug, thiserror::Error)]
pub enum MemoryError {
    #[error("cannot map {mib} MiB of guest memory: {source}")]
    Map { mib: u64, source: std::io::Error },
    #[error("cannot describe guest memory to vm-memory: {0}")]
    Region(String),
    #[error("guest memory size {0} bytes does not fit this host's address space")]
    TooLarge(u64),
    #[error("cannot create a {mib} MiB memfd for shared guest memory: {source}")]
    Memfd { mib: u64, source: std::io::Error },
}

/// One region of shared guest RAM as a vhost-user backend is told about
/// it: where it is for the guest and for this process, and the fd that
/// maps it (offset 0).
#[derive(Debug, Clone, Copy)]
pub struct SharedRegion {
    pub guest_addr: u64,
    pub len: u64,
    pub host_addr: u64,
    pub fd: RawFd,
}

/// The (start, size) pairs of guest RAM for `size` bytes.
pub fn regions(size: u64) -> Vec<(GuestAddress, u64)> {
    let low = size.min(MMIO_GAP_START);
    let mut out = vec![(GuestAddress(0), low)];
    if size > low {
        out.push((GuestAddress(MMIO_GAP_END), size - low));
    }
    out
}

/// One host mapping of guest RAM, unmapped when dropped.
///
/// The mapping is carved out of a larger reservation: the slack that
/// aligning it leaves on either side stays reserved as inaccessible
/// (`PROT_NONE`) guard space rather than being returned to the address
/// space. Returned, it would be a hole of up to 2 MiB right beside guest
/// RAM, 2 MiB-aligned at one end, where the next thread stack lands: on a
/// host with transparent huge pages set to `always`, such a stack is backed
/// by a whole 2 MiB page as soon as it is touched. Guard space also turns a
/// stray access just past guest RAM into a fault instead of a write into
/// whatever mapping happens to follow.
struct HostMapping {
    /// The whole reservation: guard, guest RAM, guard.
    reservation: *mut u8,
    reservation_len: usize,
    /// Guest RAM inside it.
    addr: *mut u8,
    /// The memfd mapped over guest RAM, for shared backing.
    memfd: Option<File>,
}

// SAFETY: the mapping is plain memory; the pointers are only used to unmap
// it, which any thread may do.
unsafe impl Send for HostMapping {}
// SAFETY: as above; `&HostMapping` gives no access to the memory.
unsafe impl Sync for HostMapping {}

impl HostMapping {
    /// Reserves `len` bytes plus one huge page of inaccessible address
    /// space and opens the `HUGE_PAGE`-aligned `len` bytes inside it.
    fn new_aligned(len: usize) -> std::io::Result<Self> {
        let reservation_len =
            len.checked_add(HUGE_PAGE).ok_or_else(|| std::io::Error::from_raw_os_error(libc::ENOMEM))?;
        // SAFETY: a fresh anonymous mapping at an address of the kernel's
        // choosing; nothing else is touched.
        let base = unsafe { libc::mmap(std::ptr::null_mut(), reservation_len, libc::PROT_NONE, FLAGS, -1, 0) };
        if base == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        let mapping = HostMapping {
            reservation: base.cast(),
            reservation_len,
            addr: (base as usize).next_multiple_of(HUGE_PAGE) as *mut u8,
            memfd: None,
        };
        // SAFETY: [addr, addr + len) lies inside the reservation just made
        // (the alignment slack is below one huge page), which this value
        // owns; on failure `mapping` is dropped and unmaps it.
        if unsafe { libc::mprotect(mapping.addr.cast(), len, PROT) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: advice on a range this mapping owns; failure (THP compiled
        // out or disabled) only means 4 KiB pages.
        if unsafe { libc::madvise(mapping.addr.cast(), len, libc::MADV_HUGEPAGE) } != 0 {
            tracing::debug!(error = %std::io::Error::last_os_error(), "MADV_HUGEPAGE refused; guest RAM uses small pages");
        }
        Ok(mapping)
    }

    /// As [`HostMapping::new_aligned`], with a fresh memfd of `len` bytes
    /// mapped shared over guest RAM.
    fn new_shared(len: usize) -> std::io::Result<Self> {
        let mut mapping = Self::new_aligned(len)?;
        // SAFETY: a name that is a valid C string and flags; the kernel
        // returns a new fd or -1.
        let fd = unsafe { libc::memfd_create(c"berth-guest-ram".as_ptr(), libc::MFD_CLOEXEC) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: `fd` was just created and nothing else owns it.
        let file = unsafe { File::from_raw_fd(fd) };
        file.set_len(len as u64)?;
        // SAFETY: MAP_FIXED over [addr, addr + len), which lies inside the
        // reservation this value owns; the old pages there are unused.
        let at =
            unsafe { libc::mmap(mapping.addr.cast(), len, PROT, SHARED_FLAGS | libc::MAP_FIXED, file.as_raw_fd(), 0) };
        if at == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: as in `new_aligned`; shmem takes the advice only where
        // the host's shmem_enabled allows huge pages.
        unsafe { libc::madvise(mapping.addr.cast(), len, libc::MADV_HUGEPAGE) };
        let shmem_thp =
            std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/shmem_enabled").unwrap_or_default();
        if shmem_thp.contains("[never]") || shmem_thp.contains("[deny]") {
            tracing::info!(
                "shared guest RAM gets 4 KiB pages (shmem_enabled is never): more nested page faults while the \
                 guest boots; `advise` in /sys/kernel/mm/transparent_hugepage/shmem_enabled lets it have huge pages"
            );
        }
        mapping.memfd = Some(file);
        Ok(mapping)
    }
}

impl Drop for HostMapping {
    fn drop(&mut self) {
        // SAFETY: exactly the reservation mapped in `new_aligned`, and
        // `GuestRam` drops this only once no `GuestMemoryMmap` refers to it.
        unsafe { libc::munmap(self.reservation.cast(), self.reservation_len) };
    }
}

/// Guest RAM and the host mappings behind it.
///
/// vm-memory is handed the mappings without owning them (it cannot place a
/// mapping at an aligned address itself), so this type unmaps them, and
/// only when it holds the last reference to the `GuestMemoryMmap`: if a
/// clone somehow outlives it, the mappings are left in place (leaked), never
/// unmapped under a live reference.
pub struct GuestRam {
    mem: Option<Arc<GuestMemoryMmap>>,
    mappings: Vec<HostMapping>,
}

impl GuestRam {
    /// Maps `mib` MiB of guest RAM.
    pub fn new(mib: u64, backing: Backing) -> Result<Self, MemoryError> {
        let size = mib.checked_mul(1 << 20).ok_or(MemoryError::TooLarge(mib))?;
        let mut mappings = Vec::new();
        let mut guest_regions = Vec::new();
        for (guest, len) in regions(size) {
            let len = usize::try_from(len).map_err(|_| MemoryError::TooLarge(size))?;
            let (host, flags) = match backing {
                Backing::Private => {
                    (HostMapping::new_aligned(len).map_err(|source| MemoryError::Map { mib, source })?, FLAGS)
                }
                Backing::Shared => {
                    (HostMapping::new_shared(len).map_err(|source| MemoryError::Memfd { mib, source })?, SHARED_FLAGS)
                }
            };
            // SAFETY: `host` is a live, page-aligned mapping of `len` bytes
            // with these protection and flags; `GuestRam` keeps it mapped
            // for as long as any `GuestMemoryMmap` built from it exists.
            let region = unsafe {
                MmapRegionBuilder::new(len).with_raw_mmap_pointer(host.addr).with_mmap_prot(PROT).with_mmap_flags(flags)
            }
            .build()
            .map_err(|e| MemoryError::Region(e.to_string()))?;
            mappings.push(host);
            guest_regions.push(
                GuestRegionMmap::new(region, guest)
                    .ok_or_else(|| MemoryError::Region(format!("region at {:#x}", guest.0)))?,
            );
        }
        let mem = GuestMemoryMmap::from_regions(guest_regions).map_err(|e| MemoryError::Region(e.to_string()))?;
        Ok(GuestRam { mem: Some(Arc::new(mem)), mappings })
    }

    /// The guest memory, to share with devices and loaders.
    pub fn memory(&self) -> &Arc<GuestMemoryMmap> {
        // `mem` is only taken in `drop`.
        self.mem.as_ref().expect("guest memory present until drop")
    }

    /// The regions and their memfds, in guest-address order; empty for
    /// private backing. The fds stay owned here (and open) for the VM's
    /// life.
    pub fn shared_regions(&self) -> Vec<SharedRegion> {
        self.mappings
            .iter()
            .zip(regions_of(self.memory()))
            .filter_map(|(m, (guest_addr, len))| {
                let fd = m.memfd.as_ref()?.as_raw_fd();
                Some(SharedRegion { guest_addr, len, host_addr: m.addr as u64, fd })
            })
            .collect()
    }
}

/// (guest start, length) of each region of `mem`, in order.
fn regions_of(mem: &GuestMemoryMmap) -> Vec<(u64, u64)> {
    use vm_memory::{GuestMemoryBackend, GuestMemoryRegion};
    mem.iter().map(|r| (r.start_addr().0, r.len())).collect()
}

impl Drop for GuestRam {
    fn drop(&mut self) {
        let last = self.mem.take().and_then(Arc::into_inner);
        match last {
            // Every region is gone with it: the mappings may go.
            Some(mem) => drop(mem),
            None => {
                tracing::warn!("guest memory still referenced at VM end; leaving it mapped");
                std::mem::take(&mut self.mappings).into_iter().for_each(std::mem::forget);
            }
        }
    }
}

/// Maps `mib` MiB of guest RAM (see [`GuestRam`]).
pub fn create_guest_memory(mib: u64, backing: Backing) -> Result<GuestRam, MemoryError> {
    GuestRam::new(mib, backing)
}

#[cfg(test)]
mod tests {
    use super::*;
    use vm_memory::{Bytes, GuestMemoryBackend, GuestMemoryRegion, MemoryRegionAddress};

    #[test]
    fn small_memory_is_one_region_large_memory_skips_the_hole() {
        assert_eq!(regions(256 << 20), vec![(GuestAddress(0), 256 << 20)]);
        let r = regions(4 << 30);
        assert_eq!(
            r,
            vec![(GuestAddress(0), MMIO_GAP_START), (GuestAddress(MMIO_GAP_END), (4 << 30) - MMIO_GAP_START)]
        );
    }

    #[test]
    fn creates_an_aligned_usable_mapping() {
        let ram = create_guest_memory(64, Backing::Private).unwrap();
        let m = ram.memory();
        assert_eq!(m.num_regions(), 1);
        assert!(m.address_in_range(GuestAddress((64 << 20) - 1)));
        assert!(!m.address_in_range(GuestAddress(64 << 20)));
        for r in m.iter() {
            let host = r.get_host_address(MemoryRegionAddress(0)).unwrap() as usize;
            assert_eq!(host % HUGE_PAGE, 0, "host address {host:#x} not 2 MiB aligned");
        }
        m.write_obj(0xdead_beef_u32, GuestAddress((64 << 20) - 4)).unwrap();
        assert_eq!(m.read_obj::<u32>(GuestAddress((64 << 20) - 4)).unwrap(), 0xdead_beef);
    }

    #[test]
    fn guard_space_around_guest_ram_is_inaccessible() {
        let ram = create_guest_memory(4, Backing::Private).unwrap();
        let host = ram.memory().iter().next().unwrap().get_host_address(MemoryRegionAddress(0)).unwrap() as usize;
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
        let perms_at = |addr: usize| {
            maps.lines().find_map(|l| {
                let (range, rest) = l.split_once(' ')?;
                let (a, b) = range.split_once('-')?;
                let (a, b) = (usize::from_str_radix(a, 16).ok()?, usize::from_str_radix(b, 16).ok()?);
                (a <= addr && addr < b).then(|| rest[..4].to_string())
            })
        };
        assert_eq!(perms_at(host).as_deref(), Some("rw-p"));
        let after = perms_at(host + (4 << 20));
        let before = perms_at(host - 1);
        // The slack is on one side or split over both.
        assert!(
            after.as_deref() == Some("---p") || before.as_deref() == Some("---p"),
            "no guard space: before {before:?}, after {after:?}"
        );
    }

    /// Shared backing: what the guest sees through one mapping, another
    /// mapping of the region's memfd (as a vhost-user backend makes) sees.
    #[test]
    fn shared_backing_is_visible_through_the_memfd() {
        let ram = create_guest_memory(8, Backing::Shared).unwrap();
        let regions = ram.shared_regions();
        assert_eq!(regions.len(), 1);
        let r = regions[0];
        assert_eq!((r.guest_addr, r.len), (0, 8 << 20));
        assert_eq!(r.host_addr % HUGE_PAGE as u64, 0);
        ram.memory().write_obj(0x1234_5678_u32, GuestAddress(0x1000)).unwrap();
        // SAFETY: a fresh shared mapping of the memfd, read and unmapped here.
        let other = unsafe { libc::mmap(std::ptr::null_mut(), 8 << 20, libc::PROT_READ, libc::MAP_SHARED, r.fd, 0) };
        assert_ne!(other, libc::MAP_FAILED);
        // SAFETY: 0x1000 + 4 lies inside the 8 MiB just mapped.
        let seen = unsafe { other.cast::<u8>().add(0x1000).cast::<u32>().read_unaligned() };
        // SAFETY: exactly the mapping made above.
        unsafe { libc::munmap(other, 8 << 20) };
        assert_eq!(seen, 0x1234_5678);
        assert!(create_guest_memory(8, Backing::Private).unwrap().shared_regions().is_empty());
    }

    #[test]
    fn memory_still_shared_at_drop_is_left_mapped() {
        let ram = create_guest_memory(4, Backing::Private).unwrap();
        let clone = ram.memory().clone();
        drop(ram);
        // Still readable: the mapping was not unmapped under the clone.
        clone.write_obj(7u8, GuestAddress(0)).unwrap();
        assert_eq!(clone.read_obj::<u8>(GuestAddress(0)).unwrap(), 7);
    }
}
