//! `berth-vmm`: the VMM as a command.

use std::process::ExitCode;

use berth_vmm::kvm_probe::KvmReport;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "berth-vmm", version, about = "berth's KVM micro-VM monitor")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Open /dev/kvm, check its API version, create a VM, and say whether a
    /// Linux guest can boot on this host's KVM.
    CheckKvm,
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::CheckKvm => check_kvm(),
    }
}

fn check_kvm() -> ExitCode {
    match KvmReport::probe() {
        Ok(report) => {
            println!("/dev/kvm: KVM API version {}", report.api_version);
            println!("VM created: yes (up to {} vCPUs)", report.max_vcpus);
            println!("KVM flavor: {}", report.flavor);
            if let Some(advice) = report.advice() {
                println!("note: {advice}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("berth-vmm: {e}");
            ExitCode::FAILURE
        }
    }
}
