//! The test bed itself: a real /dev/kvm inside, exit statuses carried out,
//! and the host left clean. Each test boots the outer VM once.

use std::time::Duration;

use xtask::testbed::{self, Options, Outcome};

fn in_testbed(script: &str) -> Outcome {
    let opts = Options { echo: false, timeout: Duration::from_secs(600), ..Options::default() };
    let cmd = ["sh".to_string(), "-c".to_string(), script.to_string()];
    match testbed::run(&opts, &cmd) {
        Ok(o) => o,
        Err(e) => panic!("test bed failed: {e}"),
    }
}

#[test]
#[ignore = "boots the nested-KVM test bed (full tier: cargo xtask test)"]
fn dev_kvm_is_a_character_device() {
    let o = in_testbed("test -c /dev/kvm");
    assert_eq!(o.status, 0, "console:\n{}", o.console);
}

#[test]
#[ignore = "boots the nested-KVM test bed (full tier: cargo xtask test)"]
fn berth_vmm_opens_kvm_and_creates_a_vm() {
    let o = in_testbed("berth-vmm check-kvm");
    assert_eq!(o.status, 0, "console:\n{}", o.console);
    assert!(o.console.contains("KVM API version 12"), "{}", o.console);
    assert!(o.console.contains("VM created: yes"), "{}", o.console);
    assert!(o.console.contains("kvm_amd"), "the test bed's KVM should be kvm_amd:\n{}", o.console);
    assert!(!o.console.contains("PVM"), "{}", o.console);
}

#[test]
#[ignore = "boots the nested-KVM test bed (full tier: cargo xtask test)"]
fn exit_status_output_and_environment_reach_the_host() {
    let o = in_testbed(
        "echo out-line; echo err-line >&2; \
         test -f \"$BERTH_KERNEL\" && test -f \"$BERTH_INITRAMFS\" && echo images-visible; \
         command -v berth-vmm >/dev/null && echo release-on-path; \
         touch /etc/written-in-testbed && echo root-writable; \
         exit 7",
    );
    assert_eq!(o.status, 7, "console:\n{}", o.console);
    for want in ["out-line", "err-line", "images-visible", "release-on-path", "root-writable"] {
        assert!(o.console.contains(want), "missing {want:?} in:\n{}", o.console);
    }
    // The overlay kept the write inside the test bed.
    assert!(!std::path::Path::new("/etc/written-in-testbed").exists());
}

#[test]
#[ignore = "boots the nested-KVM test bed (full tier: cargo xtask test)"]
fn scratch_space_loopback_and_tools_are_there() {
    let o = in_testbed(
        "set -e; \
         avail=$(df -Pk / | awk 'NR==2 {print $4}'); test \"$avail\" -gt 4000000; \
         ip -o link show lo | grep -q UP; \
         truncate -s 64M /tmp/d.img && mkfs.ext4 -q -F /tmp/d.img; \
         echo tools-ok",
    );
    assert_eq!(o.status, 0, "console:\n{}", o.console);
    assert!(o.console.contains("tools-ok"), "{}", o.console);
}

#[test]
#[ignore = "boots the nested-KVM test bed (full tier: cargo xtask test)"]
fn run_directories_are_removed() {
    let runs = xtask::paths::cache_dir().join("testbed-runs");
    let mine = |dir: &std::path::Path| -> usize {
        let prefix = format!("run-{}-", std::process::id());
        std::fs::read_dir(dir)
            .map(|d| d.flatten().filter(|e| e.file_name().to_string_lossy().starts_with(&prefix)).count())
            .unwrap_or(0)
    };
    let o = in_testbed("true");
    assert_eq!(o.status, 0);
    assert_eq!(mine(&runs), 0, "a run directory of this process was left in {}", runs.display());
}
