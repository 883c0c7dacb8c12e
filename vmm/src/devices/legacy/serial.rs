//! The 8250 UART at 0x3f8 (COM1), IRQ 4: the guest's console.
//!
//! vm-superio does the register emulation; this adapts it to the port bus
//! and raises IRQ 4 through an irqfd. Guest input is not wired yet: the
//! console is output-only.

use vm_superio::Serial;
use vm_superio::serial::NoEvents;

use super::console::ConsoleSink;
use crate::devices::bus::BusDevice;
use crate::devices::irq::IrqLine;

/// COM1's port base and its eight registers.
pub const SERIAL_PORT_BASE: u64 = 0x3f8;
pub const SERIAL_PORT_LEN: u64 = 8;

/// The console UART on the port bus.
pub struct SerialDevice {
    uart: Serial<IrqLine, NoEvents, ConsoleSink>,
}

impl SerialDevice {
    pub fn new(irq: IrqLine, sink: ConsoleSink) -> Self {
        SerialDevice { uart: Serial::new(irq, sink) }
    }
}

impl BusDevice for SerialDevice {
    fn read(&mut self, offset: u64, data: &mut [u8]) {
        // The UART's registers are one byte wide; wider reads are a guest
        // bug and read as all-ones like an empty bus.
        match (data, u8::try_from(offset)) {
            ([byte], Ok(off)) => *byte = self.uart.read(off),
            (data, _) => data.fill(0xff),
        }
    }

    fn write(&mut self, offset: u64, data: &[u8]) {
        if let ([byte], Ok(off)) = (data, u8::try_from(offset))
            && let Err(e) = self.uart.write(off, *byte)
        {
            tracing::warn!(error = ?e, "serial write failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exit::ExitSignal;
    use std::sync::Arc;

    #[test]
    fn transmit_register_writes_reach_the_sink_and_raise_the_irq() {
        let exit = Arc::new(ExitSignal::new().unwrap());
        let irq = IrqLine::new(4).unwrap();
        let irq_fd = irq.eventfd().try_clone().unwrap();
        let mut dev = SerialDevice::new(irq, ConsoleSink::new(None, exit.clone()));
        // Enable the "transmitter empty" interrupt (IER bit 1).
        dev.write(1, &[0x02]);
        for b in b"Kernel panic - not syncing: test\n" {
            dev.write(0, &[*b]);
        }
        assert!(irq_fd.read().unwrap() >= 1);
        exit.post(crate::exit::VmExit::GuestReset);
        assert!(!exit.outcome().unwrap().is_success());
        let mut wide = [0u8; 2];
        dev.read(0, &mut wide);
        assert_eq!(wide, [0xff, 0xff]);
    }

    #[test]
    fn hostile_accesses_are_contained() {
        let exit = Arc::new(ExitSignal::new().unwrap());
        let irq = IrqLine::new(4).unwrap();
        let mut dev = SerialDevice::new(irq, ConsoleSink::new(None, exit.clone()));
        // Offsets past the eight registers, wide and empty accesses.
        for offset in [8, 255, 256, u64::MAX] {
            dev.write(offset, &[0x41]);
            let mut b = [0u8; 1];
            dev.read(offset, &mut b);
        }
        dev.write(0, &[]);
        dev.write(0, &[1, 2, 3, 4]);
        let mut empty: [u8; 0] = [];
        dev.read(0, &mut empty);
        let mut wide = [0u8; 4];
        dev.read(3, &mut wide);
        assert_eq!(wide, [0xff; 4]);
        // Scratch register (7) still reads back what was written: the UART
        // is unharmed.
        dev.write(7, &[0x5a]);
        let mut b = [0u8; 1];
        dev.read(7, &mut b);
        assert_eq!(b, [0x5a]);
        assert_eq!(exit.outcome(), None);
    }
}
