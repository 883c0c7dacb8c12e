//! `berth-vmm`: the VMM as a command.
//!
//! `berth-vmm run --kernel K [--initramfs I] [--cmdline C] [--cpus N]
//! [--memory MIB] [--serial stdout|none|file:PATH] [--disk PATH[,ro]]
//! [--vsock CID:PATH] [--tap NAME] [--passt SOCKET] [--rng] [--fs TAG:SOCKET]
//! [--seccomp enforce|log|off] [--acpi auto|on|off] [--stop-timeout SECS]`, or
//! `berth-vmm run --config vm.json` (flags override the file); and
//! `berth-vmm check-kvm`. Exit status: 0 when the guest reset or powered
//! off (or the host stopped it), 1 when it panicked or the VMM failed, 2 for
//! a configuration that cannot boot (one line on stderr). SIGTERM/SIGINT
//! asks the guest to shut down (Ctrl-Alt-Del) and stops it after the grace
//! period; a second signal stops it at once. Logs go to stderr, filtered by
//! `BERTH_VMM_LOG` (e.g. `info`, `berth_vmm=debug`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use berth_vmm::builder::{self, BuildError, StopHandle};
use berth_vmm::config::{AcpiMode, DiskConfig, FsConfig, NetConfig, SerialOutput, VmConfig, VsockConfig};
use berth_vmm::exit::VmExit;
use berth_vmm::kvm_probe::KvmReport;
use berth_vmm::seccomp::SeccompMode;
use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(name = "berth-vmm", version, about = "berth's KVM micro-VM monitor")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Open /dev/kvm, check its API version, create a VM, and say whether a
    /// Linux guest can boot on this host's KVM.
    CheckKvm,
    /// Boot a VM and run it until the guest resets, powers off or panics.
    Run(Box<RunArgs>),
}

#[derive(Args)]
struct RunArgs {
    /// A JSON VM config; flags given beside it override its fields.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Kernel image: ELF vmlinux (PVH preferred) or bzImage.
    #[arg(long, required_unless_present = "config")]
    kernel: Option<PathBuf>,
    /// Initramfs (cpio, optionally compressed) handed to the kernel.
    #[arg(long)]
    initramfs: Option<PathBuf>,
    /// Kernel command line (replaces the default).
    #[arg(long)]
    cmdline: Option<String>,
    /// Number of vCPUs.
    #[arg(long)]
    cpus: Option<u8>,
    /// Guest memory in MiB.
    #[arg(long)]
    memory: Option<u64>,
    /// Where the serial console goes: stdout, none, or file:PATH.
    #[arg(long, value_parser = SerialOutput::parse_flag)]
    serial: Option<SerialOutput>,
    /// A raw disk image, `PATH` or `PATH,ro`; repeatable.
    #[arg(long, value_parser = DiskConfig::parse_flag)]
    disk: Vec<DiskConfig>,
    /// vsock device as `CID:UDS_PATH` (Firecracker-style hybrid vsock).
    #[arg(long, value_parser = parse_vsock)]
    vsock: Option<VsockConfig>,
    /// A TAP interface name; repeatable.
    #[arg(long)]
    tap: Vec<String>,
    /// A passt UNIX socket (unprivileged networking); repeatable.
    #[arg(long)]
    passt: Vec<PathBuf>,
    /// Add a virtio-rng device.
    #[arg(long)]
    rng: bool,
    /// A host folder over virtio-fs, `TAG:SOCKET` where a vhost-user
    /// backend (virtiofsd) listens; repeatable.
    #[arg(long, value_parser = FsConfig::parse_flag)]
    fs: Vec<FsConfig>,
    /// Seccomp filters on the vCPU and device threads: enforce, log
    /// (violations allowed and logged by the kernel) or off.
    #[arg(long, value_parser = SeccompMode::parse_flag)]
    seccomp: Option<SeccompMode>,
    /// ACPI tables for the guest: auto (unless the command line says
    /// acpi=off), on (and no virtio_mmio.device= entries), or off.
    #[arg(long, value_parser = AcpiMode::parse_flag)]
    acpi: Option<AcpiMode>,
    /// The kernel's System.map, for naming RIP when a vCPU crashes (by
    /// default the one beside the kernel, else the kernel ELF's symbols).
    #[arg(long)]
    system_map: Option<PathBuf>,
    /// Seconds the guest gets to shut down after SIGTERM/SIGINT before the
    /// VM is stopped anyway.
    #[arg(long, default_value_t = 10)]
    stop_timeout: u64,
}

fn parse_vsock(s: &str) -> Result<VsockConfig, String> {
    let (cid, path) = s.split_once(':').ok_or("expected CID:PATH")?;
    let guest_cid = cid.parse().map_err(|_| format!("CID {cid:?} is not a number"))?;
    Ok(VsockConfig { guest_cid, uds_path: PathBuf::from(path) })
}

