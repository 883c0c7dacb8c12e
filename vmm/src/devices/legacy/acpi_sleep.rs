//! The hardware-reduced ACPI sleep control register: one I/O port that a
//! guest booted with ACPI writes to power off.
//!
//! A guest kernel entering S5 (`poweroff`) writes `SLP_EN | SLP_TYP << 2`
//! to the FADT's sleep-control register, with `SLP_TYP` taken from the
//! DSDT's `_S5_` package ([`S5_SLEEP_TYPE`]). That write ends the VM with
//! [`VmExit::GuestPowerOff`]; every other write is ignored, and reads
//! return 0 (no wake status). It owns nothing else: a guest can only end
//! its own VM through it, exactly as it could by resetting.

use std::sync::Arc;

use crate::arch::x86_64::acpi::S5_SLEEP_TYPE;
use crate::devices::bus::BusDevice;
use crate::exit::{ExitSignal, VmExit};

/// One byte wide.
pub const ACPI_SLEEP_PORT_LEN: u64 = 1;
/// `SLP_EN` in the sleep control register.
const SLEEP_ENABLE: u8 = 1 << 5;
/// `SLP_TYP` sits in bits 2..=4.
const SLEEP_TYPE_SHIFT: u8 = 2;
const SLEEP_TYPE_MASK: u8 = 0b111;

pub struct AcpiSleep {
    exit: Arc<ExitSignal>,
}

impl AcpiSleep {
    pub fn new(exit: Arc<ExitSignal>) -> Self {
        AcpiSleep { exit }
    }
}

impl BusDevice for AcpiSleep {
    fn read(&mut self, _offset: u64, data: &mut [u8]) {
        data.fill(0);
    }

    fn write(&mut self, offset: u64, data: &[u8]) {
        let [value] = data else { return };
        let sleep_type = (value >> SLEEP_TYPE_SHIFT) & SLEEP_TYPE_MASK;
        if offset == 0 && value & SLEEP_ENABLE != 0 && sleep_type == S5_SLEEP_TYPE {
            self.exit.post(VmExit::GuestPowerOff);
        } else {
            tracing::debug!(value, "ACPI sleep register: write ignored");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s5_with_sleep_enable_powers_off_anything_else_is_ignored() {
        let exit = Arc::new(ExitSignal::new().unwrap());
        let mut dev = AcpiSleep::new(exit.clone());
        // Sleep type without SLP_EN, another sleep state, a wide write.
        dev.write(0, &[S5_SLEEP_TYPE << 2]);
        dev.write(0, &[SLEEP_ENABLE | (3 << 2)]);
        dev.write(0, &[SLEEP_ENABLE | (S5_SLEEP_TYPE << 2), 0]);
        assert_eq!(exit.outcome(), None);
        let mut b = [0xffu8];
        dev.read(0, &mut b);
        assert_eq!(b, [0]);
        dev.write(0, &[SLEEP_ENABLE | (S5_SLEEP_TYPE << 2)]);
        assert_eq!(exit.outcome(), Some(VmExit::GuestPowerOff));
    }
}
