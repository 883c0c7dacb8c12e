//! The PC devices a Linux guest expects at fixed ports: the 8250 serial
//! port (console), the i8042 keyboard controller (reset line and
//! Ctrl-Alt-Del) and, for ACPI guests, the sleep control register
//! (power-off). Both wrap vm-superio's emulations; these modules connect
//! them to the bus, the interrupt line, the console sink and the VM's exit.

pub mod acpi_sleep;
pub mod console;
pub mod i8042;
pub mod serial;
