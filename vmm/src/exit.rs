//! How a running VM ends, and who says so.
//!
//! Several threads can see the end first: a vCPU thread sees the guest's
//! keyboard-controller reset or a triple fault, the serial device sees a
//! kernel panic scroll by, the host asks for a stop. `ExitSignal` keeps the
//! first reason posted (later ones are logged and dropped) and wakes the
//! thread that waits for the VM. A panic seen on the console turns the
//! reset that follows it (`panic=-1`) into a failure. This module only
//! records and wakes; it never stops threads itself.

use std::os::fd::{AsRawFd, RawFd};
use std::sync::{Mutex, PoisonError};

use vmm_sys_util::eventfd::{EFD_NONBLOCK, EventFd};

use crate::vstate::crash_report::CrashReport;

/// Why the VM stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VmExit {
    /// The guest reset itself (reboot, or power-off on a guest without
    /// ACPI): a clean end.
    GuestReset,
    /// The guest asked KVM to power off (`KVM_SYSTEM_EVENT_SHUTDOWN`).
    GuestPowerOff,
    /// The guest kernel panicked; the line it printed.
    GuestPanic(String),
    /// A vCPU triple-faulted: the guest is broken beyond a clean reset.
    TripleFault { vcpu: u8, report: Box<CrashReport> },
    /// KVM could not emulate an instruction the guest ran
    /// (`KVM_EXIT_INTERNAL_ERROR`, emulation suberror).
    EmulationFailure { vcpu: u8, report: Box<CrashReport> },
    /// A vCPU ended for another reason the guest cannot recover from: a
    /// failed VM entry, another KVM internal error, an unknown exit.
    VcpuFault { vcpu: u8, what: String, report: Box<CrashReport> },
    /// The host asked the VMM to stop.
    Stopped,
    /// The VMM could not keep running the guest.
    VmmError(String),
}

impl VmExit {
    /// Whether this end counts as success for the VMM's exit status.
    pub fn is_success(&self) -> bool {
        matches!(self, VmExit::GuestReset | VmExit::GuestPowerOff | VmExit::Stopped)
    }

    /// The crashed vCPU's report, for an exit that has one.
    pub fn report_mut(&mut self) -> Option<&mut CrashReport> {
        match self {
            VmExit::TripleFault { report, .. }
            | VmExit::EmulationFailure { report, .. }
            | VmExit::VcpuFault { report, .. } => Some(report),
            _ => None,
        }
    }

    /// The first line of the exit (the one scripts grep), without the
    /// report that may follow.
    pub fn headline(&self) -> String {
        self.to_string().lines().next().unwrap_or_default().to_string()
    }
}

impl std::fmt::Display for VmExit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VmExit::GuestReset => f.write_str("guest reset the VM"),
            VmExit::GuestPowerOff => f.write_str("guest powered off"),
            VmExit::GuestPanic(line) => write!(f, "guest kernel panicked: {line}"),
            VmExit::TripleFault { vcpu, report } => {
                write!(f, "vCPU {vcpu} triple-faulted (KVM_EXIT_SHUTDOWN){report}")
            }
            VmExit::EmulationFailure { vcpu, report } => {
                write!(f, "vCPU {vcpu}: KVM could not emulate an instruction (KVM_EXIT_INTERNAL_ERROR){report}")
            }
            VmExit::VcpuFault { vcpu, what, report } => write!(f, "VMM error: vCPU {vcpu}: {what}{report}"),
            VmExit::Stopped => f.write_str("stopped by the host"),
            VmExit::VmmError(e) => write!(f, "VMM error: {e}"),
        }
    }
}

/// The first reason the VM ended, and an eventfd that fires when it is set.
#[derive(Debug)]
pub struct ExitSignal {
    outcome: Mutex<Option<VmExit>>,
    panic_line: Mutex<Option<String>>,
    evt: EventFd,
}

impl ExitSignal {
    pub fn new() -> std::io::Result<Self> {
        Ok(ExitSignal { outcome: Mutex::new(None), panic_line: Mutex::new(None), evt: EventFd::new(EFD_NONBLOCK)? })
    }

    /// Records that the console showed a kernel panic. The reset the guest
    /// performs next is then reported as this panic.
    pub fn note_panic(&self, line: String) {
        let mut p = self.panic_line.lock().unwrap_or_else(PoisonError::into_inner);
        if p.is_none() {
            tracing::info!(%line, "guest kernel panic seen on the console");
            *p = Some(line);
        }
    }

    /// Posts why the VM ended. Only the first post counts.
    pub fn post(&self, exit: VmExit) {
        let exit = match exit {
            VmExit::GuestReset | VmExit::GuestPowerOff | VmExit::TripleFault { .. } => {
                match self.panic_line.lock().unwrap_or_else(PoisonError::into_inner).clone() {
                    Some(line) => VmExit::GuestPanic(line),
                    None => exit,
                }
            }
            other => other,
        };
        let mut outcome = self.outcome.lock().unwrap_or_else(PoisonError::into_inner);
        if outcome.is_some() {
            tracing::debug!(exit = %exit.headline(), "VM already ending; ignoring later exit reason");
            return;
        }
        tracing::info!(exit = %exit.headline(), "VM exit");
        *outcome = Some(exit);
        if let Err(e) = self.evt.write(1) {
            tracing::error!(error = %e, "cannot signal VM exit");
        }
    }

    /// The reason, once one was posted.
    pub fn outcome(&self) -> Option<VmExit> {
        self.outcome.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

impl AsRawFd for ExitSignal {
    fn as_raw_fd(&self) -> RawFd {
        self.evt.as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_reason_wins_and_fires_the_eventfd() {
        let s = ExitSignal::new().unwrap();
        assert_eq!(s.outcome(), None);
        s.post(VmExit::GuestReset);
        s.post(VmExit::VmmError("late".into()));
        assert_eq!(s.outcome(), Some(VmExit::GuestReset));
        assert!(s.outcome().unwrap().is_success());
        assert_eq!(s.evt.read().unwrap(), 1);
    }

    #[test]
    fn a_reset_after_a_panic_is_a_panic() {
        let s = ExitSignal::new().unwrap();
        s.note_panic("Kernel panic - not syncing: No init found".into());
        s.note_panic("Kernel panic - second".into());
        s.post(VmExit::GuestReset);
        let out = s.outcome().unwrap();
        assert!(!out.is_success());
        assert_eq!(out.to_string(), "guest kernel panicked: Kernel panic - not syncing: No init found");
    }
}
