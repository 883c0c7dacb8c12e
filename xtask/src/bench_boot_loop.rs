//! `cargo xtask bench boot-loop`: boot after boot of one guest (a kernel
//! and the agent's initramfs) to the engine's `/_ping` and a clean
//! power-off, under berth-vmm and under QEMU's microvm with the same
//! kernel and initramfs, counting the boots that fail by kind.
//!
//! Owns the loop, the classification of a failed boot and the report,
//! never the VMMs. A boot is good when the engine answered `/_ping` over
//! vsock, accepted `POST /berth/v1/shutdown`, and the VMM then ended
//! cleanly on its own. A failed one is named by what the evidence says,
//! in this order: the kernel's `kvm:kvm_userspace_exit` tracepoint
//! ([`crate::kvm_exit_trace`]: the same witness for both VMMs) saw a
//! triple fault, an emulation failure or a failed VM entry; the console
//! showed a kernel panic; the console went quiet for [`STALL_AFTER`]
//! before the engine answered (a stall); the VMM ended or the deadline
//! passed without an answer (no answer); or the end after the shutdown
//! request was not clean. Each failure is printed as it happens with the
//! last console and stderr lines (berth-vmm's crash report among them).
//!
//! QEMU's microvm has no reset device that berth's kernel (no ACPI) can
//! use, so QEMU boots it with `reboot=t` and `-no-reboot`: its clean end
//! is a deliberate triple fault *after* the shutdown request, which is
//! not counted. berth-vmm's clean end is the keyboard-controller reset or
//! ACPI S5, so for it a shutdown exit at any time is a failure.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use berth_http::{Endpoint, Request, blocking};

use crate::error::{Error, Result};
use crate::guest_boot::{Kernel, median};
use crate::kvm_exit_trace::{BadExit, ExitTrace, FAULT_LINES};
use crate::prereq;

/// A boot that has not answered `/_ping` by now has failed.
const PING_DEADLINE: Duration = Duration::from_secs(180);
/// A console silent this long before the engine answered is a stall.
const STALL_AFTER: Duration = Duration::from_secs(60);
/// Time for the guest to power off after the shutdown request.
const END_DEADLINE: Duration = Duration::from_secs(60);
const MEMORY_MIB: &str = "512";
const CPUS: &str = "2";
/// The agent's engine port (berth-agent's init::ENGINE_VSOCK_PORT).
const ENGINE_PORT: u32 = 2375;
/// berth-vmm's default command line (`berth_vmm::config::DEFAULT_CMDLINE`)
/// and `quiet`, as `berth machine` boots.
const BERTH_CMDLINE: &str = "console=ttyS0 reboot=k panic=-1 i8042.noaux i8042.nomux i8042.dumbkbd pci=off quiet";
/// QEMU's: see the module comment for `reboot=t`.
const QEMU_CMDLINE: &str = "console=ttyS0 reboot=t panic=-1 quiet";
/// Lines of console and stderr kept for a failure's report.
const TAIL: usize = 25;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vmm {
    Berth,
    Qemu,
}

impl Vmm {
    fn label(self) -> &'static str {
        match self {
            Vmm::Berth => "berth-vmm",
            Vmm::Qemu => "qemu microvm",
        }
    }
}

/// Why a boot failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum FailureKind {
    TripleFault,
    EmulationFailure,
    FailedEntry,
    Panic,
    Stall,
    NoAnswer,
    UncleanEnd,
}

impl FailureKind {
    const ALL: [FailureKind; 7] = [
        FailureKind::TripleFault,
        FailureKind::EmulationFailure,
        FailureKind::FailedEntry,
        FailureKind::Panic,
        FailureKind::Stall,
        FailureKind::NoAnswer,
        FailureKind::UncleanEnd,
    ];

    fn label(self) -> &'static str {
        match self {
            FailureKind::TripleFault => "triple fault",
            FailureKind::EmulationFailure => "emulation failure",
            FailureKind::FailedEntry => "failed VM entry",
            FailureKind::Panic => "kernel panic",
            FailureKind::Stall => "stall",
            FailureKind::NoAnswer => "no answer",
            FailureKind::UncleanEnd => "unclean end",
        }
    }
}

