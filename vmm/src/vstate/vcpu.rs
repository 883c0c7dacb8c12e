//! One vCPU: its boot state, and the thread that runs it.
//!
//! The run loop enters the guest with `KVM_RUN` and dispatches each exit:
//! port and MMIO accesses go to the buses, a triple fault or a KVM system
//! event ends the VM through the `ExitSignal`. An exit that means the
//! guest crashed (triple fault, emulation failure, failed entry, unknown
//! exit) carries a `CrashReport` taken here, while the vCPU fd is still
//! open. The loop leaves when the VM
//! is ending; the VMM kicks it out of `KVM_RUN` with a signal. A vCPU
//! thread never blocks on anything but `KVM_RUN` and a device mutex.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Once};
use std::thread::JoinHandle;

use kvm_bindings::CpuId;
use kvm_ioctls::{VcpuExit, VcpuFd};
use vm_memory::GuestMemoryMmap;
use vmm_sys_util::signal::{Killable, SIGRTMIN, register_signal_handler};

use crate::arch::x86_64::{cpuid, lapic, regs};
use crate::devices::bus::Bus;
use crate::exit::{ExitSignal, VmExit};
use crate::seccomp::{self, ThreadFilters};
use crate::vstate::crash_report::{self, CrashReport};

/// `KVM_SYSTEM_EVENT_*` types.
const SYSTEM_EVENT_SHUTDOWN: u32 = 1;
const SYSTEM_EVENT_RESET: u32 = 2;
const SYSTEM_EVENT_CRASH: u32 = 3;

#[derive(Debug, thiserror::Error)]
pub enum VcpuError {
    #[error("vCPU {index}: {what}: {source}")]
    Kvm { index: u8, what: &'static str, source: kvm_ioctls::Error },
    #[error("vCPU {index}: {source}")]
    Regs { index: u8, source: regs::RegsError },
    #[error("cannot start vCPU {index} thread: {source}")]
    Spawn { index: u8, source: std::io::Error },
    #[error("cannot install the vCPU kick signal handler: {0}")]
    Signal(vmm_sys_util::errno::Error),
}

/// The two address spaces a vCPU's exits are routed through.
pub struct IoBuses {
    pub pio: Bus,
    pub mmio: Bus,
}

/// A created, not yet running, vCPU.
pub struct Vcpu {
    index: u8,
    fd: VcpuFd,
}

/// The signal that kicks a vCPU thread out of `KVM_RUN`.
fn kick_signal() -> i32 {
    SIGRTMIN()
}

extern "C" fn on_kick(_: libc::c_int, _: *mut libc::siginfo_t, _: *mut libc::c_void) {
    // Nothing to do: the signal's only job is to make KVM_RUN return EINTR.
}

/// Installs the kick handler once per process.
fn install_kick_handler() -> Result<(), VcpuError> {
    static ONCE: Once = Once::new();
    let mut result = Ok(());
    ONCE.call_once(|| result = register_signal_handler(kick_signal(), on_kick).map_err(VcpuError::Signal));
    result
}

impl Vcpu {
    pub fn new(index: u8, fd: VcpuFd) -> Self {
        Vcpu { index, fd }
    }

    fn kvm_err(&self, what: &'static str) -> impl FnOnce(kvm_ioctls::Error) -> VcpuError {
        let index = self.index;
        move |source| VcpuError::Kvm { index, what, source }
    }

    /// Sets CPUID, MSRs, FPU and LAPIC wiring; for the boot vCPU also the
    /// entry registers. Other vCPUs wait in the reset state for the
    /// kernel's INIT-SIPI.
    pub fn configure(&self, supported: &CpuId, count: u8, boot: Option<regs::EntryPoint>) -> Result<(), VcpuError> {
        let mut cpuid = supported.clone();
        cpuid::personalise(cpuid.as_mut_slice(), self.index, count);
        self.fd.set_cpuid2(&cpuid).map_err(self.kvm_err("KVM_SET_CPUID2"))?;
        let index = self.index;
        regs::setup_msrs(&self.fd).map_err(|source| VcpuError::Regs { index, source })?;
        regs::setup_fpu(&self.fd).map_err(|source| VcpuError::Regs { index, source })?;
        lapic::setup_lints(&self.fd).map_err(self.kvm_err("setting up LAPIC LINT0/LINT1"))?;
        if let Some(entry) = boot {
            regs::setup_regs(&self.fd, entry).map_err(|source| VcpuError::Regs { index, source })?;
            regs::setup_sregs(&self.fd, entry).map_err(|source| VcpuError::Regs { index, source })?;
        }
        Ok(())
    }

    /// Starts the vCPU's thread, which installs `filters` before its first
    /// `KVM_RUN`. `mem` is read only for a crash report.
    pub fn start(
        self,
        buses: Arc<IoBuses>,
        mem: Arc<GuestMemoryMmap>,
        exit: Arc<ExitSignal>,
        stopping: Arc<AtomicBool>,
        filters: Arc<ThreadFilters>,
    ) -> Result<VcpuHandle, VcpuError> {
        install_kick_handler()?;
        let index = self.index;
        let thread = std::thread::Builder::new()
            .name(format!("vcpu{index}"))
            .spawn(move || {
                if let Err(e) = seccomp::install(&filters) {
                    exit.post(VmExit::VmmError(format!("vCPU {index}: {e}")));
                    return;
                }
                self.run(&buses, &mem, &exit, &stopping)
            })
            .map_err(|source| VcpuError::Spawn { index, source })?;
        Ok(VcpuHandle { index, thread })
    }