impl RunArgs {
    fn into_config(self) -> Result<VmConfig, BuildError> {
        let mut c = match &self.config {
            Some(path) => VmConfig::from_json_file(path)?,
            None => VmConfig::with_kernel(self.kernel.clone().unwrap_or_default()),
        };
        if let Some(k) = self.kernel {
            c.kernel = k;
        }
        if self.initramfs.is_some() {
            c.initramfs = self.initramfs;
        }
        if let Some(cmdline) = self.cmdline {
            c.cmdline = cmdline;
        }
        if let Some(n) = self.cpus {
            c.vcpus = n;
        }
        if let Some(m) = self.memory {
            c.memory_mib = m;
        }
        if let Some(s) = self.serial {
            c.serial = s;
        }
        c.disks.extend(self.disk);
        if self.vsock.is_some() {
            c.vsock = self.vsock;
        }
        c.net.extend(self.tap.into_iter().map(|name| NetConfig::Tap { name, mac: None }));
        c.net.extend(self.passt.into_iter().map(|socket| NetConfig::Passt { socket, mac: None }));
        c.rng |= self.rng;
        c.fs.extend(self.fs);
        if let Some(mode) = self.acpi {
            c.acpi = mode;
        }
        if let Some(mode) = self.seccomp {
            c.seccomp = mode;
        }
        if self.system_map.is_some() {
            c.system_map = self.system_map;
        }
        Ok(c)
    }
}

fn main() -> ExitCode {
    berth_vmm::timeline::start();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("BERTH_VMM_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    berth_vmm::timeline::mark("main: logging set up");
    let cli = Cli::parse();
    berth_vmm::timeline::mark("main: arguments parsed");
    match cli.command {
        Command::CheckKvm => check_kvm(),
        Command::Run(args) => run(*args),
    }
}

fn check_kvm() -> ExitCode {
    match KvmReport::probe() {
        Ok(report) => {
            println!("/dev/kvm: KVM API version {}", report.api_version);
            println!("VM created: yes (up to {} vCPUs)", report.max_vcpus);
            println!("KVM flavor: {}", report.flavor);
            if let Some(advice) = report.advice() {
                println!("note: {advice}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("berth-vmm: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: RunArgs) -> ExitCode {
    // Block SIGTERM/SIGINT before any thread exists, so every thread
    // inherits the mask and only the signal thread receives them.
    let signals = match block_stop_signals() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("berth-vmm: cannot set up signal handling: {e}");
            return ExitCode::FAILURE;
        }
    };
    let grace = args.stop_timeout;
    let built = args.into_config().and_then(|config| builder::build(&config));
    let vmm = match built {
        Ok(vmm) => vmm,
        Err(e) => {
            eprintln!("berth-vmm: {e}");
            return ExitCode::from(2);
        }
    };
    spawn_signal_thread(signals, vmm.stop_handle(), Duration::from_secs(grace));
    let exit = vmm.wait();
    match &exit {
        VmExit::GuestReset | VmExit::GuestPowerOff | VmExit::Stopped => ExitCode::SUCCESS,
        other => {
            eprintln!("berth-vmm: {other}");
            ExitCode::FAILURE
        }
    }
}

fn block_stop_signals() -> std::io::Result<libc::sigset_t> {
    // SAFETY: `set` is a local sigset_t initialised by sigemptyset before
    // use; pthread_sigmask only reads it.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGINT);
        let rc = libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        if rc != 0 {
            return Err(std::io::Error::from_raw_os_error(rc));
        }
        Ok(set)
    }
}

/// A repeat of the first stop signal within this window is the same request
/// delivered twice, not an impatient user: GNU `timeout`, systemd's
/// control-group kill and shells' job control signal both the process and
/// its process group, so one `kill` arrives as two SIGTERMs microseconds
/// apart.
const SAME_REQUEST_WINDOW: Duration = Duration::from_secs(1);

/// Turns SIGTERM/SIGINT into a stop: the first asks the guest to shut
/// down (Ctrl-Alt-Del) and starts the grace period; another signal (after
/// [`SAME_REQUEST_WINDOW`], or a different one), or the end of the grace
/// period, stops the VM at once.
fn spawn_signal_thread(set: libc::sigset_t, stop: StopHandle, grace: Duration) {
    let spawned = std::thread::Builder::new().name("signals".into()).spawn(move || {
        let mut asked: Option<(libc::c_int, std::time::Instant)> = None;
        loop {
            let mut sig: libc::c_int = 0;
            // SAFETY: `set` holds signals blocked in every thread; sigwait
            // writes the received signal number into `sig`.
            if unsafe { libc::sigwait(&set, &mut sig) } != 0 {
                return;
            }
            if let Some((first, at)) = asked {
                if first == sig && at.elapsed() < SAME_REQUEST_WINDOW {
                    tracing::debug!(signal = sig, "repeated stop signal ignored (same request)");
                    continue;
                }
                tracing::info!(signal = sig, "second stop request: stopping the VM now");
                stop.force();
                return;
            }
            asked = Some((sig, std::time::Instant::now()));
            tracing::info!(
                signal = sig,
                grace_s = grace.as_secs_f64(),
                "stop requested: asking the guest to shut down"
            );
            stop.ask_guest();
            let timer_stop = stop.clone();
            let timer = std::thread::Builder::new().name("stop-timer".into()).spawn(move || {
                std::thread::sleep(grace);
                tracing::warn!("the guest did not shut down in time; stopping the VM");
                timer_stop.force();
            });
            if timer.is_err() {
                stop.force();
            }
        }
    });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "no signal thread: SIGTERM will not stop the VM cleanly");
    }
}
