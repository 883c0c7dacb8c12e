//! The i8042 keyboard controller at ports 0x60 (data) and 0x64
//! (status/command), with a keyboard behind it that has exactly one chord:
//! Ctrl-Alt-Del.
//!
//! Two jobs. The reset line: berth's guest has no ACPI, so it ends the VM
//! with `reboot=k`; the kernel writes 0xFE to the command port and the VMM
//! ends cleanly. And the host's polite stop: [`I8042::ctrl_alt_del`] types
//! the chord, which a Linux guest turns into SIGINT for its init (or an
//! immediate reboot when init has not disabled Ctrl-Alt-Del), the way
//! Firecracker's `SendCtrlAltDel` does. Enough of the controller is
//! emulated for Linux's i8042 and atkbd drivers to find it: the command
//! byte, self tests, and ACKs for keyboard commands. The controller does
//! not translate scancodes, so the guest drives the keyboard in raw set 2.
//! A guest can only ever make it queue bytes for itself or reset the VM.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::devices::bus::BusDevice;
use crate::devices::irq::IrqLine;
use crate::exit::{ExitSignal, VmExit};

pub const I8042_PORT_BASE: u64 = 0x60;
/// Data at offset 0, command/status at offset 4.
pub const I8042_PORT_LEN: u64 = 5;
/// The keyboard's interrupt line.
pub const KBD_IRQ: u32 = 1;

const DATA: u64 = 0;
const COMMAND: u64 = 4;

// Status register.
const SB_OUT_FULL: u8 = 0x01;
const SB_SYSTEM: u8 = 0x04;
const SB_LAST_WAS_COMMAND: u8 = 0x08;
const SB_KBD_UNLOCKED: u8 = 0x10;

// Command byte (CTR).
const CB_KBD_INT: u8 = 0x01;
const CB_SYSTEM: u8 = 0x04;

// Controller commands.
const CMD_READ_CTR: u8 = 0x20;
const CMD_WRITE_CTR: u8 = 0x60;
const CMD_AUX_DISABLE: u8 = 0xa7;
const CMD_AUX_ENABLE: u8 = 0xa8;
const CMD_AUX_TEST: u8 = 0xa9;
const CMD_SELF_TEST: u8 = 0xaa;
const CMD_KBD_TEST: u8 = 0xab;
const CMD_KBD_DISABLE: u8 = 0xad;
const CMD_KBD_ENABLE: u8 = 0xae;
const CMD_READ_OUTPUT_PORT: u8 = 0xd0;
const CMD_WRITE_OUTPUT_PORT: u8 = 0xd1;
const CMD_WRITE_KBD_OUTPUT: u8 = 0xd2;
const CMD_WRITE_AUX_OUTPUT: u8 = 0xd3;
const CMD_WRITE_AUX: u8 = 0xd4;
const CMD_RESET_CPU: u8 = 0xfe;

// Replies.
const SELF_TEST_OK: u8 = 0x55;
const INTERFACE_OK: u8 = 0x00;
const KBD_ACK: u8 = 0xfa;
const KBD_SELF_TEST_OK: u8 = 0xaa;
const KBD_ID: [u8; 2] = [0xab, 0x83];
/// The aux interface test's "clock line stuck low": Linux then decides
/// there is no mouse port at once. (0xff, "general error", is taken as
/// a working port by Linux, which then spends a second probing a mouse.)
const AUX_ABSENT: u8 = 0x01;
// CTR bits the enable/disable commands flip.
const CB_KBD_DISABLED: u8 = 0x10;
const CB_AUX_DISABLED: u8 = 0x20;

// Keyboard commands that take an argument byte.
const KBD_CMD_SET_LEDS: u8 = 0xed;
const KBD_CMD_SCANCODE_SET: u8 = 0xf0;
const KBD_CMD_TYPEMATIC: u8 = 0xf3;
const KBD_CMD_GET_ID: u8 = 0xf2;
const KBD_CMD_RESET: u8 = 0xff;

/// Ctrl, Alt, Del pressed then released, in scancode set 2.
const CTRL_ALT_DEL: &[u8] = &[0x14, 0x11, 0xe0, 0x71, 0xe0, 0xf0, 0x71, 0xf0, 0x11, 0xf0, 0x14];

/// Longest reply queue kept; a guest spamming commands gets the oldest
/// replies dropped rather than the VMM's memory.
const MAX_QUEUED: usize = 64;

/// What the next data-port write means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NextData {
    KeyboardCommand,
    CommandByte,
    OutputPort,
    KeyboardEcho,
    AuxEcho,
    AuxCommand,
    KeyboardArgument,
}

pub struct I8042 {
    exit: Arc<ExitSignal>,
    irq: IrqLine,
    status: u8,
    ctr: u8,
    outp: u8,
    out: VecDeque<u8>,
    next_data: NextData,
}

