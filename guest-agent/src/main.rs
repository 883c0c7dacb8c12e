//! `berth-agent`: PID 1 inside berth's micro-VM.
//!
//! Started by the kernel as `/init` from the initramfs, it prepares the
//! guest (see [`init`]). The container engine that will serve the Docker API
//! on vsock port 2375 builds on this start-up.

mod init;

use std::process::ExitCode;

fn main() -> ExitCode {
    if std::process::id() == 1 {
        init::run_as_pid1();
    }
    if std::env::args().nth(1).as_deref() == Some("--version") {
        println!("berth-agent {}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    eprintln!(
        "berth-agent: runs as PID 1 in a berth micro-VM (it is the initramfs's /init); \
         this build has no daemon mode yet"
    );
    ExitCode::from(2)
}
