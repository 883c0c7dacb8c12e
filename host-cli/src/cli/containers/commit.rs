//! `commit`: a container's changes as a new image (`POST /commit`), named
//! `REPOSITORY[:TAG]` when given; prints the new image's ID, as docker does.

use bollard::models::ContainerConfig;
use bollard::query_parameters::CommitContainerOptions;
use clap::Args;

use crate::cli::ctx::Ctx;
use crate::cli::error::CliError;
use crate::cli::images::pull::{reference, repo_and_tag};

#[derive(Args, Debug)]
pub struct CommitArgs {
    /// Author (e.g., "John Hannibal Smith <hannibal@a-team.com>").
    #[arg(short = 'a', long)]
    pub author: Option<String>,
    /// Apply Dockerfile instruction to the created image.
    #[arg(short = 'c', long = "change")]
    pub change: Vec<String>,
    /// Commit message.
    #[arg(short = 'm', long)]
    pub message: Option<String>,
    /// Pause the container during commit.
    #[arg(short = 'p', long, default_value_t = true, action = clap::ArgAction::Set)]
    pub pause: bool,
    /// Do not pause the container during commit.
    #[arg(long)]
    pub no_pause: bool,
    pub container: String,
    /// REPOSITORY[:TAG] for the new image.
    pub reference: Option<String>,
}

pub async fn commit(ctx: &Ctx, args: CommitArgs) -> Result<u8, CliError> {
    let (repo, tag) = match &args.reference {
        Some(r) => {
            let (name, tag) = repo_and_tag(&reference(r)?);
            (Some(name), Some(tag))
        }
        None => (None, None),
    };
    let opts = CommitContainerOptions {
        container: Some(args.container.clone()),
        repo,
        tag,
        comment: args.message,
        author: args.author,
        pause: args.pause && !args.no_pause,
        // The engine reads the joined lines as a Dockerfile, as Docker's does.
        changes: (!args.change.is_empty()).then(|| args.change.join("\n")),
    };
    // No config of our own: the container's is committed.
    let id = ctx.docker.commit_container(opts, ContainerConfig::default()).await.map_err(|e| ctx.err(e))?;
    println!("{}", id.id);
    Ok(0)
}
