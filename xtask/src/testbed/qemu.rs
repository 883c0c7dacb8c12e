//! Booting the outer VM under QEMU's TCG and relaying its console.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::options::Options;
use super::stall_report;
use crate::error::{Error, Result};
use crate::images::Images;

/// What a test-bed run ended with.
#[derive(Debug)]
pub struct Outcome {
    /// The command's exit status.
    pub status: i32,
    /// Everything the outer VM printed on its console (the command's output
    /// included), with the serial line's CRLF turned back into LF.
    pub console: String,
}

/// The outer init prints this once its modules are loaded; until then the
/// VM is still booting its kernel.
const UP_MARKER: &[u8] = b"testbed: outer VM up";

/// Debian's kernel reaches the init in about 5 s under TCG. Now and then
/// (seen twice in dozens of boots, both on a loaded host) it stalls before
/// that, spinning both vCPUs; past this limit the boot is abandoned so the
/// caller can try once more instead of waiting for the command's timeout.
const BOOT_LIMIT: std::time::Duration = std::time::Duration::from_secs(120);

/// The outer kernel reports a vCPU that made no progress every ~28 s; this
/// many reports (a minute and a half stuck) is the same TCG hang after boot,
/// seen under nested KVM on a loaded host: abandoned and retried like a
/// stalled boot rather than waited out to the command's timeout.
const LOCKUP_MARKER: &[u8] = b"soft lockup - CPU#";
const LOCKUP_REPORTS: usize = 3;

/// The outer init writes the run directory's `heartbeat` file every few
/// seconds once the run directory is mounted; this long without a write,
/// the outer kernel itself has stopped (all its CPUs stuck in QEMU's TCG,
/// no soft-lockup report possible), and the run is abandoned at once
/// rather than waited out to the command's timeout.
const FROZEN_LIMIT: std::time::Duration = std::time::Duration::from_secs(150);

/// Why `boot` failed, telling a stalled boot (worth one retry) and a run
/// the outer VM lost (retried when the caller asks) from the rest.
pub enum BootFailure {
    Stalled,
    /// The outer kernel stopped while the command ran (no heartbeat): the
    /// emulation's hang, never the command's; what QEMU's threads and CPUs
    /// were doing is in the error.
    Frozen(Error),
    /// The command outlived its timeout while the outer VM was alive, or
    /// the outer VM ended without the command's exit status (its kernel
    /// reset: a crash of the emulated machine, never an exit of the
    /// command).
    Lost(Error),
    Other(Error),
}

impl From<Error> for BootFailure {
    fn from(e: Error) -> Self {
        BootFailure::Other(e)
    }
}

/// QEMU warns about every CPUID bit of the EPYC model that TCG lacks; none
/// of them matters for KVM inside.
const NOISE: &str = "TCG doesn't support requested feature";

