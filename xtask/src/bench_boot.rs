//! `cargo xtask bench boot`: berth-vmm against QEMU's microvm, booting the
//! same kernel and initramfs on real KVM in the same test-bed run.
//!
//! Owns the measurement, never the VMMs. Each round starts each contender
//! as a fresh process and times from just before `spawn` to the moment the
//! guest's first init line (`guest: init started`, written by
//! `vmm/testbed/guest-init.sh` to the serial port) arrives on the
//! contender's stdout. Both boot berth's kernel (the PVH `vmlinux`, which
//! both enter through PVH) with the test initramfs, uncompressed (the guest
//! kernel's inflate of the gzip one is half a second of a nested-TCG boot
//! under either VMM, which says nothing about the VMMs; `$BERTH_BENCH_INITRAMFS`
//! names another, e.g. the gzip one, and the figures are printed with the
//! file used), 1 vCPU, 256 MiB, the
//! same `quiet` command line, no devices but the serial console; QEMU runs
//! `-M microvm` without option ROMs, RTC or ACPI, as berth's fast path
//! does. While the guest then sleeps, the contender's memory is read from
//! `/proc/PID/smaps`: the private bytes (`Private_Clean + Private_Dirty`)
//! of every mapping except guest RAM (the anonymous mapping of exactly the
//! guest's size), and `Private_Dirty` alone. Where tracefs can be used
//! (root, as in the test bed), each boot is also split at the guest's first
//! instruction, the first `kvm:kvm_entry` ([`crate::kvm_entry_trace`]): the
//! time before it is the VMM's alone (and, for QEMU, its firmware's after
//! it); the time after it is mostly the guest kernel's boot, which under
//! the test bed's nested TCG outweighs either VMM's share. Prints
//! per-round times, the medians, the ratio berth/QEMU (goal ≤ 0.5) and the
//! memory (goal ≤ 3 MiB for berth-vmm). `$BERTH_BENCH_VMM` names another berth-vmm binary to
//! measure (an older build, for a before/after in the same test-bed run).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::guest_boot::median;
use crate::kvm_entry_trace::{self, FirstEntry};
use crate::prereq;

const MARKER: &str = "guest: init started";
/// The test init's next line: the guest's /proc/uptime.
const UPTIME: &str = "guest: uptime ";

enum ConsoleEvent {
    Marker(Instant),
    Uptime(Instant, f64),
}
const MEMORY_MIB: u64 = 256;
/// berth-vmm's default command line (`berth_vmm::config::DEFAULT_CMDLINE`,
/// whose i8042 options spare the kernel probing a mouse), quiet, and the
/// test init's `probe=sleep` so the guest idles while memory is read. QEMU's
/// microvm has no i8042; the options cost it nothing.
const CMDLINE: &str = "console=ttyS0 reboot=k panic=-1 i8042.noaux i8042.nomux i8042.dumbkbd pci=off quiet probe=sleep";
/// Where `vmm/testbed/build-initramfs.sh` writes the test initramfs.
pub const TEST_INITRAMFS: &str = "/var/tmp/berth-vmm-testbed/test.cpio.gz";
/// The same archive uncompressed, which the benchmark boots by default.
pub const TEST_INITRAMFS_RAW: &str = "/var/tmp/berth-vmm-testbed/test.cpio";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Contender {
    Berth,
    Qemu,
}

/// One boot's figures.
#[derive(Debug, Clone, Copy)]
struct Sample {
    to_marker: Duration,
    /// Process start to the guest's first instruction (the first KVM
    /// entry), seconds; None where tracefs is not available.
    to_first_entry: Option<f64>,
    /// Wall time minus the guest's own clock (None if the init did not
    /// print its uptime).
    vmm_own: Option<f64>,
    /// Private_Clean + Private_Dirty outside guest RAM, bytes.
    private: u64,
    /// Private_Dirty outside guest RAM, bytes.
    private_dirty: u64,
}

/// Private memory of `pid` outside the guest-RAM mapping.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct PrivateMemory {
    pub private: u64,
    pub private_dirty: u64,
    /// Whether a mapping of exactly the guest's size was found and left out.
    pub guest_ram_found: bool,
}

/// Sums `/proc/PID/smaps` text, leaving out the first anonymous mapping
/// whose size is `guest_bytes`.
pub fn private_outside_guest_ram(smaps: &str, guest_bytes: u64) -> PrivateMemory {
    let mut out = PrivateMemory::default();
    let mut skipping = false;
    for line in smaps.lines() {
        let mut fields = line.split_whitespace();
        let Some(first) = fields.next() else { continue };
        if let Some((start, end)) = first.split_once('-')
            && let (Ok(start), Ok(end)) = (u64::from_str_radix(start, 16), u64::from_str_radix(end, 16))
        {
            // A mapping header: "start-end perms offset dev inode [path]".
            let anonymous = fields.nth(3).is_some_and(|inode| inode == "0") && fields.next().is_none();
            skipping = !out.guest_ram_found && anonymous && end - start == guest_bytes;
            out.guest_ram_found |= skipping;
            continue;
        }
        if skipping {
            continue;
        }
        let kib = || fields.clone().next().and_then(|v| v.parse::<u64>().ok()).unwrap_or(0) * 1024;
        match first {
            "Private_Clean:" => out.private += kib(),
            "Private_Dirty:" => {
                out.private += kib();
                out.private_dirty += kib();
            }
            _ => {}
        }
    }
    out
}

