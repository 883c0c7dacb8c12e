//! `berth machine ...`: micro-VMs as machines a user creates, starts,
//! stops and removes, each a directory (see [`layout`]) and, while it runs,
//! one machine process (see [`runner`]) that owns the VMM and the machine's
//! docker.sock.

pub mod config;
pub mod daemon;
pub mod engine_client;
pub mod images;
pub mod layout;
pub mod lock;
pub mod ports;
pub mod private;
pub mod proxy;
pub mod runner;
pub mod shares;
pub mod shell;
pub mod uplink;
pub mod virtiofsd;

use std::io::{BufRead, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use berth_vmm::kvm_probe::{KvmFlavor, KvmReport};

use config::MachineConfig;
use layout::Layout;

/// The machine used when none is named; created on first use.
pub const DEFAULT_MACHINE: &str = "default";

/// What works on a Linux host without a bootable VM: the engine as a host
/// daemon, containers isolated by namespaces and cgroups only.
pub const WITHOUT_A_VM: &str = "containers also run here without a VM: `berth --isolation process run ...` \
     (the engine as a host daemon; process isolation only)";

#[derive(Debug, thiserror::Error)]
pub enum MachineError {
    #[error("machine name {0:?} is not valid (letters, digits, - and _; at most 63)")]
    BadName(String),
    #[error("machine {0} does not exist (create it with `berth machine create {0}`)")]
    NotFound(String),
    #[error("machine {0} already exists")]
    Exists(String),
    #[error("machine {0} is already running")]
    AlreadyRunning(String),
    #[error("machine {0} is running; stop it first or use --force")]
    Running(String),
    #[error(
        "machine {0} is not running: its engine's log is on its data disk; start it with `berth machine start {0}`"
    )]
    NotRunning(String),
    #[error("the engine of machine {name} answered {status}: {message}")]
    Engine { name: String, status: u16, message: String },
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error(transparent)]
    Images(#[from] images::ImagesError),
    #[error("{0}")]
    Kvm(String),
    #[error("the VMM could not start the machine: {0}")]
    Vmm(String),
    #[error("machine {name} failed to boot{reason}; last console lines:\n{console}")]
    Boot { name: String, reason: String, console: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Tool(String),
}

impl MachineError {
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        MachineError::Io { path: path.to_path_buf(), source }
    }
}

pub struct CreateOptions {
    pub cpus: u8,
    pub memory_mib: u64,
    pub disk_gib: u64,
    pub kernel: Option<PathBuf>,
    pub initramfs: Option<PathBuf>,
    /// Host folders to share; `None` means the default (the home directory).
    pub shares: Option<Vec<shares::Share>>,
}

impl Default for CreateOptions {
    fn default() -> Self {
        CreateOptions { cpus: 2, memory_mib: 2048, disk_gib: 20, kernel: None, initramfs: None, shares: None }
    }
}

fn checked(name: &str) -> Result<Layout, MachineError> {
    if !layout::valid_name(name) {
        return Err(MachineError::BadName(name.into()));
    }
    Ok(Layout::new(name))
}

fn existing(name: &str) -> Result<Layout, MachineError> {
    let l = checked(name)?;
    if !l.config().exists() {
        return Err(MachineError::NotFound(name.into()));
    }
    Ok(l)
}