pub fn boot(
    qemu: &Path,
    images: &Images,
    run_dir: &Path,
    scratch: &Path,
    opts: &Options,
) -> Result<Outcome, BootFailure> {
    let mut cmd = Command::new(qemu);
    cmd.args(["-accel", "tcg,thread=multi", "-cpu", "EPYC"])
        .args(["-smp", &opts.cpus.to_string(), "-m", &opts.memory])
        .args(["-nodefaults", "-no-user-config", "-display", "none", "-no-reboot", "-serial", "stdio"])
        .arg("-kernel")
        .arg(&images.testbed_kernel)
        .arg("-initrd")
        .arg(&images.testbed_initramfs)
        // loglevel=3: kvm_amd's complaints about MSRs that a nested guest
        // touches would interleave with the command's output.
        .args(["-append", "console=ttyS0 panic=-1 loglevel=3"])
        // Thread names (`CPU 0/TCG`) for the stall report.
        .args(["-name", "testbed,debug-threads=on"])
        .arg("-qmp")
        .arg(format!("unix:{},server=on,wait=off", qemu_escape(&run_dir.join(QMP_SOCKET))))
        .args(["-virtfs", "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap"])
        .arg("-virtfs")
        .arg(format!("local,path={},mount_tag=berthrun,security_model=none", qemu_escape(run_dir)))
        .arg("-drive")
        .arg(format!("file={},format=raw,if=virtio,cache=unsafe", qemu_escape(scratch)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child =
        cmd.spawn().map_err(|e| Error::Command { command: qemu.display().to_string(), detail: e.to_string() })?;

    // Ctrl-C reaches QEMU (same process group) and ends the VM; this process
    // stays to remove the run directory and report.
    let _sigint = IgnoreSigint::new();
    let console = Arc::new(Mutex::new(Vec::new()));
    let out = child.stdout.take().map(|s| relay_console(s, console.clone(), opts.echo));
    let err = child.stderr.take().map(|s| relay_stderr(s, console.clone()));

    let started = Instant::now();
    let heartbeat = run_dir.join("heartbeat");
    let up_at = std::cell::Cell::new(None);
    let health = || {
        if up_at.get().is_none() && console.lock().is_ok_and(|c| c.windows(UP_MARKER.len()).any(|w| w == UP_MARKER)) {
            up_at.set(Some(std::time::SystemTime::now()));
        }
        let lockups =
            console.lock().map_or(0, |c| c.windows(LOCKUP_MARKER.len()).filter(|w| *w == LOCKUP_MARKER).count());
        judge(started.elapsed(), up_at.get(), last_beat(&heartbeat), lockups)
    };
    let waited = wait_until(&mut child, started + opts.timeout, health);
    // QEMU is still there when the wait gave up: what it was doing, then kill.
    let report = match &waited {
        Ok(WaitEnd::Exited(_)) | Err(_) => String::new(),
        Ok(_) => stall_report::take(child.id(), &run_dir.join(QMP_SOCKET)),
    };
    let _ = child.kill();
    let _ = child.wait();
    for t in [out, err].into_iter().flatten() {
        let _ = t.join();
    }
    let console = String::from_utf8_lossy(&console.lock().map(|c| c.clone()).unwrap_or_default()).into_owned();
    let tail = || format!("last console lines:\n{}\n{report}", last_lines(&console, 20));
    let qemu_status = match waited {
        Ok(WaitEnd::Exited(status)) => status,
        Ok(WaitEnd::Unhealthy(Unhealthy::BootStalled | Unhealthy::LockedUp)) => {
            eprint!("{report}");
            return Err(BootFailure::Stalled);
        }
        Ok(WaitEnd::Unhealthy(Unhealthy::Frozen(silent))) => {
            return Err(BootFailure::Frozen(Error::Invalid(format!(
                "the outer VM froze: no heartbeat from its init for {} s (QEMU's TCG stopped running it); {}",
                silent.as_secs(),
                tail()
            ))));
        }
        Ok(WaitEnd::TimedOut) => {
            let beat = last_beat(&heartbeat).and_then(|t| t.elapsed().ok()).map_or_else(
                || "no heartbeat yet".to_string(),
                |d| format!("its last heartbeat {} s before", d.as_secs()),
            );
            return Err(BootFailure::Lost(Error::Invalid(format!(
                "the test bed timed out (raise it with --timeout) with the outer VM alive ({beat}): the command hung; {}",
                tail()
            ))));
        }
        Err(e) => return Err(BootFailure::Other(e)),
    };

    let status_file = run_dir.join("status");
    match std::fs::read_to_string(&status_file).ok().and_then(|s| s.trim().parse::<i32>().ok()) {
        Some(status) => Ok(Outcome { status, console }),
        None => Err(BootFailure::Lost(Error::Invalid(format!(
            "the test bed VM ended ({qemu_status}) without reporting the command's exit status; last console lines:\n{}",
            last_lines(&console, 20)
        )))),
    }
}

/// The QMP socket in the run directory, for the stall report.
const QMP_SOCKET: &str = "qmp.sock";

/// What is wrong with the outer VM, seen from outside while the command
/// runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unhealthy {
    /// No outer init within [`BOOT_LIMIT`].
    BootStalled,
    /// [`LOCKUP_REPORTS`] soft-lockup reports on the console.
    LockedUp,
    /// Up, and no heartbeat for this long.
    Frozen(std::time::Duration),
}

/// What is wrong with the outer VM, if anything, from what is seen of it:
/// how long it has run, when its init came up, its last heartbeat, its
/// soft-lockup reports.
fn judge(
    running: std::time::Duration,
    up_at: Option<std::time::SystemTime>,
    last_beat: Option<std::time::SystemTime>,
    lockups: usize,
) -> Option<Unhealthy> {
    let Some(up_at) = up_at else {
        return (running >= BOOT_LIMIT).then_some(Unhealthy::BootStalled);
    };
    if lockups >= LOCKUP_REPORTS {
        return Some(Unhealthy::LockedUp);
    }
    // Before the first heartbeat, the init's coming up is the last sign.
    let last = last_beat.map_or(up_at, |b| b.max(up_at));
    last.elapsed().ok().filter(|silent| *silent >= FROZEN_LIMIT).map(Unhealthy::Frozen)
}

/// When the outer init last wrote its heartbeat (the file's mtime, set by
/// the host's clock as QEMU's 9p server writes it).
fn last_beat(path: &Path) -> Option<std::time::SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// How waiting for QEMU ended; QEMU still runs unless it exited.
enum WaitEnd {
    Exited(std::process::ExitStatus),
    /// `health` found something wrong.
    Unhealthy(Unhealthy),
    /// Past the deadline.
    TimedOut,
}

/// Waits for QEMU to exit, for `health` to find something wrong, or for
/// the deadline.
fn wait_until(child: &mut Child, deadline: Instant, health: impl Fn() -> Option<Unhealthy>) -> Result<WaitEnd> {
    let mut last_check = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Ok(WaitEnd::Exited(status)),
            Ok(None) => {
                // The console scan is linear in its size: once a second.
                if last_check.elapsed() >= std::time::Duration::from_secs(1) {
                    last_check = Instant::now();
                    if let Some(wrong) = health() {
                        return Ok(WaitEnd::Unhealthy(wrong));
                    }
                }
                if Instant::now() >= deadline {
                    return Ok(WaitEnd::TimedOut);
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            Err(e) => return Err(Error::Command { command: "qemu".into(), detail: e.to_string() }),
        }
    }
}

fn relay_console(
    mut src: impl Read + Send + 'static,
    sink: Arc<Mutex<Vec<u8>>>,
    echo: bool,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        let mut crlf = CrlfToLf::default();
        let stdout = std::io::stdout();
        while let Ok(n) = src.read(&mut buf) {
            if n == 0 {
                break;
            }
            let text = crlf.feed(&buf[..n]);
            if echo {
                let mut o = stdout.lock();
                let _ = o.write_all(&text);
                let _ = o.flush();
            }
            if let Ok(mut s) = sink.lock() {
                s.extend_from_slice(&text);
            }
        }
    })
}

