//! A missing prerequisite stops `cargo xtask images` at once with one line
//! that says what to install, and a non-zero exit.

use std::process::Command;

fn images_with(var: &str, value: &str) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_xtask")).arg("images").env(var, value).output().expect("run xtask");
    (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn missing_qemu_names_the_package() {
    let (ok, stderr) = images_with("BERTH_QEMU", "/nonexistent/qemu-system-x86_64");
    assert!(!ok);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("apt-get install qemu-system-x86"), "{stderr}");
}

#[test]
fn unusable_cache_dir_is_named() {
    // A cache directory that cannot be created stands in for an unusable
    // disk: the message names the path instead of failing later.
    let (ok, stderr) = images_with("BERTH_CACHE_DIR", "/proc/berth-cannot-be-here");
    assert!(!ok);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("/proc/berth-cannot-be-here"), "{stderr}");
}

#[test]
fn missing_kernel_source_names_the_package() {
    let (ok, stderr) = images_with("BERTH_LINUX_SOURCE", "/nonexistent/linux-source-6.1.tar.xz");
    assert!(!ok);
    let last = stderr.lines().last().unwrap_or_default();
    assert!(last.contains("apt-get install linux-source-6.1"), "{stderr}");
    assert!(last.starts_with("xtask: "), "{stderr}");
}
