//! The guest's start-up as PID 1: mount the kernel filesystems, load the
//! kernel modules the initramfs carries, announce that init was reached, and
//! end the VM cleanly.
//!
//! PID 1 must never exit: the kernel panics when it does. Every failure here
//! is printed on the console and the VM is powered off instead.

mod kernel_modules;
mod mounts;
mod power;

use std::time::Duration;

/// Printed on the console as soon as init runs, with the guest's uptime.
/// Boot benchmarks and tests look for this exact text.
pub const INIT_MARKER: &str = "berth-agent: init reached";

/// Where `cargo xtask images` puts modules for kernels that need them, and
/// the file that lists them in load order.
const MODULE_DIR: &str = "/lib/modules/berth";

pub fn run_as_pid1() -> ! {
    // Read the clock before anything else so that the figure is the kernel's
    // boot time, not ours.
    let uptime = boot_time();
    println!("{INIT_MARKER} after {:.3} s", uptime.as_secs_f64());

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

    // The engine comes next; until it exists the VM has done its job once
    // init is reached, so it ends the way every berth VM ends.
    println!("berth-agent: powering off");
    power::power_off();
}

/// Time since the guest kernel started, including any time suspended.
fn boot_time() -> Duration {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_BOOTTIME)
        .map(Duration::from)
        .unwrap_or_default()
}
