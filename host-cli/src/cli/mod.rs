//! berth's Docker-style commands: each is a client of the engine's Docker
//! API (bollard), run against the target `engine_target` picks. This
//! module owns the command tree, the connection context and the exit
//! codes; it must never reach into the engine other than through its API.

pub mod auth;
pub mod containers;
mod ctx;
pub mod error;
pub mod images;
pub mod output;
pub mod raw_http;
pub mod system;

use clap::Subcommand;

use crate::engine_target::{self, Choice};
use containers::{commit, cp, exec, inspect, lifecycle, logs, ps, run, update};
use ctx::Ctx;
use error::CliError;
use images::{build, list, manage, pull};

#[derive(Subcommand, Debug)]
pub enum DockerCommand {
    /// Create and run a new container from an image.
    Run(run::RunArgs),
    /// Create a new container.
    Create(run::CreateArgs),
    /// Start one or more stopped containers.
    Start(run::StartArgs),
    /// Stop one or more running containers.
    Stop(lifecycle::StopArgs),
    /// Restart one or more containers.
    Restart(lifecycle::StopArgs),
    /// Kill one or more running containers.
    Kill(lifecycle::KillArgs),
    /// Remove one or more containers.
    Rm(lifecycle::RmArgs),
    /// Pause all processes within one or more containers.
    Pause(lifecycle::NamesArgs),
    /// Unpause all processes within one or more containers.
    Unpause(lifecycle::NamesArgs),
    /// Execute a command in a running container.
    Exec(exec::ExecArgs),
    /// Fetch the logs of a container.
    Logs(logs::LogsArgs),
    /// List containers.
    Ps(ps::PsArgs),
    /// Return low-level information on containers or images.
    Inspect(inspect::InspectArgs),
    /// Display the running processes of a container.
    Top(inspect::TopArgs),
    /// Display a live stream of container resource usage statistics.
    Stats(inspect::StatsArgs),
    /// Copy files/folders between a container and the local filesystem.
    Cp(cp::CpArgs),
    /// Block until containers stop, then print their exit codes.
    Wait(lifecycle::NamesArgs),
    /// Rename a container.
    Rename(lifecycle::RenameArgs),
    /// Create a new image from a container's changes.
    Commit(commit::CommitArgs),
    /// Update configuration of one or more containers.
    Update(update::UpdateArgs),
    /// Download an image from a registry.
    Pull(pull::PullArgs),
    /// Upload an image to a registry.
    Push(pull::PushArgs),
    /// List images.
    Images(list::ImagesArgs),
    /// Remove one or more images.
    Rmi(manage::RmiArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE.
    Tag(manage::TagArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default).
    Save(manage::SaveArgs),
    /// Load an image from a tar archive or STDIN.
    Load(manage::LoadArgs),
    /// Build an image from a Dockerfile.
    Build(build::BuildArgs),
    /// Import the contents from a tarball to create a filesystem image.
    Import(manage::ImportArgs),
    /// Show the history of an image.
    History(list::HistoryArgs),
    /// Log in to a registry (credentials kept in $XDG_CONFIG_HOME/berth/auth.json).
    Login(auth::LoginArgs),
    /// Log out from a registry.
    Logout(auth::LogoutArgs),
    /// Show the berth client and engine version information.
    Version(system::FormatArgs),
    /// Display system-wide information.
    Info(system::FormatArgs),
    /// Manage the engine: disk usage, prune, info, events.
    #[command(subcommand)]
    System(system::SystemCommand),
    /// Get real time events from the engine.
    Events(system::EventsArgs),
}

impl DockerCommand {
    /// Docker answers failures of these with 125 (and 126/127).
    fn is_run_like(&self) -> bool {
        matches!(self, DockerCommand::Run(_) | DockerCommand::Create(_) | DockerCommand::Start(_))
    }
}

/// Runs one command: picks the target, starts its engine if needed,
/// connects, and maps the outcome to Docker's exit code.
pub fn main(cmd: DockerCommand, choice: &Choice) -> std::process::ExitCode {
    use std::process::ExitCode;
    let run_like = cmd.is_run_like();
    let fail = |e: &CliError| {
        match e {
            CliError::Engine { .. } => eprintln!("{e}"),
            CliError::Client(m) if m.starts_with("Error") => eprintln!("{m}"),
            _ => eprintln!("berth: {e}"),
        }
        ExitCode::from(if run_like { e.run_exit_code() } else { 1 })
    };
    // Logout touches only the local credentials file.
    if let DockerCommand::Logout(args) = cmd {
        return match auth::logout(args) {
            Ok(code) => ExitCode::from(code),
            Err(e) => fail(&e),
        };
    }
    let ctx = match connect(choice) {
        Ok(ctx) => ctx,
        Err(e) => return fail(&e),
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => return fail(&CliError::io("starting the async runtime", e)),
    };
    match runtime.block_on(dispatch(&ctx, cmd)) {
        Ok(code) => ExitCode::from(code),
        Err(e) => fail(&e),
    }
}

fn connect(choice: &Choice) -> Result<Ctx, CliError> {
    let target = engine_target::resolve(choice)?;
    let endpoint = engine_target::ensure_running(&target)?;
    let docker = engine_target::client(&endpoint).map_err(|e| match e {
        engine_target::TargetError::Connect { source, .. } => CliError::from_bollard(source, &endpoint),
        other => other.into(),
    })?;
    Ok(Ctx { docker, endpoint, target })
}

async fn dispatch(ctx: &Ctx, cmd: DockerCommand) -> Result<u8, CliError> {
    use lifecycle::Action;
    match cmd {
        DockerCommand::Run(a) => run::run(ctx, a).await,
        DockerCommand::Create(a) => run::create_cmd(ctx, a).await,
        DockerCommand::Start(a) => run::start(ctx, a).await,
        DockerCommand::Stop(a) => lifecycle::each(ctx, Action::Stop(a.time, a.signal), &a.containers).await,
        DockerCommand::Restart(a) => lifecycle::each(ctx, Action::Restart(a.time, a.signal), &a.containers).await,
        DockerCommand::Kill(a) => lifecycle::each(ctx, Action::Kill(a.signal), &a.containers).await,
        DockerCommand::Rm(a) => {
            lifecycle::each(ctx, Action::Rm { force: a.force, volumes: a.volumes }, &a.containers).await
        }
        DockerCommand::Pause(a) => lifecycle::each(ctx, Action::Pause, &a.containers).await,
        DockerCommand::Unpause(a) => lifecycle::each(ctx, Action::Unpause, &a.containers).await,
        DockerCommand::Exec(a) => exec::exec(ctx, a).await,
        DockerCommand::Logs(a) => logs::logs(ctx, a).await,
        DockerCommand::Ps(a) => ps::ps(ctx, a).await,
        DockerCommand::Inspect(a) => inspect::inspect(ctx, a).await,
        DockerCommand::Top(a) => inspect::top(ctx, a).await,
        DockerCommand::Stats(a) => inspect::stats(ctx, a).await,
        DockerCommand::Cp(a) => cp::cp(ctx, a).await,
        DockerCommand::Wait(a) => lifecycle::wait(ctx, a).await,
        DockerCommand::Rename(a) => lifecycle::rename(ctx, a).await,
        DockerCommand::Commit(a) => commit::commit(ctx, a).await,
        DockerCommand::Update(a) => update::update(ctx, a).await,
        DockerCommand::Pull(a) => pull::pull_cmd(ctx, a).await,
        DockerCommand::Push(a) => pull::push_cmd(ctx, a).await,
        DockerCommand::Images(a) => list::images(ctx, a).await,
        DockerCommand::Rmi(a) => manage::rmi(ctx, a).await,
        DockerCommand::Tag(a) => manage::tag(ctx, a).await,
        DockerCommand::Save(a) => manage::save(ctx, a).await,
        DockerCommand::Load(a) => manage::load(ctx, a).await,
        DockerCommand::Build(a) => build::build(ctx, a).await,
        DockerCommand::Import(a) => manage::import(ctx, a).await,
        DockerCommand::History(a) => list::history(ctx, a).await,
        DockerCommand::Login(a) => auth::login(ctx, a).await,
        DockerCommand::Logout(a) => auth::logout(a),
        DockerCommand::Version(a) => system::version(ctx, a).await,
        DockerCommand::Info(a) | DockerCommand::System(system::SystemCommand::Info(a)) => system::info(ctx, a).await,
        DockerCommand::System(system::SystemCommand::Df(a)) => system::df(ctx, a).await,
        DockerCommand::System(system::SystemCommand::Prune(a)) => system::prune(ctx, a).await,
        DockerCommand::Events(a) | DockerCommand::System(system::SystemCommand::Events(a)) => {
            system::events(ctx, a).await
        }
    }
}
