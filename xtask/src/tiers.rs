//! `cargo xtask test`: the README's test command, in two tiers.
//!
//! - quick: `cargo fmt --check`, `cargo clippy -D warnings` (which also
//!   enforces the workspace's `undocumented_unsafe_blocks = deny`), then
//!   `cargo test --workspace`: unit tests and everything that needs no VM
//!   (minutes);
//! - compat: real Docker clients against the engine in process mode
//!   (`tests/compat`, see `cargo xtask compat`);
//! - full: the end-to-end suites in `tests/e2e`, which boot the nested-KVM
//!   test bed once per test (marked `#[ignore]` so the quick tier skips
//!   them), after `cargo xtask images`.

use std::process::Command;

use crate::error::Result;
use crate::{images, paths, process};

pub fn run(quick_only: bool) -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let root = paths::workspace_root();
    eprintln!("xtask: quick tier: cargo fmt --all --check");
    process::run(Command::new(&cargo).current_dir(&root).args(["fmt", "--all", "--check"]))?;
    eprintln!("xtask: quick tier: cargo clippy --workspace --all-targets -- -D warnings");
    process::run(Command::new(&cargo).current_dir(&root).args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    eprintln!("xtask: quick tier: cargo test --workspace");
    process::run(Command::new(&cargo).current_dir(&root).args(["test", "--workspace"]))?;
    if quick_only {
        return Ok(());
    }
    eprintln!("xtask: compat tier: tests/compat (docker CLI, docker-py, docker-compose, berth CLI)");
    crate::compat::run(&[])?;
    eprintln!("xtask: full tier: the test-bed suites (tests/e2e)");
    let images = images::build()?;
    for (k, v) in images.entries() {
        eprintln!("  {k}={}", v.display());
    }
    process::run(Command::new(&cargo).current_dir(&root).args([
        "test",
        "--package",
        "berth-e2e",
        "--",
        "--ignored",
        "--test-threads=1",
    ]))
}
