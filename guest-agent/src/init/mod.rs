//! The guest's life as PID 1: mount the kernel filesystems, load the kernel
//! modules the initramfs carries, announce that init was reached, name the
//! machine and bring up loopback, reap orphans, serve the engine on vsock
//! port 2375, and when told to stop (SIGTERM or `/berth/v1/shutdown`) sync
//! and end the VM.
//!
//! PID 1 must never exit: the kernel panics when it does. Every failure here
//! is printed on the console and the VM is powered off instead.

mod kernel_modules;
mod mounts;
mod network;
mod power;
mod reaper;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::engine::Engine;
use crate::listen::ListenAddr;
use crate::server;

/// Printed on the console as soon as init runs, with the guest's uptime.
/// Boot benchmarks and tests look for this exact text.
pub const INIT_MARKER: &str = "berth-agent: init reached";

/// Where `cargo xtask images` puts modules for kernels that need them, and
/// the file that lists them in load order.
const MODULE_DIR: &str = "/lib/modules/berth";

/// The host reaches the engine here (DESIGN.md, "Host ↔ guest").
pub const ENGINE_VSOCK_PORT: u32 = 2375;

const ENGINE_ROOT: &str = "/var/lib/berth";

/// The engine log's size before it rotates, and how many old files stay.
const ENGINE_LOG_BYTES: u64 = 8 << 20;
const ENGINE_LOG_KEEP: usize = 3;

/// The longest a power-off waits for containers (Docker's default stop
/// timeout is 10 s; the host's `berth machine stop` waits 20 s).
const CONTAINER_STOP_LIMIT: Duration = Duration::from_secs(12);

pub fn run_as_pid1() -> ! {
    // Read the clock before anything else so that the figure is the kernel's
    // boot time, not ours.
    let uptime = boot_time();
    println!("{INIT_MARKER} after {:.3} s", uptime.as_secs_f64());
    // A panic of PID 1's own thread must still end in a power-off, not a
    // kernel panic. One on a worker thread (a request handler, a task)
    // unwinds to its catcher — the API answers it as a 500, tokio ends the
    // task — so one bad request does not take every container down.
    std::panic::set_hook(Box::new(|info| {
        if std::thread::current().name() == Some("main") {
            println!("berth-agent: fatal: {info}");
            power::power_off();
        }
        println!("berth-agent: panic on a worker thread (the engine goes on): {info}");
        tracing::error!(%info, "panic on a worker thread");
    }));

    // Before any mount: containers pivot_root, which an initramfs root refuses.
    if let Err(e) = crate::runtime::make_root_pivotable() {
        println!("berth-agent: containers will not start: {e}");
    }
    if let Err(e) = mounts::mount_kernel_filesystems() {
        println!("berth-agent: {e}");
        power::power_off();
    }
    let cmdline = std::fs::read_to_string("/proc/cmdline").unwrap_or_default();
    let report = kernel_modules::load_all(std::path::Path::new(MODULE_DIR), &cmdline);
    for failure in &report.failures {
        println!("berth-agent: {failure}");
    }
    if report.loaded > 0 {
        println!("berth-agent: loaded {} kernel modules", report.loaded);
    }

    // Ctrl-Alt-Del (how a VMM asks the guest to stop) becomes SIGINT to us,
    // a graceful shutdown, instead of an immediate reboot by the kernel.
    if let Err(e) = nix::sys::reboot::set_cad_enabled(false) {
        println!("berth-agent: cannot take over Ctrl-Alt-Del: {e}");
    }
    if let Some(device) = mounts::data_disk_from_cmdline(&cmdline) {
        if let Err(e) = mounts::mount_data_disk(device, Path::new(ENGINE_ROOT)) {
            println!("berth-agent: {e}; powering off");
            power::power_off();
        }
        println!("berth-agent: data disk {device} mounted on {ENGINE_ROOT}");
    }
    install_engine_log();
    // Host folders (virtio-fs), at the paths the host gave them.
    let mut shares = crate::host_shares::HostShares::from_cmdline(&cmdline, true);
    shares.mount_all();
    let name = network::hostname_from_cmdline(&cmdline);
    if let Err(e) = network::set_hostname(name) {
        println!("berth-agent: cannot set the hostname: {e}");
    }
    // lo is the one interface the guest brings up itself.
    if let Err(e) = crate::loopback::up() {
        println!("berth-agent: cannot bring up lo: {e}");
    }
    // The way out, when the host gave the machine one (passt).
    let uplink = crate::network::kernel::uplink::Uplink::from_cmdline(&cmdline);
    if let Some(u) = &uplink {
        match u.configure() {
            Ok(ifname) => println!("berth-agent: uplink {ifname} {}/{} via {}", u.address, u.prefix, u.gateway),
            Err(e) => println!("berth-agent: no uplink: {e}"),
        }
        if let Err(e) = u.write_resolv_conf() {
            println!("berth-agent: no DNS through the uplink: {e}");
        }
    }

    match serve_engine(shares, uplink.map(|u| u.gateway)) {
        Ok(()) => println!("berth-agent: engine stopped; powering off"),
        Err(e) => println!("berth-agent: {e}; powering off"),
    }
    power::power_off();
}