/// What one boot showed, before it is judged.
#[derive(Debug, Default)]
pub struct Evidence {
    /// The bad exits the tracepoint saw before the shutdown request, and
    /// after it.
    pub exits_before: Vec<BadExit>,
    pub exits_after: Vec<BadExit>,
    pub panic_on_console: bool,
    /// The longest the console was silent before the answer (or the end).
    pub longest_silence: Duration,
    pub answered: bool,
    /// The shutdown request was accepted, and the VMM then ended with
    /// status 0 in time.
    pub shutdown_accepted: bool,
    pub ended_cleanly: bool,
}

/// Judges a boot: `None` when it was good.
pub fn judge(vmm: Vmm, e: &Evidence) -> Option<FailureKind> {
    let after_counts = vmm == Vmm::Berth;
    let exits = e.exits_before.iter().chain(e.exits_after.iter().filter(|_| after_counts));
    let mut worst = None;
    for x in exits {
        let kind = match x {
            BadExit::Shutdown => FailureKind::TripleFault,
            BadExit::InternalError => FailureKind::EmulationFailure,
            BadExit::FailEntry => FailureKind::FailedEntry,
        };
        worst = Some(worst.map_or(kind, |w: FailureKind| w.min(kind)));
    }
    // QEMU with reboot=t: an emulation failure after the request still counts.
    if vmm == Vmm::Qemu
        && let Some(x) = e.exits_after.iter().find(|x| **x != BadExit::Shutdown)
    {
        let kind = if *x == BadExit::InternalError { FailureKind::EmulationFailure } else { FailureKind::FailedEntry };
        worst = Some(worst.map_or(kind, |w| w.min(kind)));
    }
    if worst.is_some() {
        return worst;
    }
    if e.panic_on_console {
        return Some(FailureKind::Panic);
    }
    if !e.answered {
        return Some(if e.longest_silence >= STALL_AFTER { FailureKind::Stall } else { FailureKind::NoAnswer });
    }
    if !e.shutdown_accepted || !e.ended_cleanly {
        return Some(FailureKind::UncleanEnd);
    }
    None
}

/// One boot's result.
struct Boot {
    /// Process start to the first 200 from `/_ping`.
    to_ping: Option<Duration>,
    failure: Option<(FailureKind, String)>,
}

fn images(kernel: Kernel) -> Result<(PathBuf, PathBuf)> {
    // berth boots its PVH vmlinux (as `berth machine` does), Debian its bzImage.
    let (k, i) = match kernel {
        Kernel::Berth => ("BERTH_KERNEL", "BERTH_INITRAMFS"),
        Kernel::Debian => ("BERTH_DEBIAN_KERNEL", "BERTH_DEBIAN_INITRAMFS"),
    };
    let get = |v: &str| {
        std::env::var_os(v).map(PathBuf::from).ok_or_else(|| {
            Error::Invalid(format!("${v} is not set: run this inside the test bed (cargo xtask bench boot-loop)"))
        })
    };
    Ok((get(k)?, get(i)?))
}

fn command(vmm: Vmm, kernel: Kernel, image: &Path, initramfs: &Path, sock: &Path, cid: u32) -> Result<Command> {
    Ok(match vmm {
        Vmm::Berth => {
            let mut c = Command::new("berth-vmm");
            c.arg("run").arg("--kernel").arg(image).arg("--initramfs").arg(initramfs);
            c.args(["--cpus", CPUS, "--memory", MEMORY_MIB, "--serial", "stdout", "--stop-timeout", "30"]);
            c.arg("--vsock").arg(format!("3:{}", sock.display()));
            c.args(["--cmdline", BERTH_CMDLINE]);
            c
        }
        Vmm::Qemu => {
            let mut c = Command::new(prereq::qemu()?);
            c.args(["-M", kernel.machine(), "-enable-kvm", "-cpu", "host"]);
            c.args(["-m", MEMORY_MIB, "-smp", CPUS, "-nodefaults", "-no-user-config", "-display", "none"]);
            c.args(["-no-reboot", "-serial", "stdio"]);
            c.arg("-kernel").arg(image).arg("-initrd").arg(initramfs);
            c.args(["-append", QEMU_CMDLINE]);
            c.args(["-device", &format!("vhost-vsock-device,guest-cid={cid}")]);
            c
        }
    })
}

