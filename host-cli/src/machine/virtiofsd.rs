//! The daemons behind a machine's host folders: one virtiofsd per share
//! (Apple's containerization and Cloud Hypervisor do the same), started by
//! the machine process before the VMM connects to them, running as the
//! user with ids translated so that a file a container creates (as root,
//! usually) is the user's on the host, and a file of the user's is root's
//! in the container.
//!
//! Owns the daemons' command lines, their sockets and logs in the
//! machine's directory, and the record of one that died while the machine
//! ran or whose folder is gone (`share-N.exit`, which `berth machine
//! ls/inspect` read). It never
//! restarts one: the VMM's vhost-user session cannot be re-made under a
//! running guest, so the share fails cleanly (EIO) until the machine
//! restarts.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use berth_vmm::config::{DEFAULT_FS_QUEUE_SIZE, FsConfig};

use super::MachineError;
use super::layout::Layout;
use super::shares::Share;

/// How long a daemon gets to create its socket.
const SOCKET_WAIT: Duration = Duration::from_secs(10);

/// The virtiofsd to run: `$BERTH_VIRTIOFSD`, else the one `cargo xtask
/// images` installed (the manifest's `BERTH_VIRTIOFSD`), else one on PATH.
pub fn binary() -> Result<PathBuf, MachineError> {
    if let Some(p) = std::env::var_os("BERTH_VIRTIOFSD") {
        return Ok(p.into());
    }
    if let Some(p) = super::images::manifest_entry("BERTH_VIRTIOFSD").filter(|p| p.is_file()) {
        return Ok(p);
    }
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join("virtiofsd"))
        .find(|p| p.is_file());
    on_path.ok_or_else(|| {
        MachineError::Tool(
            "no virtiofsd to serve the machine's host folders: run `cargo xtask images` (it installs one), \
             set BERTH_VIRTIOFSD, or create the machine with --no-mounts"
                .into(),
        )
    })
}

/// The running daemons; each is killed with the machine process (parent
/// death signal) and reaped by its watcher.
#[derive(Clone)]
pub struct Daemons {
    /// Set when the machine is stopping: a daemon ending then is expected.
    stopping: Arc<AtomicBool>,
}

impl Daemons {
    /// Says the VM has ended: daemons leaving now are not failures.
    pub fn machine_stopping(&self) {
        self.stopping.store(true, Ordering::SeqCst);
    }
}

/// Starts one virtiofsd per share and waits for each socket; returns the
/// VMM's view of them.
pub fn start_all(layout: &Layout, shares: &[Share]) -> Result<(Daemons, Vec<FsConfig>), MachineError> {
    let stopping = Arc::new(AtomicBool::new(false));
    let mut configs = Vec::new();
    if shares.is_empty() {
        return Ok((Daemons { stopping }, configs));
    }
    let bin = binary()?;
    for (i, share) in shares.iter().enumerate() {
        let socket = layout.share_socket(i);
        let _ = std::fs::remove_file(&socket);
        let _ = std::fs::remove_file(layout.share_exit(i));
        // A folder removed since the machine was made fails its share
        // alone (the guest's mount of it fails, and says so); the machine
        // still starts.
        if !share.host.is_dir() {
            let why = format!("the host folder {} no longer exists", share.host.display());
            tracing::warn!("{why}; the machine starts without it");
            let _ = std::fs::write(layout.share_exit(i), &why);
            continue;
        }
        let child = spawn(&bin, share, &socket, &layout.share_log(i))?;
        let child = wait_for_socket(child, &socket, &layout.share_log(i), share)?;
        watch(child, layout.share_exit(i), stopping.clone());
        configs.push(FsConfig { tag: Share::tag(i), socket, queue_size: DEFAULT_FS_QUEUE_SIZE });
    }
    Ok((Daemons { stopping }, configs))
}

fn spawn(bin: &Path, share: &Share, socket: &Path, log: &Path) -> Result<Child, MachineError> {
    let log_file = super::private::open(log, std::fs::OpenOptions::new().create(true).append(true))
        .map_err(|e| MachineError::io(log, e))?;
    // SAFETY: geteuid/getegid only read the process's credentials.
    let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
    let mut cmd = Command::new(bin);
    cmd.arg("--shared-dir")
        .arg(&share.host)
        .arg("--socket-path")
        .arg(socket)
        // The namespace sandbox needs privileges a user does not have.
        .args(["--sandbox", if uid == 0 { "namespace" } else { "none" }])
        // Host edits show in the guest within a second (what a user who
        // edits code on the host and runs it in a container needs).
        .args(["--cache", "auto"])
        .args(["--log-level", "warn"])
        .arg(format!("--translate-uid=squash-guest:0:{uid}:4294967295"))
        .arg(format!("--translate-uid=host:{uid}:0:1"))
        .arg(format!("--translate-gid=squash-guest:0:{gid}:4294967295"))
        .arg(format!("--translate-gid=host:{gid}:0:1"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log_file);
    if share.read_only {
        cmd.arg("--readonly");
    }
    // SAFETY: prctl only sets this (child) process's parent-death signal;
    // nothing is allocated between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.spawn().map_err(|e| MachineError::Tool(format!("cannot start {}: {e}", bin.display())))
}

fn wait_for_socket(mut child: Child, socket: &Path, log: &Path, share: &Share) -> Result<Child, MachineError> {
    let deadline = Instant::now() + SOCKET_WAIT;
    loop {
        if socket.exists() {
            return Ok(child);
        }
        let ended = child.try_wait().ok().flatten();
        if ended.is_some() || Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            let why = ended.map_or_else(|| "made no socket in 10 s".to_string(), |s| format!("exited ({s})"));
            let tail = std::fs::read_to_string(log).unwrap_or_default();
            let tail: Vec<&str> = tail.lines().rev().take(5).collect();
            return Err(MachineError::Tool(format!(
                "virtiofsd for the host folder {} {why}: {}",
                share.host.display(),
                tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
            )));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Reaps the daemon; one that ends while the machine runs leaves the
/// reason in `exit_file` for `ls`/`inspect`.
fn watch(mut child: Child, exit_file: PathBuf, stopping: Arc<AtomicBool>) {
    let pid = child.id();
    let spawned = std::thread::Builder::new().name(format!("virtiofsd-{pid}")).spawn(move || {
        let status = child.wait();
        // A daemon ends when the VMM closes its session, as the VM ends:
        // give the machine process a moment to say it is stopping.
        std::thread::sleep(Duration::from_millis(300));
        if stopping.load(Ordering::SeqCst) {
            return;
        }
        let why = match status {
            Ok(s) => describe(s),
            Err(e) => format!("cannot be waited for: {e}"),
        };
        tracing::error!(pid, "virtiofsd {why}; its host folder fails in the machine until it restarts");
        let _ = std::fs::write(&exit_file, format!("virtiofsd (pid {pid}) {why}"));
    });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "cannot watch virtiofsd {pid}");
    }
}

fn describe(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with status {code}"),
        (None, Some(sig)) => {
            let name = nix::sys::signal::Signal::try_from(sig).map_or_else(|_| format!("{sig}"), |s| s.to_string());
            format!("was killed by signal {sig} ({name})")
        }
        _ => "ended".into(),
    }
}