fn relay_stderr(src: impl Read + Send + 'static, sink: Arc<Mutex<Vec<u8>>>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        for line in BufReader::new(src).lines().map_while(|l| l.ok()) {
            if line.contains(NOISE) {
                continue;
            }
            eprintln!("{line}");
            if let Ok(mut s) = sink.lock() {
                s.extend_from_slice(line.as_bytes());
                s.push(b'\n');
            }
        }
    })
}

/// Turns the serial line's CRLF into LF, also across read boundaries, and
/// leaves a lone CR (a progress line redrawing itself) alone.
#[derive(Default)]
struct CrlfToLf {
    pending_cr: bool,
}

impl CrlfToLf {
    fn feed(&mut self, input: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(input.len() + 1);
        for &b in input {
            if self.pending_cr {
                self.pending_cr = false;
                if b != b'\n' {
                    out.push(b'\r');
                }
            }
            if b == b'\r' {
                self.pending_cr = true;
            } else {
                out.push(b);
            }
        }
        out
    }
}

/// QEMU option values use `,` as a separator; a literal one is doubled.
fn qemu_escape(p: &Path) -> String {
    p.display().to_string().replace(',', ",,")
}

pub fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Ignores SIGINT while alive, restoring the previous disposition on drop.
struct IgnoreSigint(libc::sighandler_t);

impl IgnoreSigint {
    fn new() -> Self {
        // SAFETY: installing SIG_IGN for SIGINT has no preconditions; the
        // previous handler is kept to be restored.
        IgnoreSigint(unsafe { libc::signal(libc::SIGINT, libc::SIG_IGN) })
    }
}

impl Drop for IgnoreSigint {
    fn drop(&mut self) {
        // SAFETY: restores the handler that `new` replaced.
        unsafe { libc::signal(libc::SIGINT, self.0) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crlf_becomes_lf_across_chunks() {
        let mut c = CrlfToLf::default();
        let mut out = c.feed(b"a\r\nb\r");
        out.extend(c.feed(b"\nc\rd"));
        assert_eq!(out, b"a\nb\nc\rd");
    }

    #[test]
    fn the_outer_vm_is_judged_by_its_boot_lockups_and_heartbeat() {
        use std::time::{Duration, SystemTime};
        let now = SystemTime::now();
        let ago = |s| now - Duration::from_secs(s);
        assert_eq!(judge(Duration::from_secs(10), None, None, 0), None);
        assert_eq!(judge(BOOT_LIMIT, None, None, 0), Some(Unhealthy::BootStalled));
        assert_eq!(judge(Duration::from_secs(500), Some(ago(400)), Some(ago(3)), 0), None);
        assert_eq!(
            judge(Duration::from_secs(500), Some(ago(400)), Some(ago(3)), LOCKUP_REPORTS),
            Some(Unhealthy::LockedUp)
        );
        // Up a while, no heartbeat ever: frozen as soon as it came up.
        assert!(matches!(
            judge(Duration::from_secs(500), Some(ago(200)), None, 0),
            Some(Unhealthy::Frozen(d)) if d >= FROZEN_LIMIT
        ));
        // A heartbeat from before this boot's init came up does not count.
        assert_eq!(judge(Duration::from_secs(100), Some(ago(5)), Some(ago(900)), 0), None);
        assert!(matches!(
            judge(Duration::from_secs(900), Some(ago(800)), Some(ago(160)), 0),
            Some(Unhealthy::Frozen(_))
        ));
    }

    #[test]
    fn commas_are_doubled() {
        assert_eq!(qemu_escape(Path::new("/a,b")), "/a,,b");
    }

    #[test]
    fn last_lines_keeps_the_tail() {
        assert_eq!(last_lines("1\n2\n3\n", 2), "2\n3");
        assert_eq!(last_lines("1", 5), "1");
    }
}
