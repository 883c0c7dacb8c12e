//! `berth-agent`: PID 1 inside berth's micro-VM, and the container engine.
//!
//! Started by the kernel as `/init`, it prepares the guest (the library's `init` module).
//! Run on a Linux host, it is the engine as a daemon:
//! `berth-agent --listen unix:///run/berth/docker.sock --root /var/lib/berth`.
//!
//! The program lives in the library (`src/lib.rs`); this file only enters it.

fn main() -> std::process::ExitCode {
    berth_agent::run()
}
