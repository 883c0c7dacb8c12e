//! `pull` and `push`: the JSON-lines streams rendered by [`progress`], with
//! credentials from `berth login` (see `cli::auth`), and Docker's lines
//! around them (`Using default tag: latest`, the full reference at the
//! end).

use bollard::query_parameters::{CreateImageOptions, PushImageOptions};
use clap::Args;
use futures_util::StreamExt;

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

/// Splits `name[:tag][@digest]` into (name, tag-or-digest); a `:` before
/// the last `/` is a registry port, not a tag.
pub fn split_reference(image: &str) -> (&str, Option<&str>) {
    if let Some((name, digest)) = image.split_once('@') {
        return (name, Some(digest));
    }
    let slash = image.rfind('/').map_or(0, |i| i + 1);
    match image[slash..].rfind(':') {
        Some(i) => (&image[..slash + i], Some(&image[slash + i + 1..])),
        None => (image, None),
    }
}

/// `busybox` → `busybox:latest`; references with a tag or digest unchanged.
pub fn with_default_tag(image: &str) -> String {
    match split_reference(image) {
        (_, Some(_)) => image.to_string(),
        (name, None) => format!("{name}:latest"),
    }
}

/// Docker's fully qualified form: `busybox` → `docker.io/library/busybox:latest`.
pub fn qualified(image: &str) -> String {
    let full = with_default_tag(image);
    let first = full.split('/').next().unwrap_or("");
    let has_registry = full.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost");
    if has_registry {
        full
    } else if full.contains('/') {
        format!("docker.io/{full}")
    } else {
        format!("docker.io/library/{full}")
    }
}

pub async fn pull(ctx: &Ctx, image: &str, progress: Progress) -> Result<(), CliError> {
    let (name, tag) = split_reference(image);
    let tag = tag.unwrap_or("latest");
    let opts =
        CreateImageOptions { from_image: Some(name.to_string()), tag: Some(tag.to_string()), ..Default::default() };
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
    if split_reference(&args.image).1.is_none() && !args.quiet {
        println!("Using default tag: latest");
    }
    pull(ctx, &args.image, if args.quiet { Progress::Quiet } else { Progress::Stdout }).await?;
    println!("{}", qualified(&args.image));
    Ok(0)
}

pub async fn push_cmd(ctx: &Ctx, args: PushArgs) -> Result<u8, CliError> {
    let (name, tag) = split_reference(&args.image);
    if tag.is_none() && !args.quiet {
        println!("Using default tag: latest");
    }
    let opts = PushImageOptions { tag: Some(tag.unwrap_or("latest").to_string()), ..Default::default() };
    let mut sink = Sink::new(false, args.quiet);
    let mut stream = ctx.docker.push_image(name, Some(opts), auth::credentials_for(&args.image));
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
        println!("{}", qualified(&args.image));
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_split_and_qualify_like_docker() {
        assert_eq!(split_reference("busybox"), ("busybox", None));
        assert_eq!(split_reference("busybox:1.36"), ("busybox", Some("1.36")));
        assert_eq!(split_reference("localhost:5000/a/b"), ("localhost:5000/a/b", None));
        assert_eq!(split_reference("localhost:5000/a:v1"), ("localhost:5000/a", Some("v1")));
        assert_eq!(split_reference("a@sha256:00"), ("a", Some("sha256:00")));
        assert_eq!(with_default_tag("busybox"), "busybox:latest");
        assert_eq!(qualified("busybox"), "docker.io/library/busybox:latest");
        assert_eq!(qualified("me/app:1"), "docker.io/me/app:1");
        assert_eq!(qualified("127.0.0.1:5000/app"), "127.0.0.1:5000/app:latest");
    }
}