/// The engine's log: a size-rotated file on the data disk (the console is
/// for boot messages only), readable from the host with `berth machine logs
/// --engine`. `BERTH_LOG=` on the kernel command line sets the filter.
fn install_engine_log() {
    let path = crate::engine::Engine::log_path(Path::new(ENGINE_ROOT));
    match crate::log_file::RotatingFile::open(&path, ENGINE_LOG_BYTES, ENGINE_LOG_KEEP) {
        Ok(file) => {
            let filter = tracing_subscriber::EnvFilter::try_from_env("BERTH_LOG").unwrap_or_else(|_| "info".into());
            let installed =
                tracing_subscriber::fmt().with_env_filter(filter).with_ansi(false).with_writer(file).try_init();
            if installed.is_err() {
                println!("berth-agent: a log subscriber was already installed");
            }
        }
        Err(e) => println!("berth-agent: no engine log ({}: {e}); warnings are lost", path.display()),
    }
}

/// Runs the engine until it is told to stop. Any error is returned, never
/// propagated as a panic: the caller must reach the power-off.
fn serve_engine(
    shares: crate::host_shares::HostShares,
    host_gateway: Option<std::net::Ipv4Addr>,
) -> Result<(), String> {
    // Published ports listen on the user's host: the machine process
    // connects the port relay.
    let host_ports = berth_port_relay::guest::Ports::new();
    let engine = Engine::open(Path::new(ENGINE_ROOT), true)
        .and_then(Engine::with_network_plumbing)
        .map(|e| e.with_host_ports(host_ports.clone()).with_host_shares(shares).with_host_gateway(host_gateway))
        .map_err(|e| e.to_string())?;
    let runtime = tokio::runtime::Runtime::new().map_err(|e| format!("cannot start the async runtime: {e}"))?;
    runtime.block_on(async {
        tokio::spawn(reaper::reap_forever());
        tokio::spawn(crate::network::host_ports::serve(host_ports));
        let addrs = [ListenAddr::Vsock { port: ENGINE_VSOCK_PORT }];
        println!("berth-agent: engine listening on vsock port {ENGINE_VSOCK_PORT}");
        let engine = Arc::new(engine);
        let served = server::serve(engine.clone(), &addrs).await.map_err(|e| e.to_string());
        // Each container gets its stop signal and timeout before the VM goes.
        let stopped = engine.stop_all_for_shutdown(CONTAINER_STOP_LIMIT).await;
        if stopped > 0 {
            println!("berth-agent: stopped {stopped} containers");
        }
        served
    })
}

/// Time since the guest kernel started, including any time suspended.
fn boot_time() -> Duration {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_BOOTTIME).map(Duration::from).unwrap_or_default()
}