/// Makes the machine's directory, config and ext4 data disk. Nothing is
/// left behind if any step fails.
pub fn create(name: &str, opts: &CreateOptions) -> Result<Layout, MachineError> {
    let l = checked(name)?;
    if l.dir.exists() {
        return Err(MachineError::Exists(name.into()));
    }
    let shares = opts.shares.clone().unwrap_or_else(shares::default_shares);
    shares::check_all(&shares).map_err(|e| MachineError::Tool(e.to_string()))?;
    private::dir(&l.dir).map_err(|e| MachineError::io(&l.dir, e))?;
    let result = (|| {
        make_data_disk(&l.data_disk(), opts.disk_gib)?;
        let created = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        MachineConfig {
            name: name.into(),
            cpus: opts.cpus,
            memory_mib: opts.memory_mib,
            disk_gib: opts.disk_gib,
            kernel: opts.kernel.clone(),
            initramfs: opts.initramfs.clone(),
            created,
            shares,
        }
        .save(&l.config())?;
        Ok(())
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_dir_all(&l.dir);
        return Err(e);
    }
    Ok(l)
}

fn make_data_disk(path: &Path, gib: u64) -> Result<(), MachineError> {
    let f = private::open(path, std::fs::OpenOptions::new().write(true).create(true).truncate(true))
        .map_err(|e| MachineError::io(path, e))?;
    f.set_len(gib << 30).map_err(|e| MachineError::io(path, e))?;
    drop(f);
    let out = Command::new("mkfs.ext4")
        .args(["-q", "-F", "-L", "berth-data", "-E", "lazy_itable_init=1,lazy_journal_init=1"])
        .arg(path)
        .output()
        .map_err(|e| MachineError::Tool(format!("cannot run mkfs.ext4 ({e}): apt-get install e2fsprogs")))?;
    if !out.status.success() {
        return Err(MachineError::Tool(format!("mkfs.ext4 failed: {}", String::from_utf8_lossy(&out.stderr).trim())));
    }
    Ok(())
}

pub fn is_running(l: &Layout) -> bool {
    lock::is_held(&l.lock())
}

/// Starts the machine process and waits until the engine answers `/_ping`
/// on the machine's docker.sock.
pub fn start(name: &str, timeout: Duration) -> Result<Layout, MachineError> {
    let l = if name == DEFAULT_MACHINE && !Layout::new(name).config().exists() {
        eprintln!("berth: creating machine {name}");
        create(name, &CreateOptions::default())?
    } else {
        existing(name)?
    };
    if is_running(&l) {
        return Err(MachineError::AlreadyRunning(name.into()));
    }
    let config = MachineConfig::load(&l.config())?;
    let boot = images::resolve(&config)?;
    check_kvm(boot.stock_kernel)?;

    private::dir(&l.dir).map_err(|e| MachineError::io(&l.dir, e))?;
    let log = private::open(&l.process_log(), std::fs::OpenOptions::new().create(true).append(true))
        .map_err(|e| MachineError::io(&l.process_log(), e))?;
    // Where this boot's lines of machine.log begin.
    let log_start = log.metadata().map_or(0, |m| m.len());
    let exe = std::env::current_exe().map_err(|e| MachineError::io(Path::new("berth"), e))?;
    let mut cmd = Command::new(exe);
    cmd.args(["machine", "run-process", name])
        .stdin(Stdio::null())
        .stdout(log.try_clone().map_err(|e| MachineError::io(&l.process_log(), e))?)
        .stderr(log);
    // SAFETY: setsid() is async-signal-safe and touches no memory of the
    // parent; it detaches the machine process from our terminal so that
    // Ctrl-C here does not stop the machine.
    unsafe {
        cmd.pre_exec(|| nix::unistd::setsid().map(|_| ()).map_err(std::io::Error::from));
    }
    let mut child = cmd.spawn().map_err(|e| MachineError::io(&l.process_log(), e))?;

    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            let reason = this_boot(&l.process_log(), log_start, BOOT_LOG_LINES);
            if reason.contains("already running") {
                return Err(MachineError::AlreadyRunning(name.into()));
            }
            return Err(MachineError::Boot {
                name: name.into(),
                reason: format!(" (machine process {status}); its log:\n{}", reason.trim_end()),
                console: last_lines(&l.console_log(), 20),
            });
        }
        if engine_client::ping(&l.docker_socket()) {
            return Ok(l);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(MachineError::Boot {
                name: name.into(),
                reason: format!(": the agent did not answer within {} s", timeout.as_secs()),
                console: last_lines(&l.console_log(), 20),
            });
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// berth's kernel is a stock Linux kernel: on PVM it cannot boot, and the
/// user should hear why and what works instead before anything starts.
fn check_kvm(stock_kernel: bool) -> Result<(), MachineError> {
    let report = KvmReport::probe().map_err(|e| {
        MachineError::Kvm(format!(
            "no usable KVM ({e}); run berth where /dev/kvm works, or in the test bed: cargo xtask testbed -- berth machine start"
        ))
    })?;
    kvm_verdict(&report, stock_kernel)
}

/// Whether a machine can boot on KVM of this kind: a stock kernel on PVM
/// cannot, and the error names every way that works instead.
fn kvm_verdict(report: &KvmReport, stock_kernel: bool) -> Result<(), MachineError> {
    if stock_kernel && report.flavor == KvmFlavor::Pvm {
        return Err(MachineError::Kvm(format!(
            "{} (or create the machine with --kernel set to a PVM-enlightened guest kernel); {WITHOUT_A_VM}",
            report.advice().unwrap_or("this host's KVM cannot boot berth's kernel")
        )));
    }
    Ok(())
}

#[cfg(test)]
mod boot_log_tests {
    use super::*;

    /// A failed start shows this boot's log in full (a crash report is
    /// many lines), not the previous boot's, and the last lines of a long
    /// one.
    #[test]
    fn a_failed_start_shows_this_boots_log() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("machine.log");
        std::fs::write(&p, "old boot: fine\n").unwrap();
        let start = std::fs::metadata(&p).unwrap().len();
        let report = "berth: machine exit: vCPU 0 triple-faulted (KVM_EXIT_SHUTDOWN)\n  RIP=0x1\n  CR0=0x11 CR3=0x0";
        std::fs::write(&p, format!("old boot: fine\n{report}\n")).unwrap();
        assert_eq!(this_boot(&p, start, 80), report);
        assert_eq!(this_boot(&p, start, 2), "  RIP=0x1\n  CR0=0x11 CR3=0x0");
        assert_eq!(this_boot(&p, 1 << 20, 1), "  CR0=0x11 CR3=0x0", "rotated: the whole file");
        assert_eq!(this_boot(&d.path().join("none"), 0, 5), "");
    }
}

#[cfg(test)]
mod kvm_verdict_tests {
    use super::*;

    fn report(flavor: KvmFlavor) -> KvmReport {
        KvmReport { api_version: 12, max_vcpus: 8, flavor }
    }

    #[test]
    fn pvm_refuses_the_stock_kernel_and_names_what_works() {
        let Err(MachineError::Kvm(msg)) = kvm_verdict(&report(KvmFlavor::Pvm), true) else {
            panic!("a stock kernel on PVM must be refused");
        };
        for way in ["PVM", "--kernel", "--isolation process", "cargo xtask testbed"] {
            assert!(msg.contains(way), "{way} missing from: {msg}");
        }
        assert!(kvm_verdict(&report(KvmFlavor::Pvm), false).is_ok(), "a kernel of the user's own may be PVM's");
        assert!(kvm_verdict(&report(KvmFlavor::Amd), true).is_ok());
        assert!(kvm_verdict(&report(KvmFlavor::Intel), true).is_ok());
    }
}

/// Stops a running machine: first the engine is asked to power the guest
/// off (`/berth/v1/shutdown`); if the machine is still up after a grace
/// period, the machine process gets SIGTERM (the VMM types Ctrl-Alt-Del,
/// then stops the VM outright), and SIGKILL as a last resort.
pub fn stop(name: &str) -> Result<bool, MachineError> {
    let l = existing(name)?;
    let Some(pid) = lock::holder_pid(&l.lock()) else { return Ok(false) };
    let pid = nix::unistd::Pid::from_raw(pid);
    let _ = engine_client::request(
        &l.docker_socket(),
        berth_http::Method::POST,
        "/berth/v1/shutdown",
        Duration::from_secs(5),
    );
    if wait_stopped(&l, Duration::from_secs(20)) {
        return Ok(true);
    }
    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
    if !wait_stopped(&l, Duration::from_secs(40)) {
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
        wait_stopped(&l, Duration::from_secs(5));
    }
    Ok(true)
}

fn wait_stopped(l: &Layout, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while is_running(l) {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    true
}

pub fn remove(name: &str, force: bool) -> Result<(), MachineError> {
    let l = existing(name)?;
    if is_running(&l) {
        if !force {
            return Err(MachineError::Running(name.into()));
        }
        stop(name)?;
    }
    std::fs::remove_dir_all(&l.dir).map_err(|e| MachineError::io(&l.dir, e))
}

/// What `ls` and `inspect` show of a machine.
#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Status {
    pub name: String,
    pub state: &'static str,
    pub cpus: u8,
    pub memory_mib: u64,
    pub disk_gib: u64,
    /// Bytes the sparse data disk really occupies on the host.
    pub disk_used_bytes: u64,
    pub dir: PathBuf,
    pub docker_socket: PathBuf,
    pub console_log: PathBuf,
    pub kernel: Option<PathBuf>,
    pub shares: Vec<ShareStatus>,
}

/// A host folder as `inspect` shows it, with whether it is served.
#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ShareStatus {
    #[serde(flatten)]
    pub share: shares::Share,
    /// `serving`, `stopped` (the machine is), or why its daemon ended.
    pub state: String,
}