/// The berth-vmm binary under test: `$BERTH_BENCH_VMM`, else the one on PATH.
fn berth_vmm_binary() -> PathBuf {
    std::env::var_os("BERTH_BENCH_VMM").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("berth-vmm"))
}

/// The guest's command line: [`CMDLINE`] plus `$BERTH_BENCH_CMDLINE`, which
/// profiling appends to (e.g. `printk.time=1`); both contenders get it.
fn cmdline() -> String {
    match std::env::var("BERTH_BENCH_CMDLINE") {
        Ok(extra) if !extra.trim().is_empty() => format!("{CMDLINE} {}", extra.trim()),
        _ => CMDLINE.to_string(),
    }
}

fn command(who: Contender, kernel: &Path, initramfs: &Path) -> Result<Command> {
    let cmdline = cmdline();
    Ok(match who {
        Contender::Berth => {
            let mut c = Command::new(berth_vmm_binary());
            c.arg("run").arg("--kernel").arg(kernel).arg("--initramfs").arg(initramfs);
            c.args(["--memory", &MEMORY_MIB.to_string(), "--cpus", "1", "--serial", "stdout", "--acpi", "off"]);
            c.args(["--cmdline", &cmdline]);
            c
        }
        Contender::Qemu => {
            let mut c = Command::new(prereq::qemu()?);
            c.args(["-M", "microvm,x-option-roms=off,rtc=off,acpi=off", "-enable-kvm", "-cpu", "host"]);
            c.args(["-m", &MEMORY_MIB.to_string(), "-smp", "1", "-nodefaults", "-no-user-config"]);
            c.args(["-display", "none", "-no-reboot", "-serial", "stdio"]);
            c.arg("-kernel").arg(kernel).arg("-initrd").arg(initramfs);
            c.args(["-append", &cmdline]);
            c
        }
    })
}

fn kill(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

fn boot_once(who: Contender, kernel: &Path, initramfs: &Path, trace: bool) -> Result<Sample> {
    let mut cmd = command(who, kernel, initramfs)?;
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::null());
    let first_entry = if trace { Some(FirstEntry::arm()?) } else { None };
    let started_mono = kvm_entry_trace::monotonic_now();
    let started = Instant::now();
    let mut child = cmd.spawn().map_err(|e| Error::Command { command: format!("{who:?}"), detail: e.to_string() })?;
    let (tx, rx) = mpsc::channel();
    if let Some(out) = child.stdout.take() {
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(|l| l.ok()) {
                let at = Instant::now();
                let event = if line.contains(MARKER) {
                    ConsoleEvent::Marker(at)
                } else if let Some(up) = line.split_once(UPTIME).and_then(|(_, v)| v.trim().parse::<f64>().ok()) {
                    ConsoleEvent::Uptime(at, up)
                } else {
                    continue;
                };
                if tx.send(event).is_err() {
                    break;
                }
            }
        });
    }
    let Ok(ConsoleEvent::Marker(at)) = rx.recv_timeout(Duration::from_secs(120)) else {
        kill(&mut child);
        return Err(Error::Invalid(format!("{who:?}: no `{MARKER}` on the console within 120 s")));
    };
    // The VMM's own share: wall time at the uptime line minus the guest's
    // clock then (which starts when the kernel sets up timekeeping, so
    // the kernel's first milliseconds count as the VMM's).
    let vmm_own = match rx.recv_timeout(Duration::from_secs(10)) {
        Ok(ConsoleEvent::Uptime(when, up)) => Some(((when - started).as_secs_f64() - up).max(0.0)),
        _ => None,
    };
    let to_first_entry = match &first_entry {
        Some(armed) => armed.stamp()?.map(|at| at - started_mono),
        None => None,
    };
    drop(first_entry);
    let smaps_path = format!("/proc/{}/smaps", child.id());
    let smaps = std::fs::read_to_string(&smaps_path);
    kill(&mut child);
    let smaps = smaps.map_err(|source| Error::Io { path: PathBuf::from(smaps_path), source })?;
    let mem = private_outside_guest_ram(&smaps, MEMORY_MIB << 20);
    if !mem.guest_ram_found {
        return Err(Error::Invalid(format!("{who:?}: no {MEMORY_MIB} MiB guest-RAM mapping in smaps")));
    }
    Ok(Sample {
        to_marker: at - started,
        to_first_entry,
        vmm_own,
        private: mem.private,
        private_dirty: mem.private_dirty,
    })
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / f64::from(1 << 20)
}

