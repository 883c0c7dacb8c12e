//! Address decoding for port I/O and MMIO exits.
//!
//! A `Bus` maps non-overlapping address ranges to devices; a vCPU thread
//! calls `read`/`write` with the exit's address and the device sees an
//! offset into its own range. Built once before the vCPUs start and then
//! shared read-only, so lookups need no lock; each device has its own
//! mutex. Must never hold one device's lock while taking another's.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

/// A device reachable through port I/O or MMIO.
pub trait BusDevice: Send {
    /// The guest reads `data.len()` bytes at `offset` into the device's range.
    fn read(&mut self, offset: u64, data: &mut [u8]);
    /// The guest writes `data` at `offset` into the device's range.
    fn write(&mut self, offset: u64, data: &[u8]);
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BusError {
    #[error("device range {base:#x}+{len:#x} overlaps another device")]
    Overlap { base: u64, len: u64 },
    #[error("device range at {0:#x} is empty or wraps around")]
    BadRange(u64),
}

struct Entry {
    len: u64,
    device: Arc<Mutex<dyn BusDevice>>,
}

/// One address space (port I/O or MMIO).
#[derive(Default)]
pub struct Bus {
    devices: BTreeMap<u64, Entry>,
}

impl Bus {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `device` at `[base, base + len)`.
    pub fn insert(&mut self, device: Arc<Mutex<dyn BusDevice>>, base: u64, len: u64) -> Result<(), BusError> {
        let end = base.checked_add(len).filter(|_| len > 0).ok_or(BusError::BadRange(base))?;
        let clash_below = self.devices.range(..end).next_back().is_some_and(|(b, e)| b + e.len > base);
        if clash_below {
            return Err(BusError::Overlap { base, len });
        }
        self.devices.insert(base, Entry { len, device });
        Ok(())
    }

    /// Finds the device covering the whole access, and the offset into it.
    fn resolve(&self, addr: u64, size: usize) -> Option<(u64, &Arc<Mutex<dyn BusDevice>>)> {
        let (base, entry) = self.devices.range(..=addr).next_back()?;
        let offset = addr - base;
        let end = offset.checked_add(size as u64)?;
        (end <= entry.len).then_some((offset, &entry.device))
    }

    /// Routes a read; returns false if nothing is mapped there.
    pub fn read(&self, addr: u64, data: &mut [u8]) -> bool {
        match self.resolve(addr, data.len()) {
            Some((offset, dev)) => {
                dev.lock().unwrap_or_else(PoisonError::into_inner).read(offset, data);
                true
            }
            None => false,
        }
    }

    /// Routes a write; returns false if nothing is mapped there.
    pub fn write(&self, addr: u64, data: &[u8]) -> bool {
        match self.resolve(addr, data.len()) {
            Some((offset, dev)) => {
                dev.lock().unwrap_or_else(PoisonError::into_inner).write(offset, data);
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A device that remembers the last write and echoes offsets on read.
    #[derive(Default)]
    struct Scratch {
        last: Option<(u64, Vec<u8>)>,
    }

    impl BusDevice for Scratch {
        fn read(&mut self, offset: u64, data: &mut [u8]) {
            data.fill(offset as u8);
        }
        fn write(&mut self, offset: u64, data: &[u8]) {
            self.last = Some((offset, data.to_vec()));
        }
    }

    #[test]
    fn routes_by_range_and_rejects_overlaps() {
        let mut bus = Bus::new();
        let a = Arc::new(Mutex::new(Scratch::default()));
        bus.insert(a.clone(), 0x100, 0x10).unwrap();
        assert_eq!(
            bus.insert(Arc::new(Mutex::new(Scratch::default())), 0x108, 0x10),
            Err(BusError::Overlap { base: 0x108, len: 0x10 })
        );
        assert_eq!(
            bus.insert(Arc::new(Mutex::new(Scratch::default())), 0xf8, 0x9),
            Err(BusError::Overlap { base: 0xf8, len: 9 })
        );
        bus.insert(Arc::new(Mutex::new(Scratch::default())), 0x110, 0x10).unwrap();
        assert_eq!(
            bus.insert(Arc::new(Mutex::new(Scratch::default())), u64::MAX, 2),
            Err(BusError::BadRange(u64::MAX))
        );

        let mut buf = [0u8; 2];
        assert!(bus.read(0x104, &mut buf));
        assert_eq!(buf, [4, 4]);
        assert!(bus.write(0x10e, &[7, 8]));
        assert_eq!(a.lock().unwrap().last, Some((0xe, vec![7, 8])));
        assert!(!bus.write(0x10f, &[1, 2]), "an access straddling two devices goes nowhere");
        assert!(!bus.read(0x50, &mut buf));
        assert!(!bus.read(0x120, &mut buf));
    }
}
