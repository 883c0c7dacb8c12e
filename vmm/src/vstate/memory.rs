//! Guest RAM: anonymous host mappings laid out around the 32-bit MMIO hole.
//!
//! Owns the shape of guest memory (which guest-physical ranges are RAM) and
//! nothing else: registering it with KVM is the VM's job, filling it is the
//! loader's. Devices only ever see it through vm-memory's checked accessors.

use vm_memory::{GuestAddress, GuestMemoryMmap};

use crate::arch::x86_64::layout::{MMIO_GAP_END, MMIO_GAP_START};

#[derive(Debug, thiserror::Error)]
pub enum MemoryError {
    #[error("cannot map {mib} MiB of guest memory: {source}")]
    Map {
        mib: u64,
        source: vm_memory::mmap::FromRangesError,
    },
    #[error("guest memory size {0} bytes does not fit this host's address space")]
    TooLarge(u64),
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

/// Maps `mib` MiB of guest RAM.
pub fn create_guest_memory(mib: u64) -> Result<GuestMemoryMmap, MemoryError> {
    let size = mib.checked_mul(1 << 20).ok_or(MemoryError::TooLarge(mib))?;
    let ranges = regions(size)
        .into_iter()
        .map(|(a, len)| {
            usize::try_from(len)
                .map(|l| (a, l))
                .map_err(|_| MemoryError::TooLarge(size))
        })
        .collect::<Result<Vec<_>, _>>()?;
    GuestMemoryMmap::from_ranges(&ranges).map_err(|source| MemoryError::Map { mib, source })
}

#[cfg(test)]
mod tests {
    use super::*;
    use vm_memory::GuestMemoryBackend;

    #[test]
    fn small_memory_is_one_region_large_memory_skips_the_hole() {
        assert_eq!(regions(256 << 20), vec![(GuestAddress(0), 256 << 20)]);
        let r = regions(4 << 30);
        assert_eq!(
            r,
            vec![
                (GuestAddress(0), MMIO_GAP_START),
                (GuestAddress(MMIO_GAP_END), (4 << 30) - MMIO_GAP_START)
            ]
        );
    }

    #[test]
    fn creates_the_mapping() {
        let m = create_guest_memory(64).unwrap();
        assert_eq!(m.num_regions(), 1);
        assert!(m.address_in_range(GuestAddress((64 << 20) - 1)));
        assert!(!m.address_in_range(GuestAddress(64 << 20)));
    }
}
