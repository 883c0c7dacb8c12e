//! `xtask guest-boot`: boots berth's guest (a kernel and the agent's
//! initramfs) with `qemu-system-x86_64 -enable-kvm` and reports how long the
//! guest took to reach the agent's init. It runs inside the test bed, where
//! /dev/kvm is real; berth-vmm takes QEMU's place once it boots Linux.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use berth_http::{Endpoint, Request, blocking};

use crate::error::{Error, Result};
use crate::prereq;

/// What the agent prints first (berth-agent's init::INIT_MARKER).
pub const INIT_MARKER: &str = "berth-agent: init reached after ";

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Kernel {
    /// kernel-config's kernel with the agent alone.
    Berth,
    /// Debian's stock kernel with the agent and its modules.
    Debian,
}

impl Kernel {
    pub fn label(self) -> &'static str {
        match self {
            Kernel::Berth => "berth kernel",
            Kernel::Debian => "Debian kernel",
        }
    }

    /// Both are booted as bzImage through the same loader, so the figures
    /// compare kernels, not boot paths.
    pub(crate) fn images(self) -> Result<(PathBuf, PathBuf)> {
        let (k, i) = match self {
            Kernel::Berth => ("BERTH_KERNEL_BZIMAGE", "BERTH_INITRAMFS"),
            Kernel::Debian => ("BERTH_DEBIAN_KERNEL", "BERTH_DEBIAN_INITRAMFS"),
        };
        let get = |v: &str| {
            std::env::var_os(v).map(PathBuf::from).ok_or_else(|| {
                Error::Invalid(format!(
                    "${v} is not set: run this inside the test bed (cargo xtask testbed -- xtask guest-boot)"
                ))
            })
        };
        Ok((get(k)?, get(i)?))
    }

    /// berth's kernel has no ACPI and takes its virtio-mmio devices from the
    /// command line. Debian's kernel is built without
    /// VIRTIO_MMIO_CMDLINE_DEVICES, so it only finds virtio-mmio devices
    /// (the vsock) through ACPI: microvm's ACPI tables stay on for it.
    pub(crate) fn machine(self) -> &'static str {
        match self {
            Kernel::Berth => "microvm,x-option-roms=off,rtc=off,acpi=off",
            Kernel::Debian => "microvm,x-option-roms=off,rtc=off",
        }
    }
}

/// One boot: the guest's own clock at init, the wall time from starting
/// QEMU until the marker arrived, and until the engine answered `/_ping`
/// over vsock.
#[derive(Debug, Clone, Copy)]
pub struct Boot {
    pub guest: Duration,
    pub wall: Duration,
    pub api: Duration,
}

/// The agent's engine port (berth-agent's init::ENGINE_VSOCK_PORT).
const ENGINE_PORT: u32 = 2375;

pub fn boot_once(kernel: Kernel, echo: bool) -> Result<Boot> {
    let qemu = prereq::qemu()?;
    let (image, initramfs) = kernel.images()?;
    // A CID of our own, so that boots in other processes of the test bed
    // don't collide on vhost-vsock.
    let cid = 3 + std::process::id() % 1_000_000;
    let started = Instant::now();
    // microvm has no i8042, and its BIOS reset path fails under nested KVM:
    // `reboot=t` (triple fault) ends the guest, and -no-reboot ends QEMU.
    let mut child = Command::new(&qemu)
        .args(["-M", kernel.machine(), "-enable-kvm", "-cpu", "host"])
        .args(["-m", "256", "-smp", "1", "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot"])
        .args(["-serial", "stdio"])
        .arg("-kernel")
        .arg(&image)
        .arg("-initrd")
        .arg(&initramfs)
        .args(["-append", "console=ttyS0 reboot=t panic=-1 quiet"])
        .args(["-device", &format!("vhost-vsock-device,guest-cid={cid}")])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| Error::Command { command: qemu.display().to_string(), detail: e.to_string() })?;

    // Lines arrive on a thread so that a guest that never prints anything
    // still runs into the deadline below.
    let (tx, rx) = mpsc::channel();
    if let Some(out) = child.stdout.take() {
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(|l| l.ok()) {
                if tx.send((line, Instant::now())).is_err() {
                    break;
                }
            }
        });
    }
    let deadline = started + Duration::from_secs(120);
    let mut console = Vec::new();
    let mut marker = None;
    // Until the marker: the kernel's boot.
    while marker.is_none() {
        let Ok((line, at)) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) else { break };
        let line = line.trim_end_matches('\r').to_string();
        if echo {
            println!("  | {line}");
        }
        marker = parse_marker(&line).map(|guest| (guest, at - started));
        console.push(line);
    }
    // Then the engine: it must answer over vsock, and stop the VM on request.
    let api = marker.and_then(|_| {
        let answered = wait_for_ping(cid, deadline)?;
        match engine_request(cid, Request::post("/berth/v1/shutdown")) {
            Ok((202, _)) => Some(answered - started),
            Ok((status, text)) => {
                console.push(format!("xtask: shutdown request answered {status}: {text}"));
                None
            }
            Err(e) => {
                console.push(format!("xtask: shutdown request failed: {e}"));
                None
            }
        }
    });
    while let Ok((line, _)) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        let line = line.trim_end_matches('\r').to_string();
        if echo {
            println!("  | {line}");
        }
        console.push(line);
    }
    if Instant::now() >= deadline {
        let _ = child.kill();
    }
    let status = child.wait().map_err(|e| Error::Command { command: "qemu".into(), detail: e.to_string() })?;
    let fail = |what: &str| {
        let tail = console[console.len().saturating_sub(20)..].join("\n");
        Error::Invalid(format!("{}: {what} (qemu: {status}); last console lines:\n{tail}", kernel.label()))
    };
    let (guest, wall) = marker.ok_or_else(|| fail("never reached init"))?;
    let api = api.ok_or_else(|| fail("the agent's engine did not answer over vsock or refused to shut down"))?;
    if !status.success() {
        return Err(fail("the VM did not end cleanly after the shutdown request"));
    }
    Ok(Boot { guest, wall, api })
}

