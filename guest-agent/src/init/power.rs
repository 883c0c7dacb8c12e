//! Ending the VM.
//!
//! berth's guest kernel has no ACPI, so a power-off request would only halt
//! the CPUs and leave the VMM waiting. A berth VM ends the way a Firecracker
//! VM does: the guest resets (the kernel writes 0xFE to the i8042 with
//! `reboot=k`, or triple-faults), and the VMM treats the reset as the end of
//! the machine. QEMU behaves the same with `-no-reboot`.

use nix::sys::reboot::{RebootMode, reboot};

pub fn power_off() -> ! {
    nix::unistd::sync();
    // The last console lines may still sit in the tty's buffer; a reset now
    // would lose them, and they are often the only record of why the VM
    // ended. tcdrain waits until the serial port has sent them, but an
    // emulated UART that never reports itself empty must not hold up the
    // power-off: half a second at most.
    use std::io::Write as _;
    let _ = std::io::stdout().flush();
    let (drained, wait) = std::sync::mpsc::channel();
    let _ = std::thread::Builder::new().spawn(move || {
        let _ = nix::sys::termios::tcdrain(std::io::stdout());
        let _ = drained.send(());
    });
    let _ = wait.recv_timeout(std::time::Duration::from_millis(500));
    let err = reboot(RebootMode::RB_AUTOBOOT);
    // Only reachable without CAP_SYS_BOOT, which PID 1 always has; there is
    // nothing left to do but wait for the VMM to stop us.
    println!("berth-agent: reboot failed: {err:?}");
    loop {
        std::thread::park();
    }
}
