//! `rmi`, `tag`, `save`, `load` and `import`.

use std::io::{IsTerminal, Write};

use bollard::query_parameters::{CreateImageOptions, ImportImageOptions, RemoveImageOptions, TagImageOptions};
use clap::Args;
use futures_util::{Stream, StreamExt};

use super::progress::{Message, Sink};
use super::pull::{reference, repo_and_tag};
use crate::cli::ctx::Ctx;
use crate::cli::error::CliError;

#[derive(Args, Debug)]
pub struct RmiArgs {
    /// Force removal of the image.
    #[arg(short, long)]
    pub force: bool,
    /// Do not delete untagged parents.
    #[arg(long = "no-prune")]
    pub no_prune: bool,
    #[arg(required = true)]
    pub images: Vec<String>,
}

#[derive(Args, Debug)]
pub struct TagArgs {
    pub source: String,
    pub target: String,
}

#[derive(Args, Debug)]
pub struct SaveArgs {
    /// Write to a file, instead of STDOUT.
    #[arg(short, long)]
    pub output: Option<std::path::PathBuf>,
    #[arg(required = true)]
    pub images: Vec<String>,
}

#[derive(Args, Debug)]
pub struct LoadArgs {
    /// Read from tar archive file, instead of STDIN.
    #[arg(short, long)]
    pub input: Option<std::path::PathBuf>,
    /// Suppress the load output.
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Args, Debug)]
pub struct ImportArgs {
    /// Apply Dockerfile instruction to the created image.
    #[arg(short, long)]
    pub change: Vec<String>,
    /// Set commit message for imported image.
    #[arg(short, long)]
    pub message: Option<String>,
    /// A file (or - for STDIN).
    pub file: String,
    /// REPOSITORY[:TAG] for the new image.
    pub reference: Option<String>,
}

pub async fn rmi(ctx: &Ctx, args: RmiArgs) -> Result<u8, CliError> {
    let mut failed = false;
    for image in &args.images {
        let opts = RemoveImageOptions { force: args.force, noprune: args.no_prune, ..Default::default() };
        match ctx.docker.remove_image(image, Some(opts), None).await {
            Ok(items) => {
                for i in items {
                    if let Some(u) = i.untagged {
                        println!("Untagged: {u}");
                    }
                    if let Some(d) = i.deleted {
                        println!("Deleted: {d}");
                    }
                }
            }
            Err(e) => {
                eprintln!("{}", ctx.err(e));
                failed = true;
            }
        }
    }
    Ok(u8::from(failed))
}

pub async fn tag(ctx: &Ctx, args: TagArgs) -> Result<u8, CliError> {
    let target = reference(&args.target)?;
    if target.digest.is_some() {
        return Err(CliError::Usage("refusing to create a tag with a digest reference".into()));
    }
    let (repo, tag) = repo_and_tag(&target);
    let opts = TagImageOptions { repo: Some(repo), tag: Some(tag) };
    ctx.docker.tag_image(&args.source, Some(opts)).await.map_err(|e| ctx.err(e))?;
    Ok(0)
}

pub async fn save(ctx: &Ctx, args: SaveArgs) -> Result<u8, CliError> {
    let mut out: Box<dyn Write> = match &args.output {
        Some(p) => Box::new(std::fs::File::create(p).map_err(|e| CliError::io(p.display().to_string(), e))?),
        None => {
            if std::io::stdout().is_terminal() {
                return Err(CliError::Usage(
                    "cowardly refusing to save to a terminal. Use the -o flag or redirect".into(),
                ));
            }
            Box::new(std::io::stdout().lock())
        }
    };
    let names: Vec<&str> = args.images.iter().map(String::as_str).collect();
    let mut stream = ctx.docker.export_images(&names);
    let mut written = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| ctx.err(e))?;
        out.write_all(&chunk).map_err(|e| CliError::io("writing the archive", e))?;
        written += chunk.len() as u64;
    }
    out.flush().map_err(|e| CliError::io("writing the archive", e))?;
    if written == 0 {
        return Err(CliError::Client("the engine sent an empty archive".into()));
    }
    Ok(0)
}

/// A file (or stdin) as a stream of chunks, read as it is sent.
fn file_stream(
    path: Option<std::path::PathBuf>,
) -> Result<impl Stream<Item = Result<bytes::Bytes, std::io::Error>> + Send + 'static, CliError> {
    use tokio::io::AsyncReadExt;
    let reader: Box<dyn tokio::io::AsyncRead + Send + Unpin> = match &path {
        Some(p) if p.as_os_str() != "-" => {
            let f = std::fs::File::open(p).map_err(|e| CliError::io(p.display().to_string(), e))?;
            Box::new(tokio::fs::File::from_std(f))
        }
        _ => {
            if std::io::stdin().is_terminal() {
                return Err(CliError::Usage("requested load from stdin, but stdin is empty (use -i FILE)".into()));
            }
            Box::new(tokio::io::stdin())
        }
    };
    Ok(futures_util::stream::unfold(reader, |mut r| async move {
        let mut buf = vec![0u8; 256 * 1024];
        match r.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(bytes::Bytes::from(buf)), r))
            }
            Err(e) => Some((Err(e), r)),
        }
    }))
}

pub async fn load(ctx: &Ctx, args: LoadArgs) -> Result<u8, CliError> {
    let body = file_stream(args.input)?;
    let opts = ImportImageOptions { quiet: args.quiet, ..Default::default() };
    let mut sink = Sink::new(false, false);
    let mut stream = ctx.docker.import_image_stream(opts, body, None);
    while let Some(item) = stream.next().await {
        let info = item.map_err(|e| ctx.err(e))?;
        if let Some(message) = info.error_detail.and_then(|d| d.message) {
            sink.finish();
            return Err(CliError::Client(message));
        }
        sink.show(&Message {
            id: info.id,
            status: info.status,
            stream: info.stream,
            current: info.progress_detail.as_ref().and_then(|p| p.current),
            total: info.progress_detail.as_ref().and_then(|p| p.total),
        });
    }
    sink.finish();
    Ok(0)
}

pub async fn import(ctx: &Ctx, args: ImportArgs) -> Result<u8, CliError> {
    let (repo, tag) = match &args.reference {
        Some(r) => {
            let (n, t) = repo_and_tag(&reference(r)?);
            (Some(n), Some(t))
        }
        None => (None, None),
    };
    let path = (args.file != "-").then(|| std::path::PathBuf::from(&args.file));
    let body = bollard::body_try_stream(file_stream(path)?);
    let opts = CreateImageOptions {
        from_src: Some("-".into()),
        repo,
        tag,
        message: args.message.clone(),
        changes: args.change.clone(),
        ..Default::default()
    };
    let mut stream = ctx.docker.create_image(Some(opts), Some(body), None);
    while let Some(item) = stream.next().await {
        let info = item.map_err(|e| ctx.err(e))?;
        if let Some(message) = info.error_detail.and_then(|d| d.message) {
            return Err(CliError::Client(message));
        }
        if let Some(s) = info.status {
            println!("{s}");
        }
    }
    Ok(0)
}
