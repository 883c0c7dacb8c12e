//! Where the guest's console bytes go, and the watch on them for a panic.
//!
//! The guest's only way to say "I panicked" on a machine without a pvpanic
//! device is to print it. `ConsoleSink` forwards every byte to the
//! configured output and scans the stream, line by line, for the kernel's
//! panic banner; a hit is reported to the `ExitSignal`. It also watches for
//! the kernel's last words when it halts for good (`reboot: System halted`,
//! `reboot: Power down`): a kernel without ACPI (berth's) has no way to
//! power off, so `poweroff` halts its CPUs inside KVM, where the VMM cannot
//! see them; the line is the only sign, and it ends the VM as a power-off.
//! It keeps the last [`TAIL_LINES`] lines in a [`ConsoleTail`] for a crash
//! report. Output errors are logged once and never stop the guest.

use std::collections::VecDeque;
use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};

use crate::exit::{ExitSignal, VmExit};

const PANIC_MARKER: &[u8] = b"Kernel panic - ";
/// What `kernel_halt` and `kernel_power_off` print just before the CPUs
/// stop (pr_emerg, so `quiet` does not hide them).
const HALT_MARKERS: [&[u8]; 2] = [b"reboot: System halted", b"reboot: Power down"];
/// Longest line kept for the panic message; the rest is cut.
const MAX_LINE: usize = 512;

/// How many console lines a crash report shows.
pub const TAIL_LINES: usize = 30;

/// The console's last lines, shared with whoever reports a crash.
#[derive(Clone, Default)]
pub struct ConsoleTail(Arc<Mutex<Tail>>);

#[derive(Default)]
struct Tail {
    lines: VecDeque<String>,
    /// The line being printed, not yet ended.
    partial: String,
}

impl ConsoleTail {
    /// The last lines, oldest first, the unfinished one included.
    pub fn lines(&self) -> Vec<String> {
        let t = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let mut out: Vec<String> = t.lines.iter().cloned().collect();
        if !t.partial.is_empty() {
            out.push(t.partial.clone());
        }
        out.drain(..out.len().saturating_sub(TAIL_LINES));
        out
    }

    fn update(&self, ended: &mut Vec<String>, partial: &[u8]) {
        let mut t = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        for line in ended.drain(..) {
            if t.lines.len() == TAIL_LINES {
                t.lines.pop_front();
            }
            t.lines.push_back(line);
        }
        t.partial = printable(partial);
    }
}

/// A console line as text: lossy UTF-8, without the trailing CR.
fn printable(line: &[u8]) -> String {
    String::from_utf8_lossy(line).trim_end().to_string()
}

/// A console output with a panic watch.
pub struct ConsoleSink {
    out: Option<Box<dyn Write + Send>>,
    exit: Arc<ExitSignal>,
    line: Vec<u8>,
    /// Lines ended in this write, for the tail.
    ended: Vec<String>,
    tail: ConsoleTail,
    output_failed: bool,
}

impl ConsoleSink {
    /// `out` of `None` discards the bytes but still watches them.
    pub fn new(out: Option<Box<dyn Write + Send>>, exit: Arc<ExitSignal>) -> Self {
        ConsoleSink {
            out,
            exit,
            line: Vec::with_capacity(128),
            ended: Vec::new(),
            tail: ConsoleTail::default(),
            output_failed: false,
        }
    }

    /// The handle to this console's last lines.
    pub fn tail(&self) -> ConsoleTail {
        self.tail.clone()
    }

    fn scan(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if b == b'\n' {
                self.end_line();
            } else if self.line.len() < MAX_LINE {
                self.line.push(b);
            }
        }
        self.tail.update(&mut self.ended, &self.line);
    }

    fn end_line(&mut self) {
        let msg = kernel_message(&self.line);
        if msg.starts_with(PANIC_MARKER) {
            let text = String::from_utf8_lossy(msg).trim_end().to_string();
            self.exit.note_panic(text);
        } else if HALT_MARKERS.iter().any(|m| msg.starts_with(m)) {
            self.exit.post(VmExit::GuestPowerOff);
        }
        self.ended.push(printable(&self.line));
        self.line.clear();
    }
}

/// The kernel's message in a console line: after leading blanks and the
/// printk timestamp (`[    1.234567] `), if any. The markers count only at
/// its start: a process named `Kernel panic - ` that gets OOM-killed prints
/// the name mid-line, and must not turn a clean power-off into a panic.
fn kernel_message(line: &[u8]) -> &[u8] {
    let line = line.trim_ascii_start();
    match line.strip_prefix(b"[").and_then(|rest| rest.iter().position(|b| *b == b']').map(|end| &rest[end + 1..])) {
        Some(msg) if line.len() - msg.len() <= 20 => msg.trim_ascii_start(),
        _ => line,
    }
}