/// Polls `/_ping` on the guest's engine until it answers 200.
fn wait_for_ping(cid: u32, deadline: Instant) -> Option<Instant> {
    while Instant::now() < deadline {
        if let Ok((200, _)) = engine_request(cid, Request::get("/_ping")) {
            return Some(Instant::now());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

/// One request to the guest's engine over AF_VSOCK (the test bed reaches
/// the guest through vhost-vsock, with no host-side proxy): the status and
/// the body as text.
fn engine_request(cid: u32, req: Request) -> std::result::Result<(u16, String), berth_http::Error> {
    let client = blocking::Client::new(Endpoint::Vsock { cid, port: ENGINE_PORT })?.timeout(Duration::from_secs(30));
    let reply = client.send(req, 1 << 20)?;
    Ok((reply.status, reply.text()))
}

/// `berth-agent: init reached after 0.123 s` → 0.123 s.
fn parse_marker(line: &str) -> Option<Duration> {
    let rest = &line[line.find(INIT_MARKER)? + INIT_MARKER.len()..];
    let secs: f64 = rest.split_whitespace().next()?.parse().ok()?;
    Duration::try_from_secs_f64(secs).ok()
}

/// Boots each kernel `rounds` times, interleaved so that drift in the
/// machine's speed hits both alike, and prints medians and, with two
/// kernels, the ratio of the first to the second.
pub fn compare(kernels: &[Kernel], rounds: usize, echo: bool) -> Result<()> {
    let mut results: Vec<Vec<Boot>> = vec![Vec::new(); kernels.len()];
    for round in 1..=rounds {
        for (k, kernel) in kernels.iter().enumerate() {
            let b = boot_once(*kernel, echo)?;
            println!(
                "round {round}: {:<14} init after {:.3} s guest time, {:.3} s wall; engine answered /_ping over vsock after {:.3} s wall",
                kernel.label(),
                b.guest.as_secs_f64(),
                b.wall.as_secs_f64(),
                b.api.as_secs_f64()
            );
            results[k].push(b);
        }
    }
    if rounds == 1 && kernels.len() == 1 {
        return Ok(());
    }
    let medians: Vec<(f64, f64)> = results
        .iter()
        .map(|r| (median(r.iter().map(|b| b.guest.as_secs_f64())), median(r.iter().map(|b| b.wall.as_secs_f64()))))
        .collect();
    println!("median of {rounds}:");
    for (kernel, (guest, wall)) in kernels.iter().zip(&medians) {
        println!("  {:<14} {guest:.3} s guest time to init, {wall:.3} s wall", kernel.label());
    }
    if let [(g0, w0), (g1, w1)] = medians[..] {
        println!(
            "ratio {} / {}: guest time {:.2}, wall {:.2}",
            kernels[0].label(),
            kernels[1].label(),
            g0 / g1,
            w0 / w1
        );
    }
    Ok(())
}

pub fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut v: Vec<f64> = values.collect();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    if v.len() % 2 == 1 { v[mid] } else { (v[mid - 1] + v[mid]) / 2.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marker_is_parsed() {
        assert_eq!(parse_marker("berth-agent: init reached after 0.250 s"), Some(Duration::from_millis(250)));
        assert_eq!(
            parse_marker("[ 1.0] junk berth-agent: init reached after 1.5 s"),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(parse_marker("berth-agent: powering off"), None);
        assert_eq!(parse_marker("berth-agent: init reached after x s"), None);
    }
}