pub fn status(name: &str) -> Result<Status, MachineError> {
    let l = existing(name)?;
    let c = MachineConfig::load(&l.config())?;
    let used = std::fs::metadata(l.data_disk()).map_or(0, |m| std::os::unix::fs::MetadataExt::blocks(&m) * 512);
    let running = is_running(&l);
    let shares = c
        .shares
        .iter()
        .enumerate()
        .map(|(i, s)| ShareStatus {
            share: s.clone(),
            // What the machine process's watcher wrote when the daemon died.
            state: match (running, std::fs::read_to_string(l.share_exit(i)).ok()) {
                (false, _) => "stopped".into(),
                (true, None) => "serving".into(),
                (true, Some(why)) => format!("failed: {}", why.trim()),
            },
        })
        .collect();
    Ok(Status {
        name: c.name,
        state: if running { "running" } else { "stopped" },
        shares,
        cpus: c.cpus,
        memory_mib: c.memory_mib,
        disk_gib: c.disk_gib,
        disk_used_bytes: used,
        docker_socket: l.docker_socket(),
        console_log: l.console_log(),
        dir: l.dir,
        kernel: c.kernel,
    })
}

pub fn list() -> Result<Vec<Status>, MachineError> {
    let dir = layout::machines_dir();
    let Ok(entries) = std::fs::read_dir(&dir) else { return Ok(Vec::new()) };
    let mut names: Vec<String> = entries
        .flatten()
        .filter(|e| e.path().join("config.json").exists())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names.iter().map(|n| status(n)).collect()
}

