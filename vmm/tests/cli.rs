//! The `berth-vmm` command's promises for bad input: one clear line on
//! stderr and a non-zero exit, before KVM is touched.

use std::io::Write;
use std::process::Command;

fn run(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_berth-vmm")).args(args).output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn assert_one_line(stderr: &str, contains: &str) {
    assert_eq!(stderr.lines().count(), 1, "expected one line, got {stderr:?}");
    assert!(stderr.contains(contains), "{stderr:?} does not mention {contains:?}");
}

#[test]
fn missing_kernel() {
    let (code, err) = run(&["run", "--kernel", "/nonexistent/vmlinux"]);
    assert_eq!(code, 2);
    assert_one_line(&err, "kernel /nonexistent/vmlinux: No such file or directory");
}

#[test]
fn a_file_that_is_no_kernel() {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(b"#!/bin/sh\necho hi\n").unwrap();
    let (code, err) = run(&["run", "--kernel", f.path().to_str().unwrap()]);
    assert_eq!(code, 2);
    assert_one_line(&err, "is neither an ELF vmlinux nor a bzImage");
}

#[test]
fn too_little_memory() {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(b"\x7fELF").unwrap();
    let (code, err) = run(&["run", "--kernel", f.path().to_str().unwrap(), "--memory", "4"]);
    assert_eq!(code, 2);
    assert_one_line(&err, "memory must be between 32 MiB");
}

#[test]
fn bad_config_file_names_the_field() {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(br#"{"kernel": "/k", "vcpu": 2}"#).unwrap();
    let (code, err) = run(&["run", "--config", f.path().to_str().unwrap()]);
    assert_eq!(code, 2);
    assert_one_line(&err, "unknown field `vcpu`");
}

#[test]
fn bad_flag_values_are_refused_by_the_parser() {
    let (code, err) = run(&["run", "--kernel", "/k", "--serial", "printer"]);
    assert_ne!(code, 0);
    assert!(err.contains("expected stdout, none or file:PATH"), "{err}");
    let (code, err) = run(&["run", "--kernel", "/k", "--vsock", "three:/tmp/v"]);
    assert_ne!(code, 0);
    assert!(err.contains("is not a number"), "{err}");
}