/// Runs inside the test bed: `rounds` boots of each, alternating.
pub fn run(rounds: usize) -> Result<()> {
    let kernel = std::env::var_os("BERTH_KERNEL").map(PathBuf::from).ok_or_else(|| {
        Error::Invalid("$BERTH_KERNEL is not set: run this inside the test bed (cargo xtask bench boot)".into())
    })?;
    let initramfs = std::env::var_os("BERTH_BENCH_INITRAMFS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(TEST_INITRAMFS_RAW));
    if !initramfs.exists() {
        return Err(Error::Missing {
            what: initramfs.display().to_string(),
            fix: "sh vmm/testbed/build-initramfs.sh".into(),
        });
    }
    println!(
        "berth-vmm binary: {}; initramfs: {}; command line: {}",
        berth_vmm_binary().display(),
        initramfs.display(),
        cmdline()
    );
    // The split at the guest's first instruction needs tracefs (root).
    let trace = match FirstEntry::arm() {
        Ok(_) => true,
        Err(e) => {
            println!("no split at the guest's first instruction: {e}");
            false
        }
    };
    let mut berth = Vec::new();
    let mut qemu = Vec::new();
    for round in 1..=rounds {
        for who in [Contender::Berth, Contender::Qemu] {
            let s = boot_once(who, &kernel, &initramfs, trace)?;
            println!(
                "round {round} {:<9} start to init {:7.3} s   to first guest instruction {:6.3} s   VMM's own {:6.3} s   private outside guest RAM {:6.2} MiB (dirty {:6.2} MiB)",
                format!("{who:?}:").to_lowercase(),
                s.to_marker.as_secs_f64(),
                s.to_first_entry.unwrap_or(f64::NAN),
                s.vmm_own.unwrap_or(f64::NAN),
                mib(s.private),
                mib(s.private_dirty)
            );
            if who == Contender::Berth { berth.push(s) } else { qemu.push(s) }
        }
    }
    let t = |v: &[Sample]| median(v.iter().map(|s| s.to_marker.as_secs_f64()));
    let p = |v: &[Sample]| median(v.iter().map(|s| mib(s.private)));
    let d = |v: &[Sample]| median(v.iter().map(|s| mib(s.private_dirty)));
    let (bt, qt) = (t(&berth), t(&qemu));
    println!("median of {rounds}: process start to guest init: berth-vmm {bt:.3} s, qemu microvm {qt:.3} s");
    println!("ratio berth/qemu: {:.2} (goal <= 0.5)", bt / qt);
    if berth.iter().chain(&qemu).all(|s| s.to_first_entry.is_some()) {
        let entry = |v: &[Sample]| median(v.iter().filter_map(|s| s.to_first_entry));
        let guest = |v: &[Sample]| median(v.iter().filter_map(|s| Some(s.to_marker.as_secs_f64() - s.to_first_entry?)));
        let (be, qe) = (entry(&berth), entry(&qemu));
        println!(
            "process start to the guest's first instruction (first kvm:kvm_entry; QEMU's first is its firmware's): berth-vmm {be:.3} s, qemu {qe:.3} s, ratio {:.2}",
            be / qe
        );
        println!(
            "first instruction to init (the guest's part: the same kernel and initramfs, and QEMU's firmware): berth-vmm {:.3} s, qemu {:.3} s",
            guest(&berth),
            guest(&qemu)
        );
    }
    let own = |v: &[Sample]| median(v.iter().filter_map(|s| s.vmm_own));
    if berth.iter().chain(&qemu).all(|s| s.vmm_own.is_some()) {
        let (bo, qo) = (own(&berth), own(&qemu));
        println!(
            "the VMMs' own time (wall minus the guest's uptime at init; the rest is the guest's, the same kernel and initramfs): berth-vmm {bo:.3} s, qemu {qo:.3} s, ratio {:.2}",
            bo / qo
        );
    }
    println!(
        "private memory outside guest RAM (Private_Clean+Private_Dirty from /proc/PID/smaps): berth-vmm {:.2} MiB (goal <= 3), qemu {:.2} MiB; Private_Dirty alone: berth-vmm {:.2} MiB, qemu {:.2} MiB",
        p(&berth),
        p(&qemu),
        d(&berth),
        d(&qemu)
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guest_ram_is_left_out_of_private_memory() {
        let smaps = "\
55d0c0000000-55d0c0100000 r-xp 00000000 08:01 1234 /usr/bin/berth-vmm
Size:               1024 kB
Private_Clean:       600 kB
Private_Dirty:         0 kB
7f0000000000-7f0010000000 rw-p 00000000 00:00 0
Size:             262144 kB
Private_Clean:         0 kB
Private_Dirty:     90000 kB
7f0010000000-7f0010200000 rw-p 00000000 00:00 0
Size:               2048 kB
Private_Clean:         0 kB
Private_Dirty:       300 kB
7ffc00000000-7ffc00021000 rw-p 00000000 00:00 0 [stack]
Private_Dirty:        40 kB
";
        let m = private_outside_guest_ram(smaps, 256 << 20);
        assert!(m.guest_ram_found);
        assert_eq!(m.private, (600 + 300 + 40) * 1024);
        assert_eq!(m.private_dirty, (300 + 40) * 1024);
        let none = private_outside_guest_ram(smaps, 512 << 20);
        assert!(!none.guest_ram_found);
        assert_eq!(none.private_dirty, (90000 + 300 + 40) * 1024);
    }
}