impl I8042 {
    pub fn new(exit: Arc<ExitSignal>, irq: IrqLine) -> Self {
        I8042 {
            exit,
            irq,
            status: SB_KBD_UNLOCKED | SB_SYSTEM,
            ctr: CB_KBD_INT | CB_SYSTEM,
            outp: 0x01,
            out: VecDeque::new(),
            next_data: NextData::KeyboardCommand,
        }
    }

    /// Types Ctrl-Alt-Del on the keyboard.
    pub fn ctrl_alt_del(&mut self) {
        for &b in CTRL_ALT_DEL {
            self.push(b);
        }
    }

    fn push(&mut self, byte: u8) {
        if self.out.len() >= MAX_QUEUED {
            self.out.pop_front();
        }
        self.out.push_back(byte);
        self.status |= SB_OUT_FULL;
        if self.ctr & CB_KBD_INT != 0
            && let Err(e) = self.irq.trigger()
        {
            tracing::warn!(error = %e, "i8042: cannot raise the keyboard interrupt");
        }
    }

    fn pop(&mut self) -> u8 {
        let byte = self.out.pop_front().unwrap_or(0);
        if self.out.is_empty() {
            self.status &= !SB_OUT_FULL;
        } else if self.ctr & CB_KBD_INT != 0 {
            // The next byte is waiting: another edge for it.
            let _ = self.irq.trigger();
        }
        byte
    }

    fn command(&mut self, cmd: u8) {
        self.status |= SB_LAST_WAS_COMMAND;
        match cmd {
            CMD_READ_CTR => self.push(self.ctr),
            CMD_WRITE_CTR => self.next_data = NextData::CommandByte,
            CMD_SELF_TEST => self.push(SELF_TEST_OK),
            CMD_KBD_TEST => self.push(INTERFACE_OK),
            CMD_AUX_TEST => self.push(AUX_ABSENT),
            CMD_READ_OUTPUT_PORT => self.push(self.outp),
            CMD_WRITE_OUTPUT_PORT => self.next_data = NextData::OutputPort,
            CMD_WRITE_KBD_OUTPUT => self.next_data = NextData::KeyboardEcho,
            CMD_WRITE_AUX_OUTPUT => self.next_data = NextData::AuxEcho,
            CMD_WRITE_AUX => self.next_data = NextData::AuxCommand,
            CMD_KBD_DISABLE => self.ctr |= CB_KBD_DISABLED,
            CMD_KBD_ENABLE => self.ctr &= !CB_KBD_DISABLED,
            CMD_AUX_DISABLE => self.ctr |= CB_AUX_DISABLED,
            CMD_AUX_ENABLE => self.ctr &= !CB_AUX_DISABLED,
            CMD_RESET_CPU => self.exit.post(VmExit::GuestReset),
            other => tracing::trace!(cmd = other, "i8042: ignored controller command"),
        }
    }

    fn data(&mut self, byte: u8) {
        self.status &= !SB_LAST_WAS_COMMAND;
        match std::mem::replace(&mut self.next_data, NextData::KeyboardCommand) {
            NextData::CommandByte => self.ctr = byte,
            NextData::OutputPort => {
                self.outp = byte;
                // Bit 0 of the output port is the CPU reset line (active low).
                if byte & 0x01 == 0 {
                    self.exit.post(VmExit::GuestReset);
                }
            }
            NextData::KeyboardEcho => self.push(byte),
            // There is no mouse port: the loopback byte comes back as
            // keyboard data (no AUX status bit), which Linux's probe takes
            // as a failed loop at once instead of waiting out a timeout.
            NextData::AuxEcho => self.push(byte),
            // Bytes for the mouse go nowhere.
            NextData::AuxCommand => {}
            NextData::KeyboardArgument => self.push(KBD_ACK),
            NextData::KeyboardCommand => self.keyboard_command(byte),
        }
    }

    fn keyboard_command(&mut self, cmd: u8) {
        self.push(KBD_ACK);
        match cmd {
            KBD_CMD_RESET => self.push(KBD_SELF_TEST_OK),
            KBD_CMD_GET_ID => KBD_ID.iter().for_each(|&b| self.push(b)),
            KBD_CMD_SET_LEDS | KBD_CMD_SCANCODE_SET | KBD_CMD_TYPEMATIC => self.next_data = NextData::KeyboardArgument,
            _ => {}
        }
    }
}

impl BusDevice for I8042 {
    fn read(&mut self, offset: u64, data: &mut [u8]) {
        let value = match (offset, data.len()) {
            (DATA, 1) => self.pop(),
            (COMMAND, 1) => self.status,
            _ => 0xff,
        };
        data.fill(value);
    }

