//! `stop`, `restart`, `kill`, `rm`, `pause`, `unpause`, `wait` and
//! `rename`: one request per named container; each name is printed on
//! success, each failure on stderr, and the exit code is 1 if any failed
//! (as docker does).

use bollard::query_parameters::{
    KillContainerOptions, RemoveContainerOptions, RenameContainerOptions, RestartContainerOptions, StopContainerOptions,
};
use clap::Args;

use crate::cli::ctx::Ctx;
use crate::cli::error::CliError;

#[derive(Args, Debug)]
pub struct StopArgs {
    /// Seconds to wait before killing the container.
    #[arg(short = 't', long = "time")]
    pub time: Option<i32>,
    /// Signal to send to the container.
    #[arg(short = 's', long)]
    pub signal: Option<String>,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Args, Debug)]
pub struct KillArgs {
    /// Signal to send to the container.
    #[arg(short = 's', long, default_value = "KILL")]
    pub signal: String,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Args, Debug)]
pub struct RmArgs {
    /// Force the removal of a running container (uses SIGKILL).
    #[arg(short, long)]
    pub force: bool,
    /// Remove anonymous volumes associated with the container.
    #[arg(short, long)]
    pub volumes: bool,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Args, Debug)]
pub struct NamesArgs {
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Args, Debug)]
pub struct RenameArgs {
    pub container: String,
    pub new_name: String,
}

/// Which per-container action to run.
pub enum Action {
    Stop(Option<i32>, Option<String>),
    Restart(Option<i32>, Option<String>),
    Kill(String),
    Rm { force: bool, volumes: bool },
    Pause,
    Unpause,
}

async fn one(ctx: &Ctx, action: &Action, c: &str) -> Result<(), bollard::errors::Error> {
    match action {
        Action::Stop(t, signal) => {
            ctx.docker.stop_container(c, Some(StopContainerOptions { t: *t, signal: signal.clone() })).await.map(drop)
        }
        Action::Restart(t, signal) => {
            ctx.docker.restart_container(c, Some(RestartContainerOptions { t: *t, signal: signal.clone() })).await
        }
        Action::Kill(signal) => {
            ctx.docker.kill_container(c, Some(KillContainerOptions { signal: signal.clone() })).await
        }
        Action::Rm { force, volumes } => {
            let opts = RemoveContainerOptions { force: *force, v: *volumes, ..Default::default() };
            ctx.docker.remove_container(c, Some(opts)).await
        }
        Action::Pause => ctx.docker.pause_container(c).await,
        Action::Unpause => ctx.docker.unpause_container(c).await,
    }
}

pub async fn each(ctx: &Ctx, action: Action, containers: &[String]) -> Result<u8, CliError> {
    let mut failed = false;
    for c in containers {
        match one(ctx, &action, c).await {
            Ok(()) => println!("{c}"),
            Err(e) => {
                eprintln!("{}", ctx.err(e));
                failed = true;
            }
        }
    }
    Ok(u8::from(failed))
}

/// `wait`: prints each container's exit code.
pub async fn wait(ctx: &Ctx, args: NamesArgs) -> Result<u8, CliError> {
    let mut failed = false;
    for c in &args.containers {
        match super::run::wait_exit(ctx, c).await {
            Ok(code) => println!("{code}"),
            Err(e) => {
                eprintln!("{e}");
                failed = true;
            }
        }
    }
    Ok(u8::from(failed))
}

pub async fn rename(ctx: &Ctx, args: RenameArgs) -> Result<u8, CliError> {
    let opts = RenameContainerOptions { name: args.new_name };
    ctx.docker.rename_container(&args.container, opts).await.map_err(|e| ctx.err(e))?;
    Ok(0)
}
