//! How a device raises its interrupt: by writing an eventfd that KVM has
//! bound to a GSI as an irqfd, so the interrupt reaches the in-kernel
//! IOAPIC without a trip through a vCPU thread.

use std::os::fd::{AsRawFd, RawFd};

use vmm_sys_util::eventfd::{EFD_NONBLOCK, EventFd};

/// An interrupt line: an eventfd registered with KVM as an irqfd.
#[derive(Debug)]
pub struct IrqLine {
    evt: EventFd,
    gsi: u32,
}

impl IrqLine {
    pub fn new(gsi: u32) -> std::io::Result<Self> {
        Ok(IrqLine { evt: EventFd::new(EFD_NONBLOCK)?, gsi })
    }

    pub fn gsi(&self) -> u32 {
        self.gsi
    }

    /// The eventfd to register with `KVM_IRQFD`.
    pub fn eventfd(&self) -> &EventFd {
        &self.evt
    }

    /// Raises the interrupt (an edge on the GSI).
    pub fn trigger(&self) -> std::io::Result<()> {
        self.evt.write(1)
    }
}

impl AsRawFd for IrqLine {
    fn as_raw_fd(&self) -> RawFd {
        self.evt.as_raw_fd()
    }
}

impl vm_superio::Trigger for IrqLine {
    type E = std::io::Error;
    fn trigger(&self) -> std::io::Result<()> {
        IrqLine::trigger(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trigger_counts_on_the_eventfd() {
        let l = IrqLine::new(7).unwrap();
        l.trigger().unwrap();
        l.trigger().unwrap();
        assert_eq!(l.eventfd().read().unwrap(), 2);
        assert_eq!(l.gsi(), 7);
    }
}
