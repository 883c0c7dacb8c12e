//! `berth`: the user's command.
//!
//! Today it answers the first question a user has: can this host run
//! berth's micro-VM? The machine and Docker-client commands build on it.

use std::process::ExitCode;

use berth_vmm::kvm_probe::KvmReport;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "berth", version, about = "Linux containers in a KVM micro-VM")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check whether this host can boot berth's micro-VM, and say what works
    /// instead when it cannot.
    Check,
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Check => check(),
    }
}

fn check() -> ExitCode {
    match KvmReport::probe() {
        Ok(report) => match report.advice() {
            None => {
                println!(
                    "berth: this host can boot berth's micro-VM (KVM API {}, {})",
                    report.api_version, report.flavor
                );
                ExitCode::SUCCESS
            }
            Some(advice) => {
                println!("berth: {advice}");
                ExitCode::FAILURE
            }
        },
        Err(e) => {
            println!(
                "berth: no usable KVM here ({e}); run berth inside the nested-KVM test bed: \
                 `cargo xtask testbed -- <command>`"
            );
            ExitCode::FAILURE
        }
    }
}