/// `berth machine logs [--previous]`: this boot's console, or the one
/// before it.
pub fn print_console(name: &str, previous: bool, out: &mut impl Write) -> Result<(), MachineError> {
    let l = existing(name)?;
    let path = if previous { l.previous_console_log() } else { l.console_log() };
    match std::fs::read(&path) {
        Ok(bytes) => out.write_all(&bytes).map_err(|e| MachineError::io(Path::new("stdout"), e)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(MachineError::io(&path, e)),
    }
}

/// `berth machine logs --engine`: the end of the engine's own log, which the
/// agent keeps on the machine's data disk (`/var/lib/berth/log/`).
pub fn print_engine_log(name: &str, out: &mut impl Write) -> Result<(), MachineError> {
    let l = existing(name)?;
    let socket = l.docker_socket();
    if !engine_client::ping(&socket) {
        return Err(MachineError::NotRunning(name.to_string()));
    }
    let reply = engine_client::get(&socket, "/berth/v1/logs/engine?bytes=4194304", 5 << 20, Duration::from_secs(10))
        .map_err(|e| MachineError::Tool(format!("reading the engine's log of machine {name}: {e}")))?;
    if reply.status != 200 {
        let message = serde_json::from_slice::<serde_json::Value>(&reply.body)
            .ok()
            .and_then(|v| v["message"].as_str().map(str::to_string))
            .unwrap_or_else(|| String::from_utf8_lossy(&reply.body).into_owned());
        return Err(MachineError::Engine { name: name.to_string(), status: reply.status, message });
    }
    out.write_all(&reply.body).map_err(|e| MachineError::io(Path::new("stdout"), e))
}

pub fn docker_socket(name: &str) -> Result<PathBuf, MachineError> {
    Ok(existing(name)?.docker_socket())
}

pub fn layout_of(name: &str) -> Result<Layout, MachineError> {
    existing(name)
}

/// The most lines of machine.log a failed start shows: a crash report with
/// its console tail fits.
const BOOT_LOG_LINES: usize = 80;

/// What the machine process wrote to its log from byte `start` on (this
/// boot), its last `n` lines; the whole file's if it was rotated since.
fn this_boot(path: &Path, start: u64, n: usize) -> String {
    let Ok(bytes) = std::fs::read(path) else { return String::new() };
    let from = usize::try_from(start).ok().filter(|&s| s <= bytes.len()).unwrap_or(0);
    let text = String::from_utf8_lossy(&bytes[from..]);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

fn last_lines(path: &Path, n: usize) -> String {
    let Ok(f) = std::fs::File::open(path) else { return String::new() };
    let lines: Vec<String> = std::io::BufReader::new(f).lines().map_while(Result::ok).collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
