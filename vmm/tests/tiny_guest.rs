//! Boots hand-made guests on this host's /dev/kvm through the whole VMM:
//! config → builder → vCPU threads → port bus → exit reporting. Each guest
//! is a few bytes of 64-bit code in a minimal ELF, entered through the
//! Linux 64-bit boot path (long mode, identity paging), so it also runs on
//! PVM hosts that cannot boot a stock kernel. Without /dev/kvm the tests
//! say so and pass: they need KVM the way the test-bed boots do.

use std::io::Write;
use std::path::Path;

use berth_vmm::builder;
use berth_vmm::config::{SerialOutput, VmConfig};
use berth_vmm::exit::VmExit;

const ENTRY: u64 = 0x100_0000;

/// A one-segment ELF64 executable loading `code` at `ENTRY`.
fn elf_with(code: &[u8]) -> tempfile::NamedTempFile {
    let mut f = Vec::new();
    let phoff = 64u64;
    let code_off = 64 + 56;
    // ELF header.
    f.extend_from_slice(b"\x7fELF\x02\x01\x01\x00");
    f.extend_from_slice(&[0; 8]);
    f.extend_from_slice(&2u16.to_le_bytes()); // ET_EXEC
    f.extend_from_slice(&0x3eu16.to_le_bytes()); // x86-64
    f.extend_from_slice(&1u32.to_le_bytes());
    f.extend_from_slice(&ENTRY.to_le_bytes());
    f.extend_from_slice(&phoff.to_le_bytes());
    f.extend_from_slice(&0u64.to_le_bytes()); // no sections
    f.extend_from_slice(&0u32.to_le_bytes());
    f.extend_from_slice(&64u16.to_le_bytes());
    f.extend_from_slice(&56u16.to_le_bytes());
    f.extend_from_slice(&1u16.to_le_bytes());
    f.extend_from_slice(&[0; 6]);
    // Program header: PT_LOAD, R+X.
    f.extend_from_slice(&1u32.to_le_bytes());
    f.extend_from_slice(&5u32.to_le_bytes());
    f.extend_from_slice(&(code_off as u64).to_le_bytes());
    f.extend_from_slice(&ENTRY.to_le_bytes());
    f.extend_from_slice(&ENTRY.to_le_bytes());
    f.extend_from_slice(&(code.len() as u64).to_le_bytes());
    f.extend_from_slice(&(code.len() as u64).to_le_bytes());
    f.extend_from_slice(&0x1000u64.to_le_bytes());
    assert_eq!(f.len(), code_off);
    f.extend_from_slice(code);
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(&f).unwrap();
    file
}

/// `mov dx, 0x3f8` then `mov al, b; out dx, al` for each byte.
fn print(text: &[u8]) -> Vec<u8> {
    let mut c = vec![0x66, 0xba, 0xf8, 0x03];
    for &b in text {
        c.extend_from_slice(&[0xb0, b, 0xee]);
    }
    c
}

/// Keyboard-controller reset: `mov al, 0xfe; out 0x64, al`, then halt.
const RESET: &[u8] = &[0xb0, 0xfe, 0xe6, 0x64, 0xf4, 0xeb, 0xfd];
/// An invalid opcode with an empty IDT: #UD, #GP, double fault, shutdown.
const TRIPLE_FAULT: &[u8] = &[0x0f, 0x0b];

fn kvm_usable() -> bool {
    match kvm_ioctls::Kvm::new() {
        Ok(_) => true,
        Err(e) => {
            eprintln!("skipping: /dev/kvm is not usable here ({e})");
            false
        }
    }
}

fn boot(code: &[u8], vcpus: u8, console: &Path) -> VmExit {
    let kernel = elf_with(code);
    let mut config = VmConfig::with_kernel(kernel.path().to_owned());
    config.memory_mib = 64;
    config.vcpus = vcpus;
    config.serial = SerialOutput::File(console.to_owned());
    builder::build(&config).expect("VM builds").wait()
}

#[test]
fn guest_prints_and_resets_cleanly_with_idle_secondary_vcpus() {
    if !kvm_usable() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let console = dir.path().join("console");
    let mut code = print(b"hello from the guest\n");
    code.extend_from_slice(RESET);
    // vCPU 1 never gets a SIPI: stopping must still kick it out of KVM_RUN.
    let exit = boot(&code, 2, &console);
    assert_eq!(exit, VmExit::GuestReset);
    assert_eq!(std::fs::read_to_string(&console).unwrap(), "hello from the guest\n");
}