fn engine(vmm: Vmm, sock: &Path, cid: u32) -> Result<blocking::Client> {
    let endpoint = match vmm {
        Vmm::Berth => Endpoint::HybridVsock { uds: sock.to_path_buf(), port: ENGINE_PORT },
        Vmm::Qemu => Endpoint::Vsock { cid, port: ENGINE_PORT },
    };
    let client = blocking::Client::new(endpoint).map_err(|e| Error::Invalid(e.to_string()))?;
    Ok(client.timeout(Duration::from_secs(10)))
}

/// Console lines, stamped, from a thread.
fn lines_of(out: impl Read + Send + 'static) -> mpsc::Receiver<(String, Instant)> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(|l| l.ok()) {
            if tx.send((line.trim_end_matches('\r').to_string(), Instant::now())).is_err() {
                break;
            }
        }
    });
    rx
}

/// The console and stderr as they arrive, with what the judge needs.
struct Watch {
    console: mpsc::Receiver<(String, Instant)>,
    stderr: mpsc::Receiver<(String, Instant)>,
    console_tail: Vec<String>,
    stderr_tail: Vec<String>,
    last_line: Instant,
    longest_silence: Duration,
    panic: bool,
}

impl Watch {
    fn drain(&mut self) {
        let now = Instant::now();
        while let Ok((line, at)) = self.console.try_recv() {
            self.longest_silence = self.longest_silence.max(at - self.last_line);
            self.last_line = at;
            self.panic |= line.contains("Kernel panic - not syncing");
            push_tail(&mut self.console_tail, line);
        }
        while let Ok((line, _)) = self.stderr.try_recv() {
            push_tail(&mut self.stderr_tail, line);
        }
        self.longest_silence = self.longest_silence.max(now - self.last_line);
    }

    fn report(&self) -> String {
        let mut r = String::from("    last console lines:\n");
        for l in &self.console_tail {
            r.push_str(&format!("    | {l}\n"));
        }
        if !self.stderr_tail.is_empty() {
            r.push_str("    last stderr lines:\n");
            for l in &self.stderr_tail {
                r.push_str(&format!("    ! {l}\n"));
            }
        }
        r
    }
}

fn push_tail(tail: &mut Vec<String>, line: String) {
    if tail.len() == TAIL {
        tail.remove(0);
    }
    tail.push(line);
}

