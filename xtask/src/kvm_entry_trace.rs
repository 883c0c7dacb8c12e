//! When a VMM first enters its guest, read from the kernel's own
//! `kvm:kvm_entry` tracepoint, for the boot benchmark.
//!
//! Owns tracefs while a benchmark round runs (one VMM at a time, so every
//! KVM entry seen is the contender's) and the parsing of its text. It gives
//! the same measure for every VMM without instrumenting any of them: the
//! wall time from `spawn` to the guest's first instruction is the VMM's
//! (and, for QEMU, its firmware's) share; from there to the init's marker
//! is the guest's. Must never leave tracing switched on: [`FirstEntry`]
//! switches it off and clears the trigger when dropped.
//!
//! The event fires on every VM entry, hundreds of thousands of them in a
//! boot; a `traceoff:1` trigger on it stops the ring buffer at the first,
//! so the boots it watches pay for one recorded event.

use std::path::Path;

use crate::error::{Error, IoContext, Result};

const TRACEFS: &str = "/sys/kernel/tracing";
const EVENT: &str = "events/kvm/kvm_entry";

/// The monotonic clock in seconds: the clock `trace_clock=mono` stamps
/// events with, so the two can be subtracted.
pub fn monotonic_now() -> f64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes the timespec it is given and nothing else.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9
}

/// The earliest `kvm_entry` timestamp in a tracefs `trace` text: the first
/// event of every per-CPU buffer is kept, and the vCPU thread may have
/// moved between CPUs, so the smallest stamp wins, not the first line.
pub fn first_entry_stamp(trace: &str) -> Option<f64> {
    trace
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (before, _) = l.split_once(": kvm_entry:")?;
            before.split_whitespace().last()?.parse::<f64>().ok()
        })
        .reduce(f64::min)
}

/// tracefs armed to stop at the next KVM entry.
pub struct FirstEntry(());

impl FirstEntry {
    /// Mounts tracefs if it is not, and arms it: monotonic stamps, an
    /// empty buffer, the event on with its one-shot stop trigger, tracing on.
    pub fn arm() -> Result<FirstEntry> {
        let root = Path::new(TRACEFS);
        if !root.join(EVENT).exists() {
            let status = std::process::Command::new("mount")
                .args(["-t", "tracefs", "nodev", TRACEFS])
                .status()
                .map_err(|e| Error::Command { command: "mount -t tracefs".into(), detail: e.to_string() })?;
            if !status.success() || !root.join(EVENT).exists() {
                return Err(Error::Missing {
                    what: format!("{TRACEFS}/{EVENT}"),
                    fix: "run as root on a kernel with tracefs and the kvm module loaded".into(),
                });
            }
        }
        let armed = FirstEntry(());
        armed.write("tracing_on", "0")?;
        armed.write("trace_clock", "mono")?;
        armed.write("trace", "")?;
        armed.write(&format!("{EVENT}/trigger"), "traceoff:1")?;
        armed.write(&format!("{EVENT}/enable"), "1")?;
        armed.write("tracing_on", "1")?;
        Ok(armed)
    }

    /// The monotonic time of the first KVM entry since [`FirstEntry::arm`].
    pub fn stamp(&self) -> Result<Option<f64>> {
        let path = Path::new(TRACEFS).join("trace");
        Ok(first_entry_stamp(&std::fs::read_to_string(&path).at(&path)?))
    }

    fn write(&self, file: &str, value: &str) -> Result<()> {
        let path = Path::new(TRACEFS).join(file);
        std::fs::write(&path, value).at(&path)
    }
}

impl Drop for FirstEntry {
    fn drop(&mut self) {
        let _ = self.write("tracing_on", "0");
        let _ = self.write(&format!("{EVENT}/enable"), "0");
        let _ = self.write(&format!("{EVENT}/trigger"), "!traceoff:1");
        let _ = self.write("trace", "");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_earliest_entry_across_cpu_buffers_wins() {
        let trace = "\
# tracer: nop
#
#           TASK-PID     CPU#  |||||  TIMESTAMP  FUNCTION
#              | |         |   |||||     |         |
       CPU 0/KVM-211     [001] d..2.   812.413002: kvm_entry: vcpu 0, rip 0x1000000
       CPU 0/KVM-211     [000] d..2.   812.412917: kvm_entry: vcpu 0, rip 0xfff0
 qemu-system-x86-300     [000] .....   812.400000: kvm_userspace_exit: reason KVM_EXIT_IO (2)
";
        assert_eq!(first_entry_stamp(trace), Some(812.412917));
    }

    #[test]
    fn no_entry_is_none() {
        assert_eq!(first_entry_stamp("# tracer: nop\n#\n"), None);
        assert_eq!(first_entry_stamp("garbage: kvm_entry: x\n"), None);
    }
}
