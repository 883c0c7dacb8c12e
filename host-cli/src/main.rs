//! `berth`: the user's command. `berth machine ...` manages micro-VMs;
//! `berth check` says whether this host can boot one; `berth docker-env`
//! points Docker clients at a machine's engine.

mod machine;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use berth_vmm::kvm_probe::KvmReport;
use clap::{Parser, Subcommand};

use machine::{CreateOptions, DEFAULT_MACHINE, MachineError};

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
    /// Manage machines (micro-VMs that run the engine).
    #[command(subcommand)]
    Machine(MachineCommand),
    /// Print the shell line that points Docker clients at a machine.
    DockerEnv {
        #[arg(long, default_value = DEFAULT_MACHINE)]
        machine: String,
    },
}

#[derive(Subcommand)]
enum MachineCommand {
    /// Create a machine: its directory, config and data disk.
    Create {
        #[arg(long, default_value_t = 2)]
        cpus: u8,
        /// Memory, e.g. 2G or 512M.
        #[arg(long, default_value = "2G", value_parser = machine::config::parse_size_mib)]
        memory: u64,
        /// Data disk size, e.g. 20G (sparse).
        #[arg(long, default_value = "20G", value_parser = machine::config::parse_size_mib)]
        disk: u64,
        /// A guest kernel of your own (e.g. a PVM-enlightened one); default:
        /// berth's kernel from `cargo xtask images`.
        #[arg(long)]
        kernel: Option<PathBuf>,
        /// The initramfs to go with --kernel; default: berth's.
        #[arg(long)]
        initramfs: Option<PathBuf>,
        #[arg(default_value = DEFAULT_MACHINE)]
        name: String,
    },
    /// Boot a machine and wait until its engine answers.
    Start {
        #[arg(default_value = DEFAULT_MACHINE)]
        name: String,
        /// Seconds to wait for the engine.
        #[arg(long, default_value_t = 120)]
        timeout: u64,
    },
    /// Power a machine off cleanly.
    Stop {
        #[arg(default_value = DEFAULT_MACHINE)]
        name: String,
    },
    /// Stop, then start.
    Restart {
        #[arg(default_value = DEFAULT_MACHINE)]
        name: String,
        #[arg(long, default_value_t = 120)]
        timeout: u64,
    },
    /// Remove a machine and its data disk.
    Rm {
        #[arg(long, short)]
        force: bool,
        name: String,
    },
    /// List machines.
    Ls,
    /// A machine's settings and state as JSON.
    Inspect {
        #[arg(default_value = DEFAULT_MACHINE)]
        name: String,
    },
    /// A shell in the machine itself (outside every container), or one
    /// command: `berth machine shell [NAME] [-- CMD...]`. Starts the machine
    /// if it is not running.
    Shell {
        #[arg(default_value = DEFAULT_MACHINE)]
        name: String,
        /// The command and its arguments; default: a login shell.
        #[arg(last = true)]
        cmd: Vec<String>,
    },
    /// A machine's console log.
    Logs {
        #[arg(default_value = DEFAULT_MACHINE)]
        name: String,
    },
    /// (Internal) the machine process that `start` launches.
    #[command(hide = true)]
    RunProcess { name: String },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("BERTH_LOG").unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    let result = match Cli::parse().command {
        Command::Check => return check(),
        Command::Machine(MachineCommand::Shell { name, cmd }) => return shell(&name, &cmd),
        Command::Machine(m) => run_machine(m),
        Command::DockerEnv { machine } => machine::docker_socket(&machine).map(|s| {
            println!("export DOCKER_HOST=unix://{}", s.display());
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("berth: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run_machine(cmd: MachineCommand) -> Result<(), MachineError> {
    match cmd {
        MachineCommand::Create { cpus, memory, disk, kernel, initramfs, name } => {
            let opts = CreateOptions { cpus, memory_mib: memory, disk_gib: disk.div_ceil(1024), kernel, initramfs };
            let l = machine::create(&name, &opts)?;
            println!("created machine {name} in {}", l.dir.display());
        }
        MachineCommand::Start { name, timeout } => start(&name, timeout)?,
        MachineCommand::Stop { name } => {
            if machine::stop(&name)? {
                println!("machine {name} stopped");
            } else {
                println!("machine {name} is not running");
            }
        }
        MachineCommand::Restart { name, timeout } => {
            machine::stop(&name)?;
            start(&name, timeout)?;
        }
        MachineCommand::Rm { force, name } => {
            machine::remove(&name, force)?;
            println!("removed machine {name}");
        }
        MachineCommand::Ls => {
            println!("{:<16} {:<8} {:>4} {:>8} {:>14}  SOCKET", "NAME", "STATE", "CPUS", "MEMORY", "DISK USE/SIZE");
            for s in machine::list()? {
                println!(
                    "{:<16} {:<8} {:>4} {:>7}M {:>14}  {}",
                    s.name,
                    s.state,
                    s.cpus,
                    s.memory_mib,
                    format!("{:.1}G/{}G", s.disk_used_bytes as f64 / (1u64 << 30) as f64, s.disk_gib),
                    s.docker_socket.display()
                );
            }
        }
        MachineCommand::Inspect { name } => {
            let s = machine::status(&name)?;
            println!("{}", serde_json::to_string_pretty(&s).unwrap_or_default());
        }
        MachineCommand::Shell { .. } => unreachable!("handled in main: it has an exit code of its own"),
        MachineCommand::Logs { name } => machine::print_console(&name, &mut std::io::stdout())?,
        MachineCommand::RunProcess { name } => {
            let l = machine::layout_of(&name)?;
            let exit = machine::runner::run(&l)?;
            tracing::info!(%exit, "machine {name} ended");
            if !exit.is_success() {
                return Err(MachineError::Vmm(exit.to_string()));
            }
        }
    }
    Ok(())
}

fn start(name: &str, timeout: u64) -> Result<(), MachineError> {
    eprintln!("berth: starting machine {name}");
    let l = machine::start(name, Duration::from_secs(timeout))?;
    println!("machine {name} is running; engine at unix://{}", l.docker_socket().display());
    Ok(())
}

/// Exits with the remote command's code, like `docker exec`.
fn shell(name: &str, cmd: &[String]) -> ExitCode {
    let socket = match running_socket(name) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("berth: {e}");
            return ExitCode::FAILURE;
        }
    };
    match machine::shell::run(&socket, cmd) {
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(255)),
        Err(e) => {
            eprintln!("berth: {e}");
            ExitCode::from(125)
        }
    }
}

/// The machine's docker.sock, starting the machine first if it is not
/// running (saying so on stderr).
fn running_socket(name: &str) -> Result<PathBuf, MachineError> {
    if let Ok(l) = machine::layout_of(name)
        && machine::is_running(&l)
    {
        return Ok(l.docker_socket());
    }
    eprintln!("berth: starting machine {name}");
    Ok(machine::start(name, Duration::from_secs(120))?.docker_socket())
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
