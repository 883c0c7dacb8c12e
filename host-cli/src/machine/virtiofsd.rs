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

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use berth_vmm::config::{DEFAULT_FS_QUEUE_SIZE, FsConfig};

use super::MachineError;
use super::layout::Layout;
use super::shares::Share;

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
        watch(child, layout.share_exit(i), stopping.clone());
        configs.push(FsConfig { tag: Share::tag(i), socket, queue_size: DEFAULT_FS_QUEUE_SIZE });
    }
    Ok((Daemons { stopping }, configs))
}

/// One share's virtiofsd, listening on `socket`.
fn spawn(bin: &Path, share: &Share, socket: &Path, log: &Path) -> Result<Child, MachineError> {
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
        .arg(format!("--translate-gid=host:{gid}:0:1"));
    if share.read_only {
        cmd.arg("--readonly");
    }
    super::daemon::start(cmd, socket, log)
        .map_err(|why| MachineError::Tool(format!("virtiofsd for the host folder {} {why}", share.host.display())))
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The real virtiofsd (`cargo xtask images` installs it): one share
    /// served on its socket; a share whose folder is gone is skipped with
    /// the reason recorded, and the rest still start.
    #[test]
    fn daemons_listen_and_a_vanished_folder_is_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout { dir: dir.path().join("m") };
        std::fs::create_dir(&layout.dir).unwrap();
        let folder = dir.path().join("shared");
        std::fs::create_dir(&folder).unwrap();
        let shares = [
            Share { host: dir.path().join("gone"), guest: "/gone".into(), read_only: false },
            Share { host: folder, guest: "/src".into(), read_only: true },
        ];
        let (daemons, fs) = start_all(&layout, &shares).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(fs.len(), 1);
        assert_eq!(fs[0].tag, "berth1");
        std::os::unix::net::UnixStream::connect(&fs[0].socket).expect("virtiofsd accepts the VMM");
        let why = std::fs::read_to_string(layout.share_exit(0)).unwrap();
        assert!(why.contains("gone no longer exists"), "{why}");
        assert!(!layout.share_exit(1).exists());
        daemons.machine_stopping();
    }
}
