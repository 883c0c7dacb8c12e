//! The shim: the agent re-executed (`berth-agent shim …`) to own one
//! container. See `main`.

use std::process::ExitCode;

/// Entry point of `berth-agent shim …`. Must be called before any thread or
/// async runtime exists in the process: libcontainer clones from it.
pub fn main(_args: Vec<std::ffi::OsString>) -> ExitCode {
    eprintln!("berth-agent shim: not yet");
    ExitCode::FAILURE
}
