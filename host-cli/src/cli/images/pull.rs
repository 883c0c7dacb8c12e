//! `pull` and `push`: the JSON-lines streams rendered by [`progress`], with
//! credentials from `berth login` (see `cli::auth`), and Docker's lines
//! around them (`Using default tag: latest`, the full reference at the
//! end).

use bollard::query_parameters::{CreateImageOptions, PushImageOptions};
use clap::Args;
use futures_util::StreamExt;

use docker_vocab::reference::{DEFAULT_TAG, ImageRef, is_name_only};

use super::progress::{Message, Sink};
use crate::cli::auth;
use crate::cli::ctx::Ctx;
use crate::cli::error::CliError;

/// Where pull progress goes: `run` prints it on stderr, `pull` on stdout.
#[derive(Clone, Copy, PartialEq)]
pub enum Progress {
    Stdout,
    Stderr,
    Quiet,
}

#[derive(Args, Debug)]
pub struct PullArgs {
    /// Suppress verbose output.
    #[arg(short, long)]
    pub quiet: bool,
    /// Pull all tagged images in the repository (not supported by berth).
    #[arg(short = 'a', long = "all-tags")]
    pub all_tags: bool,
    pub image: String,
}

#[derive(Args, Debug)]
pub struct PushArgs {
    /// Suppress verbose output.
    #[arg(short, long)]
    pub quiet: bool,
    pub image: String,
}

/// A user's image reference, parsed and normalised as the docker CLI does
/// (`reference.ParseNormalizedNamed`); a malformed one is Docker's error.
pub fn reference(image: &str) -> Result<ImageRef, CliError> {
    ImageRef::parse(image).map_err(|e| CliError::Usage(e.to_string()))
}

/// What `POST /images/create` and `/images/{name}/push` take: the familiar
/// repository and the tag or digest (`busybox` → (`busybox`, `latest`)).
pub fn repo_and_tag(r: &ImageRef) -> (String, String) {
    (r.familiar_name(), r.tag_or_digest().unwrap_or_else(|| DEFAULT_TAG.to_string()))
}

pub async fn pull(ctx: &Ctx, image: &str, progress: Progress) -> Result<(), CliError> {
    let (name, tag) = repo_and_tag(&reference(image)?);
    let opts = CreateImageOptions { from_image: Some(name), tag: Some(tag), ..Default::default() };
    let creds = auth::credentials_for(image);
    let mut sink = Sink::new(progress == Progress::Stderr, progress == Progress::Quiet);
    let mut stream = ctx.docker.create_image(Some(opts), None, creds);
    while let Some(item) = stream.next().await {
        let info = item.map_err(|e| ctx.err(e))?;
        if let Some(message) = info.error_detail.and_then(|d| d.message) {
            sink.finish();
            return Err(CliError::Client(message));
        }
        sink.show(&Message {
            id: info.id,
            status: info.status,
            stream: None,
            current: info.progress_detail.as_ref().and_then(|p| p.current),
            total: info.progress_detail.as_ref().and_then(|p| p.total),
        });
    }
    sink.finish();
    Ok(())
}

pub async fn pull_cmd(ctx: &Ctx, args: PullArgs) -> Result<u8, CliError> {
    if args.all_tags {
        return Err(CliError::Usage("berth does not support --all-tags yet".into()));
    }
    let r = reference(&args.image)?;
    if is_name_only(&args.image) && !args.quiet {
        println!("Using default tag: {DEFAULT_TAG}");
    }
    pull(ctx, &args.image, if args.quiet { Progress::Quiet } else { Progress::Stdout }).await?;
    println!("{r}");
    Ok(0)
}

pub async fn push_cmd(ctx: &Ctx, args: PushArgs) -> Result<u8, CliError> {
    let r = reference(&args.image)?;
    if is_name_only(&args.image) && !args.quiet {
        println!("Using default tag: {DEFAULT_TAG}");
    }
    let (name, tag) = repo_and_tag(&r);
    let opts = PushImageOptions { tag: Some(tag), ..Default::default() };
    let mut sink = Sink::new(false, args.quiet);
    let mut stream = ctx.docker.push_image(&name, Some(opts), auth::credentials_for(&args.image));
    while let Some(item) = stream.next().await {
        let info = item.map_err(|e| ctx.err(e))?;
        if let Some(message) = info.error_detail.and_then(|d| d.message) {
            sink.finish();
            return Err(CliError::Client(message));
        }
        sink.show(&Message {
            id: None,
            status: info.status,
            stream: None,
            current: info.progress_detail.as_ref().and_then(|p| p.current),
            total: info.progress_detail.as_ref().and_then(|p| p.total),
        });
    }
    sink.finish();
    if args.quiet {
        println!("{r}");
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_split_and_qualify_like_docker() {
        let rt = |s: &str| repo_and_tag(&reference(s).unwrap());
        assert_eq!(rt("busybox"), ("busybox".into(), "latest".into()));
        assert_eq!(rt("busybox:1.36"), ("busybox".into(), "1.36".into()));
        assert_eq!(rt("docker.io/library/busybox:1.36"), ("busybox".into(), "1.36".into()));
        assert_eq!(rt("localhost:5000/a/b"), ("localhost:5000/a/b".into(), "latest".into()));
        assert_eq!(rt("localhost:5000/a:v1"), ("localhost:5000/a".into(), "v1".into()));
        let d = format!("sha256:{}", "ab".repeat(32));
        assert_eq!(rt(&format!("a@{d}")), ("a".into(), d));
        assert!(reference("a@sha256:00").is_err(), "a malformed digest is refused before any request");
        assert!(reference("Busybox").is_err());
        assert_eq!(reference("busybox").unwrap().to_string(), "docker.io/library/busybox:latest");
        assert_eq!(reference("me/app:1").unwrap().to_string(), "docker.io/me/app:1");
        assert_eq!(reference("127.0.0.1:5000/app").unwrap().to_string(), "127.0.0.1:5000/app:latest");
    }
}
