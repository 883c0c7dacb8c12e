//! `berth`: the user's command. `berth machine ...` manages micro-VMs;
//! `berth check` says whether this host can boot one; `berth docker-env`
//! points Docker clients at a machine's engine; every other command is a
//! Docker-style client of the engine (see `cli`), run where
//! `engine_target` says.

mod cli;
mod engine_target;
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
    /// Where Docker-style commands run: `process` is a local engine on this
    /// Linux host (started on demand); `machine` a micro-VM.
    #[arg(long, global = true, value_enum)]
    isolation: Option<Isolation>,
    /// The machine to run commands in (default: the persisted context, else
    /// the machine named "default").
    #[arg(long, global = true)]
    machine: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, Debug, PartialEq, clap::ValueEnum)]
enum Isolation {
    Process,
    Machine,
}

#[derive(Subcommand)]
enum ContextCommand {
    /// Persist the default target: process, machine or machine:NAME.
    Use { context: String },
    /// Print the target commands run against now, and why.
    Show,
}

#[derive(Subcommand)]
enum EngineCommand {
    /// Whether the process engine runs, and where.
    Status,
    /// Stop the process engine berth started.
    Stop,
}

#[derive(Subcommand)]
enum Command {
    /// Check whether this host can boot berth's micro-VM, and say what works
    /// instead when it cannot.
    Check,
    /// Manage machines (micro-VMs that run the engine).
    #[command(subcommand)]
    Machine(MachineCommand),
    /// Print the shell line that points Docker clients at a machine
    /// (`--machine NAME`, default "default").
    DockerEnv,
    /// Choose where commands run by default (stored under
    /// $XDG_CONFIG_HOME/berth/context).
    #[command(subcommand)]
    Context(ContextCommand),
    /// The process engine (berth-agent on this host).
    #[command(subcommand)]
    Engine(EngineCommand),
    /// Print a shell completion script: bash, zsh, fish, elvish or powershell.
    Completion { shell: clap_complete::Shell },
    /// Write man pages (one per command) into a directory.
    Man {
        #[arg(default_value = "man")]
        dir: PathBuf,
    },
    #[command(flatten)]
    Docker(Box<cli::DockerCommand>),
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
        /// A guest kernel of your own (e.g. a PVM-enlightened one), or
        /// `debian` for Debian's stock kernel (with its modules in the
        /// initramfs); default: berth's kernel. Both from `cargo xtask images`.
        #[arg(long)]
        kernel: Option<PathBuf>,
        /// The initramfs to go with --kernel; default: berth's.
        #[arg(long)]
        initramfs: Option<PathBuf>,
        /// A host folder to share into the VM, `HOST[:GUEST][:ro]` (GUEST
        /// defaults to the same path); repeatable. Default: your home
        /// directory, at the same path, read-write.
        #[arg(long = "mount", value_name = "HOST[:GUEST][:ro]", value_parser = |s: &str| machine::shares::Share::parse_flag(s).map_err(|e| e.to_string()))]
        mounts: Vec<machine::shares::Share>,
        /// Share no host folder at all.
        #[arg(long, conflicts_with = "mounts")]
        no_mounts: bool,
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
    /// A machine's console log, or with --engine the engine's own log.
    Logs {
        #[arg(default_value = DEFAULT_MACHINE)]
        name: String,
        /// The engine's log (kept on the data disk, size-rotated) instead of
        /// the console.
        #[arg(long, conflicts_with = "previous")]
        engine: bool,
        /// The console of the boot before the current one.
        #[arg(long)]
        previous: bool,
    },
    /// (Internal) the machine process that `start` launches.
    #[command(hide = true)]
    RunProcess { name: String },
}