#[test]
fn a_panic_on_the_console_makes_the_reset_a_failure() {
    if !kvm_usable() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let console = dir.path().join("console");
    let mut code = print(b"Kernel panic - not syncing: tiny guest gave up\n");
    code.extend_from_slice(RESET);
    let exit = boot(&code, 1, &console);
    assert_eq!(exit, VmExit::GuestPanic("Kernel panic - not syncing: tiny guest gave up".into()));
    assert!(!exit.is_success());
}

/// The triple fault's report: registers, the bytes at RIP read through
/// the guest's page tables, RIP named from a System.map, the console tail.
#[test]
fn a_triple_fault_ends_the_vm_with_an_error_and_a_crash_report() {
    if !kvm_usable() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let map = dir.path().join("System.map");
    std::fs::write(
        &map,
        format!("{ENTRY:016x} T _text\n{ENTRY:016x} T tiny_entry\n{:016x} T _etext\n", ENTRY + 0x1000),
    )
    .unwrap();
    let mut code = print(b"about to fault\n");
    let ud2_at = ENTRY + code.len() as u64;
    code.extend_from_slice(TRIPLE_FAULT);
    let kernel = elf_with(&code);
    let mut config = VmConfig::with_kernel(kernel.path().to_owned());
    config.memory_mib = 64;
    config.serial = SerialOutput::File(dir.path().join("console"));
    config.system_map = Some(map);
    let exit = builder::build(&config).expect("VM builds").wait();
    assert!(matches!(exit, VmExit::TripleFault { vcpu: 0, .. }), "{exit}");
    assert!(!exit.is_success());
    let text = exit.to_string();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "vCPU 0 triple-faulted (KVM_EXIT_SHUTDOWN)");
    assert!(text.contains(&format!("RIP={ud2_at:#018x}")), "{text}");
    assert!(text.contains("(4-level paging)") && text.contains(" l=1 "), "{text}");
    assert!(text.contains(&format!("code at RIP (guest-physical {ud2_at:#x}): 0f 0b 00")), "{text}");
    assert!(text.contains(&format!("RIP is tiny_entry+{:#x}", ud2_at - ENTRY)), "{text}");
    assert!(text.ends_with("last console lines:\n  | about to fault"), "{text}");
}

#[test]
fn dropping_a_running_vmm_stops_it() {
    if !kvm_usable() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // A guest that spins forever: `jmp $`.
    let kernel = elf_with(&[0xeb, 0xfe]);
    let mut config = VmConfig::with_kernel(kernel.path().to_owned());
    config.memory_mib = 64;
    config.vcpus = 2;
    config.serial = SerialOutput::File(dir.path().join("console"));
    let vmm = builder::build(&config).expect("VM builds");
    std::thread::sleep(std::time::Duration::from_millis(50));
    // Both vCPUs are busy in the guest; dropping must kick them out and
    // join them, not hang or leave them running on freed memory.
    let started = std::time::Instant::now();
    drop(vmm);
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "drop took {:?}", started.elapsed());
}

/// A jump to an address with no RAM behind it: KVM cannot fetch, let
/// alone emulate, the instruction there (an emulation failure), and the
/// report says that RIP has no RAM behind it.
#[test]
fn running_code_outside_ram_is_an_emulation_failure_with_a_report() {
    if !kvm_usable() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // mov rax, 0x3000_0000 (identity-mapped, beyond the 64 MiB); jmp rax
    let mut code = vec![0x48, 0xb8];
    code.extend_from_slice(&0x3000_0000u64.to_le_bytes());
    code.extend_from_slice(&[0xff, 0xe0]);
    let exit = boot(&code, 1, &dir.path().join("console"));
    let text = exit.to_string();
    assert!(!exit.is_success());
    assert!(matches!(exit, VmExit::EmulationFailure { vcpu: 0, .. }), "{text}");
    assert!(text.starts_with("vCPU 0: KVM could not emulate an instruction (KVM_EXIT_INTERNAL_ERROR)\n"), "{text}");
    assert!(text.contains("KVM internal error suberror 1 (emulation failure)"), "{text}");
    assert!(text.contains("RIP=0x0000000030000000"), "{text}");
    assert!(text.contains("code at RIP (guest-physical 0x30000000): none readable [then guest-physical 0x30000000 is outside guest RAM]"), "{text}");
}
