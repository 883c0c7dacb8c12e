//! Which VM-ending exits KVM handed to a VMM, read from the kernel's own
//! `kvm:kvm_userspace_exit` tracepoint, for the boot loop.
//!
//! Owns a tracefs instance of its own (`instances/berth-boot-loop`, so the
//! boot benchmark's global buffer and its trigger are untouched) and the
//! parsing of its text. The event is filtered in the kernel to the exits
//! that end a guest badly — `KVM_EXIT_SHUTDOWN` (a triple fault),
//! `KVM_EXIT_INTERNAL_ERROR` (an emulation failure), `KVM_EXIT_FAIL_ENTRY`
//! — so a boot records a handful of events, not one per port write. It
//! gives the same evidence for every VMM without trusting what either
//! prints. Beside it, where the kernel has them, `kvm:kvm_exit` filtered
//! to the shutdown intercept (its line carries the guest's RIP, recorded
//! before KVM on AMD re-initialises the vCPU and the VMM can no longer read
//! it) and `kvm:kvm_inj_exception` (the exceptions KVM injected, a few per
//! boot): a failed boot's report shows their last lines. Must never leave
//! an event enabled: [`ExitTrace`] removes its instance when dropped.

use std::path::{Path, PathBuf};

use crate::error::{Error, IoContext, Result};

const TRACEFS: &str = "/sys/kernel/tracing";
const INSTANCE: &str = "instances/berth-boot-loop";
const EVENT: &str = "events/kvm/kvm_userspace_exit";
const SHUTDOWN_EVENT: &str = "events/kvm/kvm_exit";
/// `KVM_ISA_VMX` (1) with `EXIT_REASON_TRIPLE_FAULT` (2), `KVM_ISA_SVM` (2)
/// with `SVM_EXIT_SHUTDOWN` (0x7f).
const SHUTDOWN_FILTER: &str = "(isa == 1 && exit_reason == 2) || (isa == 2 && exit_reason == 127)";
const EXCEPTION_EVENT: &str = "events/kvm/kvm_inj_exception";
/// How many of those lines a report keeps.
pub const FAULT_LINES: usize = 12;
/// `KVM_EXIT_*` numbers (linux/kvm.h).
const KVM_EXIT_FAIL_ENTRY: u32 = 9;
const KVM_EXIT_SHUTDOWN: u32 = 8;
const KVM_EXIT_INTERNAL_ERROR: u32 = 17;

/// A VM-ending exit seen in the trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadExit {
    Shutdown,
    InternalError,
    FailEntry,
}

/// The bad exits in a tracefs `trace` text, in order. The event prints
/// `reason KVM_EXIT_SHUTDOWN (8)`; the number in parentheses is read, so a
/// kernel that names a reason differently still counts. A failed `KVM_RUN`
/// prints `restart (4)` or `error (N)` with the errno instead: not an exit.
pub fn bad_exits(trace: &str) -> Vec<BadExit> {
    trace
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (_, after) = l.split_once("kvm_userspace_exit: reason ")?;
            if after.starts_with("restart ") || after.starts_with("error ") {
                return None;
            }
            let number = after.split_once('(')?.1.split_once(')')?.0.trim().parse::<u32>().ok()?;
            match number {
                KVM_EXIT_SHUTDOWN => Some(BadExit::Shutdown),
                KVM_EXIT_INTERNAL_ERROR => Some(BadExit::InternalError),
                KVM_EXIT_FAIL_ENTRY => Some(BadExit::FailEntry),
                _ => None,
            }
        })
        .collect()
}

/// The last [`FAULT_LINES`] shutdown-intercept and injected-exception
/// lines of a `trace` text, each from its event name on (the task and
/// timestamp columns dropped).
pub fn fault_lines(trace: &str) -> Vec<String> {
    let lines: Vec<String> = trace
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let at = l.find(" kvm_exit: ").or_else(|| l.find(" kvm_inj_exception: "))?;
            Some(l[at + 1..].to_string())
        })
        .collect();
    lines[lines.len().saturating_sub(FAULT_LINES)..].to_vec()
}

/// What a boot left in the trace.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Reading {
    pub exits: Vec<BadExit>,
    /// See [`fault_lines`].
    pub faults: Vec<String>,
}

/// The tracefs instance, armed for bad exits.
pub struct ExitTrace {
    dir: PathBuf,
}

