//! Turns a validated `VmConfig` into a running VM.
//!
//! The one place that knows the order things must happen in: guest memory
//! (shared memfds when a vhost-user backend must map it),
//! the KVM VM and its irqchip, devices (each with its bus slot, interrupt
//! line and queue ioeventfds), the kernel and boot structures, the vCPUs,
//! and finally the threads. Data flows one way: config → builder → `Vmm`;
//! nothing built here reads the config again.

use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kvm_bindings::KVM_MAX_CPUID_ENTRIES;
use kvm_ioctls::Kvm;
use vm_memory::GuestMemoryMmap;

use crate::arch::x86_64::acpi::{self, AcpiDevices, AcpiError};
use crate::arch::x86_64::boot_params::{self, BootInfo};
use crate::arch::x86_64::layout::{
    ACPI_SLEEP_PORT, IRQ_FIRST_FREE, IRQ_MAX, SERIAL_IRQ, VIRTIO_MMIO_SLOT_SIZE, VIRTIO_MMIO_START,
};
use crate::arch::x86_64::mptable;
use crate::arch::x86_64::regs::{self, EntryPoint};
use crate::config::{ConfigError, NetConfig, SerialOutput, VmConfig};
use crate::devices::bus::{Bus, BusError};
use crate::devices::irq::IrqLine;
use crate::devices::legacy::acpi_sleep::{ACPI_SLEEP_PORT_LEN, AcpiSleep};
use crate::devices::legacy::console::{ConsoleSink, ConsoleTail};
use crate::devices::legacy::i8042::{I8042, I8042_PORT_BASE, I8042_PORT_LEN, KBD_IRQ};
use crate::devices::legacy::serial::{SERIAL_PORT_BASE, SERIAL_PORT_LEN, SerialDevice};
use crate::devices::virtio::block::BlockDevice;
use crate::devices::virtio::fs::{BackendError, FsDevice};
use crate::devices::virtio::mmio::{MmioTransport, REG_QUEUE_NOTIFY};
use crate::devices::virtio::net::NetDevice;
use crate::devices::virtio::rng::RngDevice;
use crate::devices::virtio::vsock::VsockDevice;
use crate::devices::virtio::{VirtioDevice, VirtioInterrupt};
use crate::event_loop::{EventLoop, EventLoopError, Subscriber};
use crate::exit::{ExitSignal, VmExit};
use crate::loader::{self, LoaderError};
use crate::seccomp::{self, ThreadRole};
use crate::symbols;
use crate::timeline;
use crate::vstate::memory::{self, Backing, GuestRam, MemoryError};
use crate::vstate::vcpu::{IoBuses, Vcpu, VcpuError, VcpuHandle};
use crate::vstate::vm::{Vm, VmError};