fn boot_once(vmm: Vmm, kernel: Kernel, trace: &ExitTrace, sock: &Path) -> Result<Boot> {
    let (image, initramfs) = images(kernel)?;
    let cid = 3 + std::process::id() % 1_000_000;
    let _ = std::fs::remove_file(sock);
    trace.clear()?;
    let started = Instant::now();
    let mut child: Child = command(vmm, kernel, &image, &initramfs, sock, cid)?
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::Command { command: vmm.label().into(), detail: e.to_string() })?;
    let mut watch = Watch {
        console: lines_of(child.stdout.take().expect("piped stdout")),
        stderr: lines_of(child.stderr.take().expect("piped stderr")),
        console_tail: Vec::new(),
        stderr_tail: Vec::new(),
        last_line: started,
        longest_silence: Duration::ZERO,
        panic: false,
    };
    let client = engine(vmm, sock, cid)?;
    let mut evidence = Evidence::default();
    let mut to_ping = None;
    // Until the engine answers, the VMM ends, or the boot runs out of time.
    loop {
        watch.drain();
        if let Ok((200, _)) = client.send(Request::get("/_ping"), 1 << 10).map(|r| (r.status, ())) {
            to_ping = Some(started.elapsed());
            evidence.answered = true;
            break;
        }
        let exited = child.try_wait().ok().flatten().is_some();
        if exited || started.elapsed() >= PING_DEADLINE || watch.longest_silence >= STALL_AFTER {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let before = trace.read()?;
    evidence.exits_before = before.exits;
    let mut faults = before.faults;
    trace.clear()?;
    if evidence.answered {
        evidence.shutdown_accepted =
            matches!(client.send(Request::post("/berth/v1/shutdown"), 1 << 10), Ok(r) if r.status == 202);
        let deadline = Instant::now() + END_DEADLINE;
        let status = loop {
            watch.drain();
            match child.try_wait() {
                Ok(Some(status)) => break Some(status),
                Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
                _ => break None,
            }
        };
        evidence.ended_cleanly = status.is_some_and(|s| s.success());
    }
    let _ = child.kill();
    let _ = child.wait();
    // The last lines reach the pipes' threads after the exit.
    std::thread::sleep(Duration::from_millis(100));
    watch.drain();
    let after = trace.read()?;
    evidence.exits_after = after.exits;
    faults.extend(after.faults);
    evidence.panic_on_console = watch.panic;
    evidence.longest_silence = if evidence.answered { Duration::ZERO } else { watch.longest_silence };
    let failure = judge(vmm, &evidence).map(|kind| {
        let mut report = watch.report();
        if !faults.is_empty() {
            report.push_str("    KVM's shutdown exits and injected exceptions (tracefs), last ones:\n");
            for l in &faults[faults.len().saturating_sub(FAULT_LINES)..] {
                report.push_str(&format!("    > {l}\n"));
            }
        }
        (kind, report)
    });
    Ok(Boot { to_ping, failure })
}

/// The figures of one kernel under one VMM.
#[derive(Default)]
struct Tally {
    boots: usize,
    times: Vec<f64>,
    failures: Vec<FailureKind>,
}

fn spread(times: &[f64]) -> String {
    if times.is_empty() {
        return "no good boot".into();
    }
    let mut v = times.to_vec();
    v.sort_by(f64::total_cmp);
    let pick = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
    format!(
        "min {:.2} s, median {:.2} s, p90 {:.2} s, max {:.2} s",
        v[0],
        median(v.iter().copied()),
        pick(0.9),
        v[v.len() - 1]
    )
}

/// Runs inside the test bed: `rounds` boots of each kernel under each VMM,
/// interleaved, then the failures by kind and the boot-time spread. Fails
/// when any boot failed.
pub fn run(kernels: &[Kernel], vmms: &[Vmm], rounds: usize) -> Result<()> {
    let trace = ExitTrace::arm()?;
    let sock = std::env::temp_dir().join(format!("berth-boot-loop-{}.sock", std::process::id()));
    println!(
        "boot loop: {rounds} rounds of {} under {}; {CPUS} vCPUs, {MEMORY_MIB} MiB; a boot is good when /_ping \
         answers and the VMM ends cleanly after POST /berth/v1/shutdown",
        kernels.iter().map(|k| k.label()).collect::<Vec<_>>().join(" and "),
        vmms.iter().map(|v| v.label()).collect::<Vec<_>>().join(" and ")
    );
    let mut tallies: Vec<((Kernel, Vmm), Tally)> =
        kernels.iter().flat_map(|k| vmms.iter().map(move |v| ((*k, *v), Tally::default()))).collect();
    for round in 1..=rounds {
        for ((kernel, vmm), tally) in tallies.iter_mut() {
            let boot = boot_once(*vmm, *kernel, &trace, &sock)?;
            tally.boots += 1;
            match &boot.failure {
                None => {
                    let t = boot.to_ping.map_or(f64::NAN, |d| d.as_secs_f64());
                    tally.times.push(t);
                    println!(
                        "round {round} {:<14} {:<13} /_ping after {t:.2} s, clean end",
                        kernel.label(),
                        vmm.label()
                    );
                }
                Some((kind, report)) => {
                    tally.failures.push(*kind);
                    println!(
                        "round {round} {:<14} {:<13} FAILED: {}{}\n{report}",
                        kernel.label(),
                        vmm.label(),
                        kind.label(),
                        boot.to_ping
                            .map(|d| format!(" (/_ping answered after {:.2} s)", d.as_secs_f64()))
                            .unwrap_or_default()
                    );
                }
            }
        }
    }
    let _ = std::fs::remove_file(&sock);
    println!("summary of {rounds} rounds:");
    let mut failed = 0;
    for ((kernel, vmm), t) in &tallies {
        let kinds: Vec<String> = FailureKind::ALL
            .iter()
            .filter_map(|k| {
                let n = t.failures.iter().filter(|f| *f == k).count();
                (n > 0).then(|| format!("{n} {}", k.label()))
            })
            .collect();
        failed += t.failures.len();
        println!(
            "  {:<14} {:<13} {} boots, {} failed{}; boot to /_ping: {}",
            kernel.label(),
            vmm.label(),
            t.boots,
            t.failures.len(),
            if kinds.is_empty() { String::new() } else { format!(" ({})", kinds.join(", ")) },
            spread(&t.times)
        );
    }
    if failed > 0 {
        return Err(Error::Invalid(format!("{failed} boots failed")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn good() -> Evidence {
        Evidence { answered: true, shutdown_accepted: true, ended_cleanly: true, ..Default::default() }
    }

    #[test]
    fn a_clean_boot_is_good_under_both() {
        assert_eq!(judge(Vmm::Berth, &good()), None);
        assert_eq!(judge(Vmm::Qemu, &good()), None);
    }

    #[test]
    fn qemu_s_deliberate_triple_fault_after_the_request_is_its_clean_end() {
        let e = Evidence { exits_after: vec![BadExit::Shutdown], ..good() };
        assert_eq!(judge(Vmm::Qemu, &e), None);
        assert_eq!(judge(Vmm::Berth, &e), Some(FailureKind::TripleFault), "berth-vmm never ends that way");
        let e = Evidence { exits_after: vec![BadExit::InternalError, BadExit::Shutdown], ..good() };
        assert_eq!(judge(Vmm::Qemu, &e), Some(FailureKind::EmulationFailure));
    }

    #[test]
    fn the_tracepoint_names_a_crash_before_anything_else() {
        let e = Evidence { exits_before: vec![BadExit::Shutdown], panic_on_console: true, ..Default::default() };
        assert_eq!(judge(Vmm::Qemu, &e), Some(FailureKind::TripleFault));
        assert_eq!(judge(Vmm::Berth, &e), Some(FailureKind::TripleFault));
        let e = Evidence { exits_before: vec![BadExit::InternalError], ..Default::default() };
        assert_eq!(judge(Vmm::Berth, &e), Some(FailureKind::EmulationFailure));
    }

    #[test]
    fn without_a_bad_exit_the_console_and_the_clock_decide() {
        let e = Evidence { panic_on_console: true, ..Default::default() };
        assert_eq!(judge(Vmm::Berth, &e), Some(FailureKind::Panic));
        let e = Evidence { longest_silence: STALL_AFTER, ..Default::default() };
        assert_eq!(judge(Vmm::Berth, &e), Some(FailureKind::Stall));
        let e = Evidence { longest_silence: Duration::from_secs(2), ..Default::default() };
        assert_eq!(judge(Vmm::Qemu, &e), Some(FailureKind::NoAnswer));
        let e = Evidence { ended_cleanly: false, ..good() };
        assert_eq!(judge(Vmm::Berth, &e), Some(FailureKind::UncleanEnd));
        let e = Evidence { shutdown_accepted: false, ..good() };
        assert_eq!(judge(Vmm::Qemu, &e), Some(FailureKind::UncleanEnd));
    }

    #[test]
    fn the_spread_reads_min_median_p90_max() {
        let t: Vec<f64> = (1..=10).map(f64::from).collect();
        assert_eq!(spread(&t), "min 1.00 s, median 5.50 s, p90 9.00 s, max 10.00 s");
        assert_eq!(spread(&[]), "no good boot");
    }
}