fn main() -> ExitCode {
    let parsed = Cli::parse();
    // virtio-queue logs each bad descriptor a guest posts; the devices
    // report those, rate-limited (`guest_fault`).
    let filter =
        || tracing_subscriber::EnvFilter::try_from_env("BERTH_LOG").unwrap_or_else(|_| "warn,virtio_queue=off".into());
    // The machine process logs to machine.log, size-capped (a guest can
    // provoke warnings); everything else to stderr.
    let machine_log = match &parsed.command {
        Command::Machine(MachineCommand::RunProcess { name }) => berth_vmm::rotating_log::RotatingLog::open(
            &machine::layout::Layout::new(name).process_log(),
            berth_vmm::rotating_log::DEFAULT_CAP,
        )
        .ok(),
        _ => None,
    };
    match machine_log {
        Some(log) => tracing_subscriber::fmt()
            .with_env_filter(filter())
            .with_ansi(false)
            .with_writer(std::sync::Mutex::new(log))
            .init(),
        None => tracing_subscriber::fmt().with_env_filter(filter()).with_writer(std::io::stderr).init(),
    }
    let choice = engine_target::Choice {
        process: parsed.isolation == Some(Isolation::Process),
        machine: parsed
            .machine
            .clone()
            .or_else(|| (parsed.isolation == Some(Isolation::Machine)).then(|| DEFAULT_MACHINE.to_string())),
    };
    let result = match parsed.command {
        Command::Check => return check(),
        Command::Machine(MachineCommand::Shell { name, cmd }) => return shell(&name, &cmd),
        Command::Machine(m) => run_machine(m),
        Command::DockerEnv => machine::docker_socket(parsed.machine.as_deref().unwrap_or(DEFAULT_MACHINE)).map(|s| {
            println!("export DOCKER_HOST=unix://{}", s.display());
        }),
        Command::Context(c) => return context(c, &choice),
        Command::Engine(c) => return engine(c),
        Command::Completion { shell } => {
            clap_complete::generate(
                shell,
                &mut <Cli as clap::CommandFactory>::command(),
                "berth",
                &mut std::io::stdout(),
            );
            return ExitCode::SUCCESS;
        }
        Command::Man { dir } => return man(&dir),
        Command::Docker(cmd) => return cli::main(*cmd, &choice),
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
        MachineCommand::Create { cpus, memory, disk, kernel, initramfs, mounts, no_mounts, name } => {
            let shares = if no_mounts { Some(Vec::new()) } else { (!mounts.is_empty()).then_some(mounts) };
            let opts =
                CreateOptions { cpus, memory_mib: memory, disk_gib: disk.div_ceil(1024), kernel, initramfs, shares };
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
            // A share whose daemon died is said under the table, with why.
            for s in machine::list()? {
                for (sh, why) in s.shares.iter().filter_map(|sh| Some((sh, sh.state.strip_prefix("failed: ")?))) {
                    println!("machine {}: host folder {} is not served: {why}", s.name, sh.share.host.display());
                }
            }
        }
        MachineCommand::Inspect { name } => {
            let s = machine::status(&name)?;
            println!("{}", serde_json::to_string_pretty(&s).unwrap_or_default());
        }
        MachineCommand::Shell { .. } => unreachable!("handled in main: it has an exit code of its own"),
        MachineCommand::Logs { name, engine: true, .. } => machine::print_engine_log(&name, &mut std::io::stdout())?,
        MachineCommand::Logs { name, previous, .. } => machine::print_console(&name, previous, &mut std::io::stdout())?,
        MachineCommand::RunProcess { name } => {
            let l = machine::layout_of(&name)?;
            // The runner wrote the whole exit (a crash report) to machine.log.
            let exit = machine::runner::run(&l)?;
            tracing::info!(exit = %exit.headline(), "machine {name} ended");
            if !exit.is_success() {
                return Err(MachineError::Vmm(exit.headline()));
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

fn running_socket(name: &str) -> Result<PathBuf, MachineError> {
    engine_target::running_machine_socket(name)
}

fn context(cmd: ContextCommand, choice: &engine_target::Choice) -> ExitCode {
    let result = match cmd {
        ContextCommand::Use { context } => engine_target::context::store(&context).map(|t| {
            println!("berth: commands now run against {t} by default");
        }),
        ContextCommand::Show => engine_target::resolve(choice)
            .map(|t| println!("{t}"))
            .map_err(|e| engine_target::context::ContextError::BadArg(e.to_string())),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("berth: {e}");
            ExitCode::FAILURE
        }
    }
}

fn engine(cmd: EngineCommand) -> ExitCode {
    use engine_target::process;
    match cmd {
        EngineCommand::Status => {
            let socket = process::socket_path();
            if process::is_running() {
                let pid = process::pid().map(|p| format!(", pid {p}")).unwrap_or_default();
                println!(
                    "process engine running at unix://{}{pid}; log {}",
                    socket.display(),
                    process::log_path().display()
                );
                ExitCode::SUCCESS
            } else {
                println!("process engine not running (berth starts it on the first command with --isolation process)");
                ExitCode::from(3)
            }
        }
        EngineCommand::Stop => match process::stop() {
            Ok(true) => {
                println!("process engine stopped");
                ExitCode::SUCCESS
            }
            Ok(false) => {
                println!("process engine is not running");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("berth: {e}");
                ExitCode::FAILURE
            }
        },
    }
}

/// One man page per command (berth.1, berth-run.1, ...), from clap.
fn man(dir: &std::path::Path) -> ExitCode {
    fn write_page(cmd: &clap::Command, name: &str, dir: &std::path::Path) -> std::io::Result<usize> {
        let mut buf = Vec::new();
        clap_mangen::Man::new(cmd.clone().name(name.to_string())).render(&mut buf)?;
        std::fs::write(dir.join(format!("{name}.1")), buf)?;
        let mut n = 1;
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            n += write_page(sub, &format!("{name}-{}", sub.get_name()), dir)?;
        }
        Ok(n)
    }
    let cmd = <Cli as clap::CommandFactory>::command();
    match std::fs::create_dir_all(dir).and_then(|()| write_page(&cmd, "berth", dir)) {
        Ok(n) => {
            println!("berth: wrote {n} man pages to {}", dir.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("berth: {}: {e}", dir.display());
            ExitCode::FAILURE
        }
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
                println!("berth: {advice}. Or: {}.", machine::WITHOUT_A_VM);
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