/// Everything that can stop a VM from being built, each with its context.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot open /dev/kvm: {0}")]
    Kvm(kvm_ioctls::Error),
    #[error("cannot read KVM's supported CPUID: {0}")]
    Cpuid(kvm_ioctls::Error),
    #[error(transparent)]
    Memory(#[from] MemoryError),
    #[error(transparent)]
    Vm(#[from] VmError),
    #[error(transparent)]
    Vcpu(#[from] VcpuError),
    #[error(transparent)]
    Loader(#[from] LoaderError),
    #[error("writing boot state: {0}")]
    Regs(#[from] regs::RegsError),
    #[error("writing boot parameters: {0}")]
    BootParams(#[from] boot_params::BootParamsError),
    #[error(transparent)]
    Mptable(#[from] mptable::MptableError),
    #[error(transparent)]
    Acpi(#[from] AcpiError),
    #[error("placing a device: {0}")]
    Bus(#[from] BusError),
    #[error("too many devices: no interrupt line left above {IRQ_MAX}")]
    OutOfIrqs,
    #[error("cannot create an eventfd: {0}")]
    EventFd(std::io::Error),
    #[error("cannot open serial output {path}: {source}")]
    SerialOutput { path: String, source: std::io::Error },
    #[error("{what}: {source}")]
    Device { what: String, source: std::io::Error },
    #[error("virtio-fs share {tag:?}: {source}")]
    Fs { tag: String, source: BackendError },
    #[error(transparent)]
    EventLoop(#[from] EventLoopError),
    #[error(transparent)]
    Seccomp(#[from] seccomp::SeccompError),
}

/// Hands out virtio-mmio slots and interrupt lines in order.
struct DeviceSlots {
    next_addr: u64,
    next_irq: u32,
    announced: Vec<(u64, u32)>,
}

impl DeviceSlots {
    fn new() -> Self {
        DeviceSlots { next_addr: VIRTIO_MMIO_START, next_irq: IRQ_FIRST_FREE, announced: Vec::new() }
    }

    fn allocate(&mut self) -> Result<(u64, u32), BuildError> {
        if self.next_irq > IRQ_MAX {
            return Err(BuildError::OutOfIrqs);
        }
        let slot = (self.next_addr, self.next_irq);
        self.next_addr += VIRTIO_MMIO_SLOT_SIZE;
        self.next_irq += 1;
        self.announced.push(slot);
        Ok(slot)
    }
}

/// A running VM: its vCPU threads, its device thread, and what they share.
/// Field order matters: threads are joined in `wait`, and the VM (whose
/// memory slots point into `mem`) is dropped before `mem`.
pub struct Vmm {
    vcpus: Vec<VcpuHandle>,
    event_loop: Option<EventLoop>,
    exit: Arc<ExitSignal>,
    keyboard: Arc<Mutex<I8042>>,
    stopping: Arc<AtomicBool>,
    crash: CrashContext,
    /// The devices, held here so that the last reference is dropped on the
    /// caller's (unfiltered) thread after the others are joined: a device's
    /// drop may make syscalls a vCPU thread's seccomp filter does not allow
    /// (the vsock device unlinks its socket).
    _buses: Arc<IoBuses>,
    _vm: Vm,
    _ram: GuestRam,
}

/// What a crash report is completed with after the vCPUs stop: where the
/// kernel's symbols are, and the console's last lines.
struct CrashContext {
    kernel: PathBuf,
    system_map: Option<PathBuf>,
    console: ConsoleTail,
}

impl CrashContext {
    /// Names RIP and adds the console tail to `exit`'s report, if it has
    /// one, and logs it.
    fn complete(&self, mut exit: VmExit) -> VmExit {
        if let Some(report) = exit.report_mut() {
            let symbols = symbols::load(&self.kernel, self.system_map.as_deref());
            report.complete(symbols.as_ref().map_err(ToString::to_string), self.console.lines());
            // One line for the log; the exit itself carries the report.
            let summary = report.summary();
            tracing::error!("{}: {summary}", exit.headline());
        }
        exit
    }
}

/// How the host ends a running VM, from any thread.
#[derive(Clone)]
pub struct StopHandle {
    keyboard: Arc<Mutex<I8042>>,
    exit: Arc<ExitSignal>,
}

impl StopHandle {
    /// Asks the guest to shut down by typing Ctrl-Alt-Del: Linux sends its
    /// init SIGINT (or reboots at once if init left Ctrl-Alt-Del enabled).
    /// The guest may ignore it; pair with [`StopHandle::force`] after a
    /// grace period.
    pub fn ask_guest(&self) {
        self.keyboard.lock().unwrap_or_else(std::sync::PoisonError::into_inner).ctrl_alt_del();
    }

    /// Ends the VM now, whatever the guest is doing.
    pub fn force(&self) {
        self.exit.post(VmExit::Stopped);
    }
}

impl Vmm {
    /// A handle to stop the VM from another thread (e.g. on SIGTERM).
    pub fn stop_handle(&self) -> StopHandle {
        StopHandle { keyboard: self.keyboard.clone(), exit: self.exit.clone() }
    }

    /// Blocks until the VM ends, stops every thread, and says why it ended
    /// (a crash with its full report).
    pub fn wait(mut self) -> VmExit {
        let outcome = loop {
            if let Some(outcome) = self.exit.outcome() {
                break outcome;
            }
            let mut pfd = libc::pollfd { fd: self.exit.as_raw_fd(), events: libc::POLLIN, revents: 0 };
            // SAFETY: `pfd` is a valid pollfd for the duration of the call
            // and the count is 1; poll writes only `revents`.
            unsafe { libc::poll(&mut pfd, 1, 1000) };
        };
        self.stop_threads();
        self.crash.complete(outcome)
    }

    fn stop_threads(&mut self) {
        self.stopping.store(true, Ordering::Release);
        // A kick that arrives just before KVM_RUN is lost: repeat until
        // every vCPU thread has seen the flag.
        while self.vcpus.iter().any(|v| !v.is_finished()) {
            self.vcpus.iter().for_each(VcpuHandle::kick);
            std::thread::sleep(Duration::from_millis(5));
        }
        self.vcpus.drain(..).for_each(VcpuHandle::join);
        if let Some(l) = self.event_loop.take() {
            l.join();
        }
    }
}

impl Drop for Vmm {
    /// A `Vmm` dropped without `wait` still stops its threads before its
    /// guest memory goes away.
    fn drop(&mut self) {
        if !self.vcpus.is_empty() || self.event_loop.is_some() {
            self.exit.post(VmExit::Stopped);
            self.stop_threads();
        }
    }
}

fn serial_output(serial: &SerialOutput) -> Result<Option<Box<dyn Write + Send>>, BuildError> {
    Ok(match serial {
        SerialOutput::Stdout => Some(Box::new(std::io::stdout())),
        SerialOutput::None => None,
        // Size-capped: the guest decides how much it prints.
        SerialOutput::File(path) => Some(Box::new(
            crate::rotating_log::RotatingLog::open(path, crate::rotating_log::DEFAULT_CAP)
                .map_err(|source| BuildError::SerialOutput { path: path.display().to_string(), source })?,
        )),
    })
}

/// Attaches one virtio device: a bus slot, an irqfd, queue ioeventfds and
/// a subscription on the device thread.
fn attach_virtio<D>(
    device: D,
    vm: &Vm,
    mem: &Arc<GuestMemoryMmap>,
    slots: &mut DeviceSlots,
    mmio: &mut Bus,
    subscribers: &mut Vec<Subscriber>,
) -> Result<(), BuildError>
where
    D: VirtioDevice + event_manager::MutEventSubscriber + 'static,
{
    let (addr, gsi) = slots.allocate()?;
    let line = IrqLine::new(gsi).map_err(BuildError::EventFd)?;
    vm.register_irqfd(line.eventfd(), gsi)?;
    for (i, evt) in device.queue_events().iter().enumerate() {
        vm.register_ioevent(evt, addr + REG_QUEUE_NOTIFY, i as u32)?;
    }
    let device = Arc::new(Mutex::new(device));
    let interrupt = Arc::new(VirtioInterrupt::new(line));
    let transport = MmioTransport::new(device.clone(), mem.clone(), interrupt);
    mmio.insert(Arc::new(Mutex::new(transport)), addr, VIRTIO_MMIO_SLOT_SIZE)?;
    subscribers.push(device);
    Ok(())
}

fn device_err(what: String) -> impl FnOnce(std::io::Error) -> BuildError {
    move |source| BuildError::Device { what, source }
}

/// Builds and starts the VM that `config` describes.
pub fn build(config: &VmConfig) -> Result<Vmm, BuildError> {
    timeline::mark("build: start");
    let format = config.validate()?;
    let kvm = Kvm::new().map_err(BuildError::Kvm)?;
    // A vhost-user backend maps guest RAM itself.
    let backing = if config.fs.is_empty() { Backing::Private } else { Backing::Shared };
    let ram = memory::create_guest_memory(config.memory_mib, backing)?;
    let mem = ram.memory();
    timeline::mark("build: guest memory mapped");
    // The kernel and initramfs copies run while the VM is set up.
    let load = loader::LoadJob::start(mem.clone(), config.kernel.clone(), format, config.initramfs.clone());
    let vm = Vm::new(&kvm)?;
    vm.register_memory(&kvm, mem)?;
    timeline::mark("build: VM and irqchip created");
    let exit = Arc::new(ExitSignal::new().map_err(BuildError::EventFd)?);

    // Legacy devices on the port bus.
    let mut pio = Bus::new();
    let serial_irq = IrqLine::new(SERIAL_IRQ).map_err(BuildError::EventFd)?;
    vm.register_irqfd(serial_irq.eventfd(), SERIAL_IRQ)?;
    let sink = ConsoleSink::new(serial_output(&config.serial)?, exit.clone());
    let crash =
        CrashContext { kernel: config.kernel.clone(), system_map: config.system_map.clone(), console: sink.tail() };
    pio.insert(Arc::new(Mutex::new(SerialDevice::new(serial_irq, sink))), SERIAL_PORT_BASE, SERIAL_PORT_LEN)?;
    let kbd_irq = IrqLine::new(KBD_IRQ).map_err(BuildError::EventFd)?;
    vm.register_irqfd(kbd_irq.eventfd(), KBD_IRQ)?;
    let keyboard = Arc::new(Mutex::new(I8042::new(exit.clone(), kbd_irq)));
    pio.insert(keyboard.clone(), I8042_PORT_BASE, I8042_PORT_LEN)?;
    pio.insert(Arc::new(Mutex::new(AcpiSleep::new(exit.clone()))), ACPI_SLEEP_PORT, ACPI_SLEEP_PORT_LEN)?;

    // virtio devices on the MMIO bus.
    let mut mmio = Bus::new();
    let mut slots = DeviceSlots::new();
    let mut subscribers: Vec<Subscriber> = Vec::new();
    for disk in &config.disks {
        let dev = BlockDevice::open(&disk.path, disk.read_only)
            .map_err(device_err(format!("disk {}", disk.path.display())))?;
        attach_virtio(dev, &vm, mem, &mut slots, &mut mmio, &mut subscribers)?;
    }
    if let Some(vsock) = &config.vsock {
        let dev = VsockDevice::new(vsock.guest_cid, &vsock.uds_path)
            .map_err(device_err(format!("vsock socket {}", vsock.uds_path.display())))?;
        attach_virtio(dev, &vm, mem, &mut slots, &mut mmio, &mut subscribers)?;
    }
    for net in &config.net {
        let mac = net.mac().and_then(crate::config::parse_mac);
        let dev = match net {
            NetConfig::Tap { name, .. } => {
                NetDevice::open_tap(name, mac).map_err(device_err(format!("TAP interface {name}")))?
            }
            NetConfig::Passt { socket, .. } => NetDevice::connect_passt(socket, mac)
                .map_err(device_err(format!("passt socket {}", socket.display())))?,
        };
        attach_virtio(dev, &vm, mem, &mut slots, &mut mmio, &mut subscribers)?;
    }
    if config.rng {
        let dev = RngDevice::new().map_err(device_err("rng".into()))?;
        attach_virtio(dev, &vm, mem, &mut slots, &mut mmio, &mut subscribers)?;
    }
    for fs in &config.fs {
        let dev = FsDevice::connect(&fs.tag, &fs.socket, fs.queue_size, ram.shared_regions())
            .map_err(|source| BuildError::Fs { tag: fs.tag.clone(), source })?;
        attach_virtio(dev, &vm, mem, &mut slots, &mut mmio, &mut subscribers)?;
    }

    timeline::mark("build: devices attached");

    // Kernel, initramfs, command line and boot structures.
    let (kernel, initramfs) = load.wait()?;
    timeline::mark("build: kernel and initramfs loaded");
    let on_cmdline: &[(u64, u32)] = if config.acpi.announces_on_cmdline() { &slots.announced } else { &[] };
    let cmdline = loader::build_cmdline(&config.cmdline, on_cmdline)?;
    let cmdline_len = loader::write_cmdline(mem, &cmdline)?;
    let rsdp = if config.acpi.writes_tables(&config.cmdline) {
        let devices = AcpiDevices { vcpus: config.vcpus, virtio_mmio: &slots.announced };
        Some(acpi::write_acpi_tables(mem, &devices)?)
    } else {
        None
    };
    let info = BootInfo { mem_size: config.memory_mib << 20, cmdline_len, initramfs, rsdp };
    regs::write_boot_tables(mem, kernel.entry)?;
    match kernel.entry {
        EntryPoint::Pvh { .. } => boot_params::write_pvh_start_info(mem, &info)?,
        EntryPoint::Linux64 { .. } => boot_params::write_zero_page(mem, &info, kernel.setup_header)?,
    }
    mptable::setup_mptable(mem, config.vcpus)?;
    timeline::mark("build: boot tables written");
    tracing::info!(entry = ?kernel.entry, vcpus = config.vcpus, memory_mib = config.memory_mib, acpi = rsdp.is_some(), "kernel loaded");

    // vCPUs.
    let supported = kvm.get_supported_cpuid(KVM_MAX_CPUID_ENTRIES).map_err(BuildError::Cpuid)?;
    let mut vcpus = Vec::with_capacity(config.vcpus.into());
    for index in 0..config.vcpus {
        let vcpu = Vcpu::new(index, vm.create_vcpu(index)?);
        vcpu.configure(&supported, config.vcpus, (index == 0).then_some(kernel.entry))?;
        vcpus.push(vcpu);
    }
    timeline::mark("build: vCPUs configured");

    // Threads: devices first, so no notification is missed.
    let stopping = Arc::new(AtomicBool::new(false));
    let vcpu_filters = Arc::new(seccomp::filter_for(ThreadRole::Vcpu, config.seccomp)?);
    let devices_filters = seccomp::filter_for(ThreadRole::Devices, config.seccomp)?;
    timeline::mark("build: seccomp filters compiled");
    let event_loop = EventLoop::start(subscribers, exit.clone(), stopping.clone(), devices_filters)?;
    let buses = Arc::new(IoBuses { pio, mmio });
    // The vCPUs read guest memory only for a crash report.
    let vcpu_mem = mem.clone();
    // The Vmm exists before any vCPU runs: if a vCPU fails to start, dropping
    // it stops the threads already running before the memory goes away.
    let mut vmm = Vmm {
        vcpus: Vec::with_capacity(vcpus.len()),
        event_loop: Some(event_loop),
        exit,
        keyboard,
        stopping,
        crash,
        _buses: buses.clone(),
        _vm: vm,
        _ram: ram,
    };
    for vcpu in vcpus {
        let handle =
            vcpu.start(buses.clone(), vcpu_mem.clone(), vmm.exit.clone(), vmm.stopping.clone(), vcpu_filters.clone())?;
        vmm.vcpus.push(handle);
    }
    timeline::mark("build: vCPU threads started");
    Ok(vmm)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_sequential_and_bounded() {
        let mut s = DeviceSlots::new();
        assert_eq!(s.allocate().unwrap(), (VIRTIO_MMIO_START, IRQ_FIRST_FREE));
        assert_eq!(s.allocate().unwrap(), (VIRTIO_MMIO_START + VIRTIO_MMIO_SLOT_SIZE, IRQ_FIRST_FREE + 1));
        for _ in IRQ_FIRST_FREE + 2..=IRQ_MAX {
            s.allocate().unwrap();
        }
        assert!(matches!(s.allocate(), Err(BuildError::OutOfIrqs)));
        assert_eq!(s.announced.len(), (IRQ_MAX - IRQ_FIRST_FREE + 1) as usize);
    }

    /// A guest printing 40 MiB to its console: console.log stays under the
    /// cap, the previous 16 MiB in console.log.1 (the old file took all 40).
    #[test]
    fn the_console_file_is_size_capped() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("console.log");
        let mut out = serial_output(&SerialOutput::File(p.clone())).unwrap().expect("a writer");
        let line = [b'x'; 1023];
        for _ in 0..40 * 1024 {
            out.write_all(&line).unwrap();
            out.write_all(b"\n").unwrap();
        }
        out.flush().unwrap();
        let cap = crate::rotating_log::DEFAULT_CAP;
        assert!(std::fs::metadata(&p).unwrap().len() <= cap);
        assert!(std::fs::metadata(crate::rotating_log::previous(&p)).unwrap().len() <= cap);
    }
}
