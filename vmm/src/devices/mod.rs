//! Emulated devices. `bus` routes a vCPU's port and MMIO exits to the
//! device that owns the address; `legacy` holds the PC devices Linux
//! expects (serial port, keyboard controller); `virtio` holds the
//! virtio-mmio transport and the paravirtual devices. `irq` is how a device
//! raises its interrupt line; `guest_fault` logs what a guest did wrong
//! without letting it flood the logs. Devices never touch vCPU or VM state.

pub mod bus;
pub mod guest_fault;
pub mod irq;
pub mod legacy;
pub mod virtio;
