//! `cargo xtask compat`: the compatibility suite in `tests/compat` (real
//! Docker clients and berth's CLI against the engine in process mode). The
//! suite is a pytest project driven by `tests/compat/run.sh`; this only
//! runs it.

use std::process::Command;

use crate::error::Result;
use crate::{paths, process};

pub fn run(pytest_args: &[String]) -> Result<()> {
    let script = paths::workspace_root().join("tests/compat/run.sh");
    process::run(Command::new(script).args(pytest_args))
}
