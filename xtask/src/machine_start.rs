//! `xtask machine-start-bench` (inside the test bed; `cargo xtask bench
//! machine-start` on the host): `berth machine start` until the engine
//! answers `/_ping` on the machine's docker.sock, against QEMU booting the
//! same kernel and initramfs (microvm, KVM, vhost-vsock) until the same
//! engine answers `/_ping` over vsock. Same run, interleaved rounds; prints
//! the medians and the ratio berth/QEMU.

use std::process::Command;
use std::time::Instant;

use crate::error::{Error, Result};
use crate::guest_boot::{self, Kernel, median};
use crate::process;

const MACHINE: &str = "bench";

pub fn run(rounds: usize) -> Result<()> {
    let berth = |args: &[&str]| process::output(Command::new("berth").args(args));
    let _ = berth(&["machine", "rm", "--force", MACHINE]);
    berth(&["machine", "create", "--cpus", "1", "--memory", "256M", "--disk", "1G", MACHINE])?;
    let mut berth_times = Vec::new();
    let mut qemu_times = Vec::new();
    let result = (|| {
        for round in 1..=rounds {
            let started = Instant::now();
            berth(&["machine", "start", MACHINE])?;
            let b = started.elapsed().as_secs_f64();
            berth(&["machine", "stop", MACHINE])?;
            let q = guest_boot::boot_once(Kernel::Berth, false)?.api.as_secs_f64();
            println!("round {round}: berth machine start {b:.3} s, qemu {q:.3} s (to /_ping answered)");
            berth_times.push(b);
            qemu_times.push(q);
        }
        Ok::<(), Error>(())
    })();
    let _ = berth(&["machine", "rm", "--force", MACHINE]);
    result?;
    let (b, q) = (median(berth_times.into_iter()), median(qemu_times.into_iter()));
    println!("median of {rounds}: berth machine start {b:.3} s, qemu {q:.3} s");
    println!("ratio berth/qemu: {:.2}", b / q);
    Ok(())
}
