//! `berth machine create` under umask 000: the machine directory is 0700
//! and its data disk and config 0600 (the disk is the whole VM's data), as
//! the user's alone whatever the umask.

use std::os::unix::fs::MetadataExt;
use std::process::Command;

fn mode(p: &std::path::Path) -> u32 {
    std::fs::symlink_metadata(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())).mode() & 0o7777
}

#[test]
fn machine_files_are_private_under_umask_000() {
    let data = tempfile::tempdir().expect("tempdir");
    let out = Command::new("sh")
        .args(["-c", "umask 000 && exec \"$0\" machine create --disk 64M m", env!("CARGO_BIN_EXE_berth")])
        .env("XDG_DATA_HOME", data.path())
        .output()
        .expect("run berth");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let dir = data.path().join("berth/machines/m");
    assert_eq!(mode(&dir), 0o700, "machine directory");
    assert_eq!(mode(&dir.join("data.img")), 0o600, "data disk");
    assert_eq!(mode(&dir.join("config.json")), 0o600, "config");
}
