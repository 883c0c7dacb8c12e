//! `exec`: a process in a running container; the exit code is the
//! process's (from the exec's inspect once its stream ends).

use bollard::exec::{CreateExecOptions, StartExecOptions, StartExecResults};
use bollard::query_parameters::ResizeExecOptions;
use clap::Args;

use super::stdio;
use crate::cli::ctx::Ctx;
use crate::cli::error::CliError;

#[derive(Args, Debug)]
pub struct ExecArgs {
    /// Detached mode: run command in the background.
    #[arg(short, long)]
    pub detach: bool,
    /// Keep STDIN open even if not attached.
    #[arg(short, long)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY.
    #[arg(short, long)]
    pub tty: bool,
    /// Set environment variables.
    #[arg(short, long)]
    pub env: Vec<String>,
    /// Working directory inside the container.
    #[arg(short, long)]
    pub workdir: Option<String>,
    /// Username or UID.
    #[arg(short, long)]
    pub user: Option<String>,
    /// Give extended privileges to the command.
    #[arg(long)]
    pub privileged: bool,
    pub container: String,
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
    pub command: Vec<String>,
}

pub async fn exec(ctx: &Ctx, args: ExecArgs) -> Result<u8, CliError> {
    let attach = !args.detach;
    let config = CreateExecOptions {
        cmd: Some(args.command.clone()),
        env: (!args.env.is_empty()).then(|| args.env.clone()),
        working_dir: args.workdir.clone(),
        user: args.user.clone(),
        privileged: Some(args.privileged),
        tty: Some(args.tty),
        attach_stdin: Some(args.interactive && attach),
        attach_stdout: Some(attach),
        attach_stderr: Some(attach),
        ..Default::default()
    };
    let created = ctx.docker.create_exec(&args.container, config).await.map_err(|e| ctx.err(e))?;
    let start = StartExecOptions { detach: args.detach, tty: args.tty, ..Default::default() };
    let _raw = (args.tty && args.interactive).then(stdio::RawTerminal::enter);
    match ctx.docker.start_exec(&created.id, Some(start)).await.map_err(|e| ctx.err(e))? {
        StartExecResults::Detached => return Ok(0),
        StartExecResults::Attached { output, input } => {
            if args.tty
                && let Some((rows, cols)) = stdio::terminal_size()
            {
                let _ = ctx.docker.resize_exec(&created.id, ResizeExecOptions { h: rows.into(), w: cols.into() }).await;
            }
            let stdin_task = args.interactive.then(|| stdio::forward_stdin(input));
            let pumped = stdio::pump_output(output).await;
            if let Some(t) = stdin_task {
                t.abort();
            }
            pumped.map_err(|e| ctx.err(e))?;
        }
    }
    let inspect = ctx.docker.inspect_exec(&created.id).await.map_err(|e| ctx.err(e))?;
    Ok(u8::try_from(inspect.exit_code.unwrap_or(0) & 0xff).unwrap_or(255))
}
