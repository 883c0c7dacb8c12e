//! The machine process: one per running machine, started detached by
//! `berth machine start`. It holds the machine's lock, runs the VMM (the
//! vmm crate, in this process), serves the host docker.sock by carrying
//! each connection over vsock to the engine, listens on the host for the
//! containers' published ports (`ports`), runs the daemons of its host
//! folders (`virtiofsd`) and its uplink (`uplink`), and on SIGTERM asks the guest
//! to shut down (Ctrl-Alt-Del, which the agent turns into a clean
//! power-off), stopping the VM outright if it has not ended in time.

use std::path::Path;
use std::time::Duration;

use berth_vmm::builder;
use berth_vmm::config::{DEFAULT_CMDLINE, DiskConfig, SerialOutput, VmConfig, VsockConfig};
use berth_vmm::exit::VmExit;
use tokio::net::UnixListener;

use super::config::MachineConfig;
use super::layout::Layout;
use super::{MachineError, images, lock, ports, private, proxy, uplink, virtiofsd};

/// The line machine.log gives a machine's end, followed by the exit (a
/// crash with its report, one fact a line).
pub const EXIT_HEADER: &str = "berth: machine exit: ";

/// How long the guest gets to power off after a stop request.
const STOP_GRACE: Duration = Duration::from_secs(20);

pub fn run(layout: &Layout) -> Result<VmExit, MachineError> {
    let Some(mut lock) = lock::try_lock(&layout.lock()).map_err(|e| MachineError::io(&layout.lock(), e))? else {
        return Err(MachineError::AlreadyRunning(name_of(layout)));
    };
    lock.write_pid().map_err(|e| MachineError::io(&layout.lock(), e))?;
    let config = MachineConfig::load(&layout.config())?;
    let boot = images::resolve(&config)?;
    // Holding the lock, any socket file here is a leftover of a killed run.
    for s in [layout.vsock_socket(), layout.docker_socket()] {
        let _ = std::fs::remove_file(s);
    }
    // The last boot's console is kept one boot longer (`berth machine logs
    // --previous`): a machine that ended on its own is often started again
    // (by `machine shell` or the user) before anyone reads why it ended.
    let _ = std::fs::rename(layout.console_log(), layout.previous_console_log());
    // The host folders' daemons listen before the VMM connects to them.
    let (daemons, fs) = virtiofsd::start_all(layout, &config.shares)?;
    let share_words: String =
        config.shares.iter().enumerate().map(|(i, s)| format!(" {}", s.cmdline_word(i))).collect();
    // The way out; a machine without one still runs (ports still come in
    // over vsock).
    let uplink = uplink::start(layout)
        .inspect_err(|why| tracing::warn!("machine without an uplink (no egress from containers): {why}"))
        .ok();
    let uplink_word = uplink.as_ref().map(|u| format!(" {}", u.cmdline_word)).unwrap_or_default();

    let vm = VmConfig {
        vcpus: config.cpus,
        memory_mib: config.memory_mib,
        kernel: boot.kernel,
        initramfs: Some(boot.initramfs),
        cmdline: format!(
            "{DEFAULT_CMDLINE} quiet berth.hostname={} berth.data=/dev/vda{share_words}{uplink_word}",
            config.name
        ),
        serial: SerialOutput::File(layout.console_log()),
        disks: vec![DiskConfig { path: layout.data_disk(), read_only: false }],
        vsock: Some(VsockConfig { guest_cid: 3, uds_path: layout.vsock_socket() }),
        net: uplink.iter().map(|u| u.net.clone()).collect(),
        rng: true,
        fs,
        seccomp: Default::default(),
        acpi: Default::default(),
        system_map: None,
    };
    let vmm = builder::build(&vm).map_err(|e| MachineError::Vmm(e.to_string()))?;
    let stop = vmm.stop_handle();
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    let daemons_end = daemons.clone();
    std::thread::Builder::new()
        .name("vmm".into())
        .spawn(move || {
            let exit = vmm.wait();
            // The VM is gone: virtiofsd leaving now is expected.
            daemons_end.machine_stopping();
            let _ = done_tx.send(exit);
        })
        .map_err(|e| MachineError::io(Path::new("vmm thread"), e))?;

    let runtime = tokio::runtime::Runtime::new().map_err(|e| MachineError::io(Path::new("tokio runtime"), e))?;
    let exit = runtime.block_on(async {
        let docker_sock = layout.docker_socket();
        let listener = UnixListener::bind(&docker_sock).map_err(|e| MachineError::io(&docker_sock, e))?;
        private::socket(&docker_sock).map_err(|e| MachineError::io(&docker_sock, e))?;
        tokio::spawn(proxy::serve(listener, layout.vsock_socket()));
        tokio::spawn(ports::serve(layout.vsock_socket()));
        tokio::pin!(done_rx);
        tokio::select! {
            exit = &mut done_rx => Ok(exit.unwrap_or(VmExit::VmmError("the VMM thread died".into()))),
            () = stop_signal() => {
                tracing::info!("stop requested; asking the guest to power off");
                stop.ask_guest();
                match tokio::time::timeout(STOP_GRACE, &mut done_rx).await {
                    Ok(exit) => Ok(exit.unwrap_or(VmExit::VmmError("the VMM thread died".into()))),
                    Err(_) => {
                        tracing::warn!("the guest did not power off in time; stopping the VM");
                        stop.force();
                        Ok(done_rx.await.unwrap_or(VmExit::Stopped))
                    }
                }
            }
        }
    });
    daemons.machine_stopping();
    for s in [layout.vsock_socket(), layout.docker_socket()] {
        let _ = std::fs::remove_file(s);
    }
    for i in 0..config.shares.len() {
        let _ = std::fs::remove_file(layout.share_socket(i));
    }
    // stderr is machine.log; `berth machine start` shows this boot's part.
    if let Ok(exit) = &exit {
        eprintln!("{EXIT_HEADER}{exit}");
    }
    exit
}

fn name_of(layout: &Layout) -> String {
    layout.dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

async fn stop_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else {
        std::future::pending::<()>().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => {},
        _ = int.recv() => {},
    }
}
