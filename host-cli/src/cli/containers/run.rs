//! `run`, `create` and `start`: create (pulling the image when the engine
//! says it has none, as docker does), attach, start, wait; the exit code is
//! the container's, or Docker's 125/126/127 when the engine refuses.

use bollard::query_parameters::{
    AttachContainerOptions, CreateContainerOptions, RemoveContainerOptions, ResizeContainerTTYOptions,
    WaitContainerOptions,
};
use clap::Args;
use futures_util::StreamExt;

use super::config::CreateFlags;
use super::stdio;
use crate::cli::ctx::Ctx;
use crate::cli::error::CliError;
use crate::cli::images::pull;

#[derive(Args, Debug)]
#[command(disable_help_flag = true)]
pub struct RunArgs {
    /// Run container in background and print container ID.
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Automatically remove the container when it exits.
    #[arg(long)]
    pub rm: bool,
    #[command(flatten)]
    pub create: CreateFlags,
    /// Print help.
    #[arg(long, action = clap::ArgAction::Help)]
    pub help: Option<bool>,
}

#[derive(Args, Debug)]
#[command(disable_help_flag = true)]
pub struct CreateArgs {
    #[command(flatten)]
    pub create: CreateFlags,
    /// Print help.
    #[arg(long, action = clap::ArgAction::Help)]
    pub help: Option<bool>,
}

#[derive(Args, Debug)]
pub struct StartArgs {
    /// Attach STDOUT/STDERR and forward signals.
    #[arg(short = 'a', long)]
    pub attach: bool,
    /// Attach container's STDIN.
    #[arg(short = 'i', long)]
    pub interactive: bool,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// Creates the container, pulling the image first if the engine has none.
/// `auto_remove` (for `run -d --rm`) asks the engine to remove it at exit,
/// since no client stays to do it.
async fn create(ctx: &Ctx, flags: &CreateFlags, attach: bool, auto_remove: bool) -> Result<String, CliError> {
    let mut body = flags.body(attach)?;
    if auto_remove && let Some(h) = body.host_config.as_mut() {
        h.auto_remove = Some(true);
    }
    let opts = CreateContainerOptions { name: flags.name.clone(), ..Default::default() };
    match ctx.docker.create_container(Some(opts.clone()), body.clone()).await {
        Ok(r) => Ok(r.id),
        Err(e) => {
            let e = ctx.err(e);
            if !e.is_not_found() || !is_missing_image(&e) {
                return Err(e);
            }
            let familiar = pull::reference(&flags.image)?.familiar_string();
            eprintln!("Unable to find image '{familiar}' locally");
            pull::pull(ctx, &flags.image, pull::Progress::Stderr).await?;
            let r = ctx.docker.create_container(Some(opts), body).await.map_err(|e| ctx.err(e))?;
            Ok(r.id)
        }
    }
}

/// The engine's 404 on create means "no such image" (a container 404 is not
/// possible there), but check the words in case an engine says otherwise.
fn is_missing_image(e: &CliError) -> bool {
    match e {
        CliError::Engine { message, .. } => {
            let m = message.to_ascii_lowercase();
            m.contains("image") || m.contains("no such")
        }
        _ => false,
    }
}

pub async fn create_cmd(ctx: &Ctx, args: CreateArgs) -> Result<u8, CliError> {
    let id = create(ctx, &args.create, false, false).await?;
    println!("{id}");
    Ok(0)
}

pub async fn run(ctx: &Ctx, args: RunArgs) -> Result<u8, CliError> {
    let flags = &args.create;
    if args.detach {
        let id = create(ctx, flags, false, args.rm).await?;
        ctx.docker.start_container(&id, None).await.map_err(|e| ctx.err(e))?;
        println!("{id}");
        return Ok(0);
    }
    let id = create(ctx, flags, true, false).await?;
    let code = attach_start_wait(ctx, &id, flags.interactive, flags.tty).await;
    if args.rm {
        let opts = RemoveContainerOptions { force: true, v: true, ..Default::default() };
        if let Err(e) = ctx.docker.remove_container(&id, Some(opts)).await {
            eprintln!("berth: removing {}: {}", short(&id), ctx.err(e));
        }
    }
    code
}

fn short(id: &str) -> &str {
    &id[..id.len().min(12)]
}

/// Attaches, starts, copies the streams and returns the exit code. A start
/// the engine refuses gives Docker's 125/126/127.
async fn attach_start_wait(ctx: &Ctx, id: &str, stdin: bool, tty: bool) -> Result<u8, CliError> {
    let opts =
        AttachContainerOptions { stream: true, stdout: true, stderr: true, stdin, logs: false, ..Default::default() };
    let attached = ctx.docker.attach_container(id, Some(opts)).await.map_err(|e| ctx.err(e))?;
    let _raw = (tty && stdin).then(stdio::RawTerminal::enter);
    if let Err(e) = ctx.docker.start_container(id, None).await {
        let e = ctx.err(e);
        eprintln!("{e}");
        return Ok(e.run_exit_code());
    }
    if tty && let Some((rows, cols)) = stdio::terminal_size() {
        let size = ResizeContainerTTYOptions { h: rows.into(), w: cols.into() };
        let _ = ctx.docker.resize_container_tty(id, size).await;
    }
    let stdin_task = stdin.then(|| stdio::forward_stdin(attached.input));
    let pumped = stdio::pump_output(attached.output).await;
    if let Some(t) = stdin_task {
        t.abort();
    }
    pumped.map_err(|e| ctx.err(e))?;
    wait_exit(ctx, id).await
}

/// The exit code once the container is not running.
pub async fn wait_exit(ctx: &Ctx, id: &str) -> Result<u8, CliError> {
    let opts = WaitContainerOptions { condition: "not-running".into() };
    let mut stream = ctx.docker.wait_container(id, Some(opts));
    match stream.next().await {
        Some(Ok(r)) => Ok(exit_byte(r.status_code)),
        Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => Ok(exit_byte(code)),
        Some(Err(e)) => Err(ctx.err(e)),
        None => Err(CliError::Client(format!("the engine closed the wait on {} without a status", short(id)))),
    }
}

fn exit_byte(code: i64) -> u8 {
    u8::try_from(code & 0xff).unwrap_or(255)
}

pub async fn start(ctx: &Ctx, args: StartArgs) -> Result<u8, CliError> {
    if args.attach || args.interactive {
        if args.containers.len() != 1 {
            return Err(CliError::Usage("you cannot start and attach multiple containers at once".into()));
        }
        let id = &args.containers[0];
        let tty = ctx
            .docker
            .inspect_container(id, None)
            .await
            .map_err(|e| ctx.err(e))?
            .config
            .and_then(|c| c.tty)
            .unwrap_or(false);
        return attach_start_wait(ctx, id, args.interactive, tty).await;
    }
    let mut failed = false;
    for c in &args.containers {
        match ctx.docker.start_container(c, None).await {
            Ok(_) => println!("{c}"),
            Err(e) => {
                eprintln!("{}", ctx.err(e));
                failed = true;
            }
        }
    }
    Ok(if failed { 1 } else { 0 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_wrap_like_a_shell() {
        assert_eq!(exit_byte(0), 0);
        assert_eq!(exit_byte(3), 3);
        assert_eq!(exit_byte(256 + 1), 1);
        assert_eq!(exit_byte(-1), 255);
    }
}
