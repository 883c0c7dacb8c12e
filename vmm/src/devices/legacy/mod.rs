//! The PC devices a Linux guest expects at fixed ports: the 8250 serial
//! port (console) and the i8042 keyboard controller (used only for its
//! reset line). Both wrap vm-superio's emulations; these modules connect
//! them to the bus, the interrupt line, the console sink and the VM's exit.

pub mod console;
pub mod i8042;
pub mod serial;
