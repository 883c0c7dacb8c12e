//! berth-vmm on real KVM in the test bed, driven by
//! `vmm/testbed/scenarios.sh` (one test-bed run per group; the script
//! prints `ok: <check>` or `FAILED: <check>` for each promise):
//!
//! - devices: 2 vCPUs and 384 MiB visible; virtio-rng; a disk written in
//!   one boot read back in the next; a read-only disk refusing writes;
//!   vsock with 64 MiB each way and 16 concurrent streams each way,
//!   checksummed at the far end, a CONNECT before the guest listens closed
//!   cleanly and retried, the CONNECT line and data in one write; a TCP
//!   round trip over TAP, and one through a real passt (unprivileged
//!   userspace networking) to a server on the host's loopback.
//! - kernels: berth's kernel (PVH, command-line devices) and Debian's
//!   stock kernel (bzImage, devices from berth-vmm's ACPI tables) boot to
//!   the agent, which answers /_ping over vsock and shuts down on SIGTERM;
//!   berth's bzImage boots.
//! - exits: poweroff → 0 (a halt on berth's kernel, ACPI S5 on Debian's),
//!   a panic → 1 with the panic line, and a missing kernel, a file that is
//!   no kernel and too little memory → one line and exit 2.

use std::process::Command;
use std::time::Duration;

use xtask::testbed::{self, Options};

/// Builds the test initramfs (busybox, the vsock probe, the probes' init)
/// on the host, where the test bed sees it read-only.
fn build_test_initramfs() {
    let script = xtask::paths::workspace_root().join("vmm/testbed/build-initramfs.sh");
    let out = Command::new("sh").arg(&script).output().expect("run build-initramfs.sh");
    assert!(
        out.status.success(),
        "build-initramfs.sh failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs one scenario group in the test bed; returns its console after
/// checking that it passed and that every named check printed `ok:`.
fn scenario(group: &str, timeout: Duration, checks: &[&str]) -> String {
    build_test_initramfs();
    let script = xtask::paths::workspace_root().join("vmm/testbed/scenarios.sh");
    let cmd = ["sh".into(), script.display().to_string(), group.into()];
    let opts = Options::suite(timeout);
    let o = testbed::run(&opts, &cmd).unwrap_or_else(|e| panic!("test bed failed: {e}"));
    let c = o.console;
    assert!(!c.contains("FAILED:"), "a check failed:\n{c}");
    for check in checks {
        assert!(c.contains(&format!("ok: {check}")), "missing `ok: {check}`:\n{c}");
    }
    assert!(!c.contains("berth-vmm: seccomp:"), "a seccomp violation:\n{c}");
    assert_eq!(o.status, 0, "console:\n{c}");
    c
}

#[test]
#[ignore = "boots the nested-KVM test bed (full tier: cargo xtask test)"]
fn devices_on_real_kvm() {
    let c = scenario(
        "devices",
        Duration::from_secs(540),
        &[
            "guest reset ends the VMM with 0",
            "2 vCPUs and ~384 MiB visible",
            "virtio-rng is the guest's hwrng",
            "read-only disk refuses writes",
            "read-only disk is read-only in the guest",
            "read-only image untouched on the host",
            "disk contents persist across boots",
            "no mouse port found or waited for without i8042.noaux",
            "vsock boot ends with 0",
            "host verified every host->guest stream, CONNECT-with-data included",
            "guest verified every guest->host stream",
            "guest sink served all 16 host streams",
            "TCP round trip over TAP",
            "passt boot ends with 0",
            "TCP round trip through passt",
            "passt exits cleanly when the VMM goes",
        ],
    );
    assert!(c.contains("CONNECT before the guest listened: closed cleanly"), "{c}");
    assert!(c.contains("probe: source OK: 1 x 67108864 bytes verified by the host"), "{c}");
    assert!(c.contains("probe: source OK: 16 x 4194304 bytes verified by the host"), "{c}");
    assert!(c.contains(", 0 errors,"), "{c}");
}

#[test]
#[ignore = "boots the nested-KVM test bed (full tier: cargo xtask test)"]
fn berth_and_debian_kernels_reach_the_agent_under_berth_vmm() {
    let c = scenario(
        "kernels",
        Duration::from_secs(540),
        &[
            "berth: the agent answered /_ping over vsock",
            "berth: SIGTERM ends the VMM with 0",
            "berth: after SIGTERM the guest ended the VM itself, within the grace period",
            "debian: the agent answered /_ping over vsock",
            "debian: SIGTERM ends the VMM with 0",
            "debian: after SIGTERM the guest ended the VM itself, within the grace period",
            "debian: read berth-vmm's DSDT",
            "debian: the agent loaded its modules",
            "bzImage boots to init and resets",
        ],
    );
    assert!(c.contains("HTTP/1.1 200 OK body=b'OK'"), "{c}");
}

#[test]
#[ignore = "boots the nested-KVM test bed (full tier: cargo xtask test)"]
fn exit_codes_on_real_kvm() {
    let c = scenario(
        "exits",
        Duration::from_secs(420),
        &[
            "berth's kernel: poweroff (halt) ends the VMM with 0",
            "Debian's kernel: poweroff (ACPI S5) ends the VMM with 0",
            "Debian's kernel powered off through ACPI",
            "a panic ends the VMM with 1",
            "the panic is named",
            "a triple fault ends the VMM with 1",
            "the triple fault is named",
            "the crash report has the registers",
            "the triple fault's report has the bytes and symbol at RIP, or says the vCPU was reset (AMD)",
            "an emulation failure ends the VMM with 1",
            "the emulation failure is named",
            "the emulation failure's report has the registers",
            "the crash report has the instruction bytes at RIP",
            "the crash report names RIP from the vmlinux's symbols",
            "berth-vmm run --kernel /nonexistent/vmlinux: one line, exit 2",
            "berth-vmm run --kernel /tmp/nokernel: one line, exit 2",
        ],
    );
    assert!(c.contains("no such file or directory") || c.contains("No such file or directory"), "{c}");
    assert!(c.contains("is neither an ELF vmlinux nor a bzImage"), "{c}");
    assert!(c.contains("memory must be between 32 MiB"), "{c}");
}