impl Write for ConsoleSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.scan(buf);
        if let Some(out) = &mut self.out
            && let Err(e) = out.write_all(buf)
            && !self.output_failed
        {
            tracing::warn!(error = %e, "console output failed; guest output is being dropped");
            self.output_failed = true;
        }
        // The guest must never block or fail on our output.
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if let Some(out) = &mut self.out {
            let _ = out.flush();
        }
        Ok(())
    }
}

impl Drop for ConsoleSink {
    /// The guest's last bytes reach the output even when the VM ends in the
    /// middle of a line (an output that buffers, such as stdout's line
    /// buffer, would otherwise keep a final line without a newline).
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// The banner mid-line (an OOM kill of a process so named) is no panic;
    /// at the start of the message, after a timestamp or not, it is.
    #[test]
    fn markers_count_only_at_the_start_of_the_message() {
        let exit = Arc::new(ExitSignal::new().unwrap());
        let mut sink = ConsoleSink::new(None, exit.clone());
        sink.write_all(b"[   9.1] Out of memory: Killed process 77 (Kernel panic - ) total-vm:1kB\r\n").unwrap();
        sink.write_all(b"echo reboot: Power down\n").unwrap();
        exit.post(VmExit::GuestReset);
        assert_eq!(exit.outcome(), Some(VmExit::GuestReset), "neither line is the kernel's");
        assert_eq!(kernel_message(b"[    1.234567] Kernel panic - x"), b"Kernel panic - x");
        assert_eq!(kernel_message(b"Kernel panic - y"), b"Kernel panic - y");
        assert_eq!(kernel_message(b"  reboot: System halted"), b"reboot: System halted");
    }

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);
    impl Write for Shared {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn forwards_bytes_and_spots_a_panic_split_across_writes() {
        let exit = Arc::new(ExitSignal::new().unwrap());
        let out = Shared::default();
        let mut sink = ConsoleSink::new(Some(Box::new(out.clone())), exit.clone());
        sink.write_all(b"[    1.0] Run /init\r\n[    1.1] Kernel pa").unwrap();
        sink.write_all(b"nic - not syncing: Attempted to kill init!\r\n").unwrap();
        assert_eq!(out.0.lock().unwrap().len(), 84);
        exit.post(VmExit::GuestReset);
        assert_eq!(
            exit.outcome(),
            Some(VmExit::GuestPanic("Kernel panic - not syncing: Attempted to kill init!".into()))
        );
    }

    #[test]
    fn a_partial_last_line_is_flushed_when_the_sink_goes() {
        struct Buffered(std::io::BufWriter<Shared>);
        impl Write for Buffered {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.write(b)
            }
            fn flush(&mut self) -> std::io::Result<()> {
                self.0.flush()
            }
        }
        let exit = Arc::new(ExitSignal::new().unwrap());
        let out = Shared::default();
        let buffered = Buffered(std::io::BufWriter::new(out.clone()));
        let mut sink = ConsoleSink::new(Some(Box::new(buffered)), exit);
        sink.write_all(b"berth-agent: powering off").unwrap();
        assert!(out.0.lock().unwrap().is_empty(), "still buffered");
        drop(sink);
        assert_eq!(&out.0.lock().unwrap()[..], b"berth-agent: powering off");
    }

    #[test]
    fn the_tail_keeps_the_last_lines_and_the_unfinished_one() {
        let exit = Arc::new(ExitSignal::new().unwrap());
        let mut sink = ConsoleSink::new(None, exit);
        let tail = sink.tail();
        for i in 0..40 {
            sink.write_all(format!("line {i}\r\n").as_bytes()).unwrap();
        }
        sink.write_all(b"half a li").unwrap();
        let lines = tail.lines();
        assert_eq!(lines.len(), TAIL_LINES);
        assert_eq!(lines[0], "line 11");
        assert_eq!(lines[TAIL_LINES - 2], "line 39");
        assert_eq!(lines[TAIL_LINES - 1], "half a li");
    }

    #[test]
    fn ordinary_output_is_no_panic() {
        let exit = Arc::new(ExitSignal::new().unwrap());
        let mut sink = ConsoleSink::new(None, exit.clone());
        sink.write_all(b"berth-agent: init reached after 0.9 s\n").unwrap();
        exit.post(VmExit::GuestReset);
        assert_eq!(exit.outcome(), Some(VmExit::GuestReset));
    }

    #[test]
    fn a_halted_kernel_is_a_power_off_unless_it_panicked() {
        let exit = Arc::new(ExitSignal::new().unwrap());
        let mut sink = ConsoleSink::new(None, exit.clone());
        sink.write_all(b"guest: done\r\n[    2.1] reboot: System halted\r\n").unwrap();
        assert_eq!(exit.outcome(), Some(VmExit::GuestPowerOff));

        let exit = Arc::new(ExitSignal::new().unwrap());
        let mut sink = ConsoleSink::new(None, exit.clone());
        sink.write_all(b"Kernel panic - not syncing: oops\nreboot: Power down\n").unwrap();
        assert!(matches!(exit.outcome(), Some(VmExit::GuestPanic(_))));
    }
}