    /// The state of this vCPU, for an exit that ends the VM in a crash.
    fn crash(&self, mem: &GuestMemoryMmap, kvm: Vec<String>) -> Box<CrashReport> {
        Box::new(CrashReport::capture(&self.fd, mem, kvm))
    }

    fn run(mut self, buses: &IoBuses, mem: &GuestMemoryMmap, exit: &ExitSignal, stopping: &AtomicBool) {
        let index = self.index;
        tracing::debug!(vcpu = index, "running");
        if index == 0 {
            crate::timeline::mark("vcpu0: first KVM_RUN");
        }
        while !stopping.load(Ordering::Acquire) {
            match self.fd.run() {
                Ok(VcpuExit::IoOut(port, data)) => {
                    if !buses.pio.write(u64::from(port), data) {
                        tracing::trace!(vcpu = index, port, "write to unmapped port");
                    }
                }
                Ok(VcpuExit::IoIn(port, data)) => {
                    if !buses.pio.read(u64::from(port), data) {
                        // An empty ISA bus reads as all-ones.
                        data.fill(0xff);
                    }
                }
                Ok(VcpuExit::MmioWrite(addr, data)) => {
                    if !buses.mmio.write(addr, data) {
                        tracing::debug!(vcpu = index, addr = format_args!("{addr:#x}"), "write to unmapped MMIO");
                    }
                }
                Ok(VcpuExit::MmioRead(addr, data)) => {
                    if !buses.mmio.read(addr, data) {
                        data.fill(0xff);
                    }
                }
                Ok(VcpuExit::Shutdown) => {
                    exit.post(VmExit::TripleFault { vcpu: index, report: self.crash(mem, Vec::new()) });
                    break;
                }
                Ok(VcpuExit::SystemEvent(kind, _)) => {
                    exit.post(match kind {
                        SYSTEM_EVENT_SHUTDOWN => VmExit::GuestPowerOff,
                        SYSTEM_EVENT_RESET => VmExit::GuestReset,
                        SYSTEM_EVENT_CRASH => VmExit::GuestPanic("KVM reported a guest crash".into()),
                        other => VmExit::VmmError(format!("vCPU {index}: unknown KVM system event {other}")),
                    });
                    break;
                }
                Ok(VcpuExit::Hlt) => {
                    // With the in-kernel LAPIC, HLT never exits; if it does,
                    // the guest has nothing left to run on this CPU.
                    tracing::warn!(vcpu = index, "HLT exit with an in-kernel irqchip");
                }
                Ok(VcpuExit::Intr) => {}
                Ok(VcpuExit::FailEntry(reason, cpu)) => {
                    let what = format!("VM entry failed (hardware reason {reason:#x} on host CPU {cpu})");
                    exit.post(VmExit::VcpuFault { vcpu: index, what, report: self.crash(mem, Vec::new()) });
                    break;
                }
                Ok(VcpuExit::InternalError) => {
                    let (suberror, lines, insn) = crash_report::internal_error(&mut self.fd);
                    let mut report = self.crash(mem, lines);
                    report.kvm_insn = insn;
                    exit.post(if suberror == kvm_bindings::KVM_INTERNAL_ERROR_EMULATION {
                        VmExit::EmulationFailure { vcpu: index, report }
                    } else {
                        let what = "KVM internal error (is this host's KVM able to run this kernel? try `berth-vmm check-kvm`)";
                        VmExit::VcpuFault { vcpu: index, what: what.into(), report }
                    });
                    break;
                }
                Ok(other) => {
                    let what = format!("unexpected KVM exit {other:?}");
                    exit.post(VmExit::VcpuFault { vcpu: index, what, report: self.crash(mem, Vec::new()) });
                    break;
                }
                Err(e) if e.errno() == libc::EINTR || e.errno() == libc::EAGAIN => {}
                Err(e) => {
                    exit.post(VmExit::VmmError(format!("vCPU {index}: KVM_RUN failed: {e}")));
                    break;
                }
            }
        }
        tracing::debug!(vcpu = index, "stopped");
    }
}

/// A running vCPU thread.
pub struct VcpuHandle {
    index: u8,
    thread: JoinHandle<()>,
}

impl VcpuHandle {
    /// Interrupts `KVM_RUN` so the thread sees the stop flag. A kick that
    /// lands just before the thread enters the guest is lost, so callers
    /// repeat it until the thread has finished.
    pub fn kick(&self) {
        if self.thread.is_finished() {
            return;
        }
        if let Err(e) = self.thread.kill(kick_signal()) {
            tracing::debug!(vcpu = self.index, error = %e, "kick failed");
        }
    }

    pub fn is_finished(&self) -> bool {
        self.thread.is_finished()
    }

    pub fn join(self) {
        if self.thread.join().is_err() {
            tracing::error!(vcpu = self.index, "vCPU thread panicked");
        }
    }
}