impl ExitTrace {
    /// Mounts tracefs if it is not, makes the instance and enables the
    /// filtered event in it.
    pub fn arm() -> Result<ExitTrace> {
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
        let dir = root.join(INSTANCE);
        if !dir.exists() {
            std::fs::create_dir(&dir).at(&dir)?;
        }
        let armed = ExitTrace { dir };
        armed.write(&format!("{EVENT}/filter"), &format!(
            "errno == 0 && (reason == {KVM_EXIT_SHUTDOWN} || reason == {KVM_EXIT_INTERNAL_ERROR} || reason == {KVM_EXIT_FAIL_ENTRY})"
        ))?;
        armed.write(&format!("{EVENT}/enable"), "1")?;
        // The fault context is extra evidence: a kernel without the events
        // still gives the exits.
        let shutdown = armed
            .write(&format!("{SHUTDOWN_EVENT}/filter"), SHUTDOWN_FILTER)
            .and_then(|()| armed.write(&format!("{SHUTDOWN_EVENT}/enable"), "1"));
        let exceptions = armed.write(&format!("{EXCEPTION_EVENT}/enable"), "1");
        if let Err(e) = shutdown.and(exceptions) {
            eprintln!("boot loop: no shutdown-exit or injected-exception lines in reports ({e})");
        }
        armed.write("tracing_on", "1")?;
        armed.clear()?;
        Ok(armed)
    }

    /// Empties the buffer: the next [`ExitTrace::read`] sees only what came
    /// after.
    pub fn clear(&self) -> Result<()> {
        self.write("trace", "")
    }

    /// The bad exits and fault lines since the last [`ExitTrace::clear`].
    pub fn read(&self) -> Result<Reading> {
        let path = self.dir.join("trace");
        let text = std::fs::read_to_string(&path).at(&path)?;
        Ok(Reading { exits: bad_exits(&text), faults: fault_lines(&text) })
    }

    fn write(&self, file: &str, value: &str) -> Result<()> {
        let path = self.dir.join(file);
        std::fs::write(&path, value).at(&path)
    }
}

impl Drop for ExitTrace {
    fn drop(&mut self) {
        for event in [EVENT, SHUTDOWN_EVENT, EXCEPTION_EVENT] {
            let _ = self.write(&format!("{event}/enable"), "0");
        }
        // An instance directory is removed with rmdir, events and all.
        let _ = std::fs::remove_dir(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shutdowns_and_emulation_failures_are_read_by_number() {
        let trace = "\
# tracer: nop
#
       CPU 0/KVM-211     [001] .....   812.413002: kvm_userspace_exit: reason KVM_EXIT_SHUTDOWN (8)
           vcpu1-300     [000] .....   813.000000: kvm_userspace_exit: reason KVM_EXIT_INTERNAL_ERROR (17)
           vcpu0-300     [000] .....   813.100000: kvm_userspace_exit: reason KVM_EXIT_IO (2)
           vcpu0-300     [000] .....   813.200000: kvm_userspace_exit: reason error (9)
           vcpu0-300     [000] .....   813.250000: kvm_userspace_exit: reason KVM_EXIT_FAIL_ENTRY (9)
           vcpu0-300     [000] .....   813.300000: kvm_userspace_exit: reason restart (4)
garbage: kvm_userspace_exit: reason X (y)
";
        assert_eq!(bad_exits(trace), vec![BadExit::Shutdown, BadExit::InternalError, BadExit::FailEntry]);
        assert!(bad_exits("# tracer: nop\n").is_empty());
    }

    #[test]
    fn the_fault_lines_are_the_last_shutdowns_and_injections_without_their_columns() {
        let mut trace = String::from("# tracer: nop\n");
        for i in 0..20 {
            trace.push_str(&format!(
                "       CPU 0/KVM-211     [001] .....   812.{i:06}: kvm_inj_exception: #GP (0x0) nr {i}\n"
            ));
        }
        trace.push_str("       CPU 0/KVM-211     [001] .....   813.000000: kvm_exit: vcpu 0 reason shutdown rip 0xffffffff81001234 info1 0x0\n");
        trace.push_str(
            "       CPU 0/KVM-211     [001] .....   813.000001: kvm_userspace_exit: reason KVM_EXIT_SHUTDOWN (8)\n",
        );
        let lines = fault_lines(&trace);
        assert_eq!(lines.len(), FAULT_LINES);
        assert_eq!(lines[0], "kvm_inj_exception: #GP (0x0) nr 9");
        assert_eq!(lines[FAULT_LINES - 1], "kvm_exit: vcpu 0 reason shutdown rip 0xffffffff81001234 info1 0x0");
    }
}