    fn write(&mut self, offset: u64, data: &[u8]) {
        match (offset, data) {
            (DATA, [byte]) => self.data(*byte),
            (COMMAND, [byte]) => self.command(*byte),
            _ => tracing::trace!(offset, len = data.len(), "i8042: ignored access"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vmm_sys_util::eventfd::EventFd;

    fn kbd() -> (I8042, Arc<ExitSignal>, EventFd) {
        let exit = Arc::new(ExitSignal::new().unwrap());
        let irq = IrqLine::new(KBD_IRQ).unwrap();
        let irq_fd = irq.eventfd().try_clone().unwrap();
        (I8042::new(exit.clone(), irq), exit, irq_fd)
    }

    fn read_data(k: &mut I8042) -> u8 {
        let mut b = [0u8];
        k.read(DATA, &mut b);
        b[0]
    }

    fn status(k: &mut I8042) -> u8 {
        let mut b = [0u8];
        k.read(COMMAND, &mut b);
        b[0]
    }

    #[test]
    fn reset_command_and_output_port_end_the_vm_cleanly() {
        let (mut k, exit, _) = kbd();
        k.write(COMMAND, &[CMD_SELF_TEST]);
        assert_eq!(read_data(&mut k), SELF_TEST_OK);
        assert_eq!(exit.outcome(), None);
        k.write(COMMAND, &[CMD_RESET_CPU]);
        assert_eq!(exit.outcome(), Some(VmExit::GuestReset));

        let (mut k, exit, _) = kbd();
        k.write(COMMAND, &[CMD_WRITE_OUTPUT_PORT]);
        k.write(DATA, &[0xfe]);
        assert_eq!(exit.outcome(), Some(VmExit::GuestReset));
    }

    #[test]
    fn linux_probe_sequence_sees_a_controller() {
        let (mut k, _, _) = kbd();
        assert_eq!(status(&mut k) & SB_OUT_FULL, 0);
        k.write(COMMAND, &[CMD_READ_CTR]);
        assert_ne!(status(&mut k) & SB_OUT_FULL, 0);
        let ctr = read_data(&mut k);
        assert_eq!(ctr, CB_KBD_INT | CB_SYSTEM);
        k.write(COMMAND, &[CMD_WRITE_CTR]);
        k.write(DATA, &[0x00]);
        k.write(COMMAND, &[CMD_READ_CTR]);
        assert_eq!(read_data(&mut k), 0);
        k.write(COMMAND, &[CMD_AUX_TEST]);
        assert_eq!(read_data(&mut k), AUX_ABSENT);
        // The aux loopback answers, but as keyboard data: no port there.
        k.write(COMMAND, &[CMD_WRITE_AUX_OUTPUT]);
        k.write(DATA, &[0x5a]);
        assert_eq!(status(&mut k) & 0x20, 0, "no AUX data bit");
        assert_eq!(read_data(&mut k), 0x5a);
        // Disable/enable commands show in the command byte.
        k.write(COMMAND, &[CMD_AUX_DISABLE]);
        k.write(COMMAND, &[CMD_KBD_DISABLE]);
        k.write(COMMAND, &[CMD_READ_CTR]);
        assert_eq!(read_data(&mut k), CB_AUX_DISABLED | CB_KBD_DISABLED);
        k.write(COMMAND, &[CMD_AUX_ENABLE]);
        k.write(COMMAND, &[CMD_KBD_ENABLE]);
        k.write(COMMAND, &[CMD_READ_CTR]);
        assert_eq!(read_data(&mut k), 0);
        // Keyboard commands are acknowledged; GET ID answers like an AT keyboard.
        k.write(DATA, &[KBD_CMD_GET_ID]);
        assert_eq!([read_data(&mut k), read_data(&mut k), read_data(&mut k)], [KBD_ACK, 0xab, 0x83]);
        k.write(DATA, &[KBD_CMD_SET_LEDS]);
        k.write(DATA, &[0x07]);
        assert_eq!([read_data(&mut k), read_data(&mut k)], [KBD_ACK, KBD_ACK]);
        assert_eq!(status(&mut k) & SB_OUT_FULL, 0);
    }

    #[test]
    fn ctrl_alt_del_is_typed_with_interrupts() {
        let (mut k, exit, irq) = kbd();
        k.ctrl_alt_del();
        assert!(irq.read().unwrap() >= 1);
        let typed: Vec<u8> = (0..CTRL_ALT_DEL.len()).map(|_| read_data(&mut k)).collect();
        assert_eq!(typed, CTRL_ALT_DEL);
        assert_eq!(exit.outcome(), None, "typing the chord is not itself a reset");
    }

    #[test]
    fn a_guest_cannot_grow_the_queue_without_bound() {
        let (mut k, _, _) = kbd();
        for _ in 0..10_000 {
            k.write(COMMAND, &[CMD_SELF_TEST]);
        }
        assert_eq!(k.out.len(), MAX_QUEUED);
        let mut wide = [0u8; 2];
        k.read(DATA, &mut wide);
        assert_eq!(wide, [0xff, 0xff]);
    }
}
