//! `cargo xtask fuzz <target> [--seconds N]`: runs one of berth-vmm's
//! cargo-fuzz targets (`vmm/fuzz/`) under libFuzzer.
//!
//! Owns finding the tools: the nightly toolchain that rustup already has
//! (never installs one) and cargo-fuzz (installed with `cargo install
//! --locked` when missing). The fuzz crate is outside the workspace, so
//! stable `cargo test --workspace` never builds it; its build goes to
//! `target/fuzz/`, its corpus to `vmm/fuzz/corpus/<target>/` and crashes to
//! `vmm/fuzz/artifacts/<target>/` (both ignored by git); it starts from the
//! committed seeds in `vmm/fuzz/seeds/<target>/` (`make_seeds.py`).

use std::process::Command;

use crate::error::{Error, IoContext, Result};
use crate::{paths, process};

/// The targets in `vmm/fuzz/Cargo.toml`.
pub const TARGETS: [&str; 2] = ["vsock_packet", "block_request"];

/// Fuzzes `target` for `seconds` of libFuzzer time; fails if it finds a
/// crash (libFuzzer exits non-zero and leaves the input in artifacts/).
pub fn run(target: &str, seconds: u64) -> Result<()> {
    if !TARGETS.contains(&target) {
        return Err(Error::Invalid(format!("no fuzz target {target:?}; the targets are: {}", TARGETS.join(", "))));
    }
    let nightly = nightly_toolchain()?;
    ensure_cargo_fuzz()?;
    let vmm = paths::workspace_root().join("vmm");
    let target_dir = paths::target_dir().join("fuzz");
    let corpus = vmm.join("fuzz/corpus").join(target);
    std::fs::create_dir_all(&corpus).at(&corpus)?;
    eprintln!("xtask: fuzzing {target} for {seconds} s with {nightly} (corpus: vmm/fuzz/corpus/{target})");
    process::run(
        Command::new("cargo")
            .current_dir(&vmm)
            .env_remove("RUSTUP_TOOLCHAIN")
            .env_remove("CARGO")
            .env_remove("RUSTC")
            .arg(format!("+{nightly}"))
            .args(["fuzz", "run", "--fuzz-dir", "fuzz", "--target-dir"])
            .arg(&target_dir)
            .arg(target)
            // Output corpus first; the committed seeds are read, never written.
            .arg(format!("fuzz/corpus/{target}"))
            .arg(format!("fuzz/seeds/{target}"))
            .arg("--")
            .arg(format!("-max_total_time={seconds}"))
            .arg("-print_final_stats=1"),
    )
}

/// The name of an installed nightly toolchain (`nightly-x86_64-...`).
fn nightly_toolchain() -> Result<String> {
    let list = process::output(Command::new("rustup").args(["toolchain", "list"]))?;
    list.lines()
        .filter_map(|l| l.split_whitespace().next())
        .find(|t| t.starts_with("nightly"))
        .map(str::to_string)
        .ok_or_else(|| Error::Missing {
            what: "a nightly Rust toolchain (libFuzzer needs -Z sanitizer flags)".into(),
            fix: "rustup toolchain install nightly".into(),
        })
}

/// Installs cargo-fuzz with the stable toolchain if `cargo fuzz` is absent.
fn ensure_cargo_fuzz() -> Result<()> {
    let present = Command::new("cargo").args(["fuzz", "--version"]).output().is_ok_and(|o| o.status.success());
    if present {
        return Ok(());
    }
    eprintln!("xtask: cargo-fuzz is missing; installing it (cargo install --locked cargo-fuzz)");
    process::run(Command::new("cargo").args(["install", "--locked", "cargo-fuzz"]))
}
