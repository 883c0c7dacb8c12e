//! `build`: a Dockerfile built by the engine's classic builder (`POST
//! /build`). The context directory is sent as a tar without what its
//! `.dockerignore` leaves out (Docker's rules, `!` exceptions; the
//! Dockerfile and `.dockerignore` always go); a Dockerfile from outside
//! the context goes in under a random name, as the docker CLI sends it.
//! The build's lines are printed as they come (under a spinner naming
//! the step on a terminal, `build_output.rs`); `-q` prints the ID only.
//!
//! Owns the context's packing and the output; it must never build
//! anything itself.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use bollard::query_parameters::{BuildImageOptionsBuilder, TagImageOptions};
use clap::Args;
use docker_vocab::patterns::DockerIgnore;
use futures_util::StreamExt;

use crate::cli::ctx::Ctx;
use crate::cli::error::CliError;
use crate::cli::images::build_output::BuildOutput;
use crate::cli::images::pull::{reference, repo_and_tag};

#[derive(Args, Debug)]
pub struct BuildArgs {
    /// Name and optionally a tag (format: "name:tag").
    #[arg(short = 't', long = "tag")]
    pub tag: Vec<String>,
    /// Name of the Dockerfile (default: "PATH/Dockerfile").
    #[arg(short = 'f', long = "file")]
    pub file: Option<PathBuf>,
    /// Set build-time variables (KEY=VALUE, or KEY to take it from the environment).
    #[arg(long = "build-arg")]
    pub build_arg: Vec<String>,
    /// Set the target build stage to build.
    #[arg(long)]
    pub target: Option<String>,
    /// Do not use cache when building the image.
    #[arg(long)]
    pub no_cache: bool,
    /// Always attempt to pull a newer version of the image.
    #[arg(long)]
    pub pull: bool,
    /// Suppress the build output and print image ID on success.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Write the image ID to the file.
    #[arg(long)]
    pub iidfile: Option<PathBuf>,
    /// Set metadata for an image (KEY=VALUE).
    #[arg(long = "label")]
    pub label: Vec<String>,
    /// Set the networking mode for the RUN instructions during build.
    #[arg(long, default_value = "default")]
    pub network: String,
    /// The build context: a directory.
    pub path: PathBuf,
}

/// The tar of `dir` without what `ignore` leaves out (`keep` always goes).
fn pack(dir: &Path, ignore: &DockerIgnore, keep: &[String]) -> Result<Vec<u8>, CliError> {
    let mut b = tar::Builder::new(Vec::new());
    b.follow_symlinks(false);
    let mut pending = vec![String::new()];
    while let Some(rel) = pending.pop() {
        let here = if rel.is_empty() { dir.to_path_buf() } else { dir.join(&rel) };
        let mut names: Vec<String> = std::fs::read_dir(&here)
            .map_err(|e| CliError::io(format!("reading {}", here.display()), e))?
            .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
            .collect();
        names.sort();
        for name in names {
            let path = if rel.is_empty() { name.clone() } else { format!("{rel}/{name}") };
            let full = dir.join(&path);
            let meta = std::fs::symlink_metadata(&full).map_err(|e| CliError::io(format!("stat {path}"), e))?;
            let excluded = ignore.excludes(&path) && !keep.contains(&path);
            if meta.is_dir() {
                if !excluded {
                    b.append_path_with_name(&full, &path).map_err(|e| CliError::io(format!("packing {path}"), e))?;
                }
                if !excluded || ignore.may_include_under(&path) {
                    pending.push(path);
                }
            } else if !excluded {
                b.append_path_with_name(&full, &path).map_err(|e| CliError::io(format!("packing {path}"), e))?;
            }
        }
    }
    b.into_inner().map_err(|e| CliError::io("packing the build context", e))
}

fn pairs(list: &[String], from_env: bool) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for item in list {
        match item.split_once('=') {
            Some((k, v)) => {
                out.insert(k.to_string(), v.to_string());
            }
            None if from_env => {
                if let Ok(v) = std::env::var(item) {
                    out.insert(item.clone(), v);
                }
            }
            None => {
                out.insert(item.clone(), String::new());
            }
        }
    }
    out
}

/// The exit code `berth build` gives for a failed build: a RUN's own, as
/// the docker CLI exits (`The command '...' returned a non-zero code: N`),
/// else 1.
fn run_exit_code(message: &str) -> u8 {
    message
        .rsplit_once("returned a non-zero code: ")
        .and_then(|(_, code)| code.trim().parse::<u8>().ok())
        .filter(|c| *c != 0)
        .unwrap_or(1)
}

pub async fn build(ctx: &Ctx, args: BuildArgs) -> Result<u8, CliError> {
    let dir = &args.path;
    if !dir.is_dir() {
        return Err(CliError::Usage(format!("unable to prepare context: path {:?} not found", dir.display())));
    }
    let ignore_text = std::fs::read_to_string(dir.join(".dockerignore")).unwrap_or_default();
    let ignore = DockerIgnore::parse(&ignore_text);
    let file = args.file.clone().unwrap_or_else(|| dir.join("Dockerfile"));
    let dir_abs = std::fs::canonicalize(dir).map_err(|e| CliError::io("the build context", e))?;
    let file_abs = std::fs::canonicalize(&file)
        .map_err(|e| CliError::io(format!("unable to prepare context: {}", file.display()), e))?;
    let inside = file_abs.strip_prefix(&dir_abs).ok().map(|p| p.to_string_lossy().into_owned());
    let mut keep = vec![".dockerignore".to_string()];
    keep.extend(inside.clone());
    let mut tar = pack(dir, &ignore, &keep)?;
    let dockerfile = match inside {
        Some(rel) => rel,
        None => {
            // From outside the context: added under a random name.
            let mut text = Vec::new();
            std::fs::File::open(&file_abs)
                .and_then(|mut f| f.read_to_end(&mut text))
                .map_err(|e| CliError::io(format!("reading {}", file.display()), e))?;
            let name =
                format!(".dockerfile.{:x}", std::process::id() as u64 ^ chrono::Utc::now().timestamp_micros() as u64);
            let mut b = tar::Builder::new(Vec::new());
            let mut h = tar::Header::new_gnu();
            h.set_mode(0o600);
            h.set_size(text.len() as u64);
            b.append_data(&mut h, &name, &text[..]).map_err(|e| CliError::io("packing the Dockerfile", e))?;
            let extra = b.into_inner().map_err(|e| CliError::io("packing the Dockerfile", e))?;
            // Both tars end in two zero blocks: drop this one's first.
            tar.truncate(tar.len().saturating_sub(1024));
            tar.extend_from_slice(&extra);
            name
        }
    };
    let build_args = pairs(&args.build_arg, true);
    let labels = pairs(&args.label, false);
    let mut opts = BuildImageOptionsBuilder::new()
        .dockerfile(&dockerfile)
        .q(args.quiet)
        .nocache(args.no_cache)
        .rm(true)
        .networkmode(&args.network)
        .buildargs(&build_args)
        .labels(&labels);
    if let Some(first) = args.tag.first() {
        opts = opts.t(&reference(first)?.to_string());
    }
    if let Some(t) = &args.target {
        opts = opts.target(t);
    }
    if args.pull {
        opts = opts.pull("1");
    }
    let mut out = BuildOutput::new(args.quiet, tar.len());
    let body = bollard::body_full(tar.into());
    let mut stream = ctx.docker.build_image(opts.build(), None, Some(body));
    let mut id = None;
    while let Some(item) = stream.next().await {
        let info = match item {
            Ok(info) => info,
            // bollard turns an `errorDetail` into this error and drops its
            // code: a failing RUN's comes back from Docker's message.
            Err(bollard::errors::Error::DockerStreamError { error }) => {
                out.finish();
                eprintln!("{error}");
                return Ok(run_exit_code(&error));
            }
            Err(e) => return Err(ctx.err(e)),
        };
        if let Some(d) = info.error_detail {
            out.finish();
            let message = d.message.unwrap_or_default();
            eprintln!("{message}");
            return Ok(u8::try_from(d.code.unwrap_or(1)).unwrap_or(1).max(1));
        }
        if let Some(aux) = info.aux.and_then(|a| a.id) {
            id = Some(aux);
        }
        if let Some(s) = info.stream {
            out.stream(&s);
        }
    }
    out.finish();
    let id = id.ok_or_else(|| CliError::Client("the engine reported no image ID".into()))?;
    for t in args.tag.iter().skip(1) {
        let (repo, tag) = repo_and_tag(&reference(t)?);
        let opts = TagImageOptions { repo: Some(repo), tag: Some(tag) };
        ctx.docker.tag_image(&id, Some(opts)).await.map_err(|e| ctx.err(e))?;
        if !args.quiet {
            println!("Successfully tagged {t}");
        }
    }
    if args.quiet {
        println!("{id}");
    }
    if let Some(f) = &args.iidfile {
        std::fs::write(f, &id).map_err(|e| CliError::io(format!("writing {}", f.display()), e))?;
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_context_leaves_out_what_dockerignore_says() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path();
        for (name, text) in [
            ("Dockerfile", "FROM x"),
            ("a.log", "x"),
            ("keep.log", "k"),
            ("secret/key", "s"),
            ("secret/keep", "k"),
            ("src/m", "m"),
        ] {
            std::fs::create_dir_all(p.join(name).parent().unwrap()).unwrap();
            std::fs::write(p.join(name), text).unwrap();
        }
        let ig = DockerIgnore::parse("*.log\n!keep.log\nsecret\n!secret/keep\nDockerfile\n");
        let tar = pack(p, &ig, &["Dockerfile".into(), ".dockerignore".into()]).unwrap();
        let mut a = tar::Archive::new(&tar[..]);
        let mut names: Vec<String> = a
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().to_string_lossy().trim_end_matches('/').to_string())
            .collect();
        names.sort();
        assert_eq!(names, ["Dockerfile", "keep.log", "secret/keep", "src", "src/m"]);
        let args = pairs(&["A=1".into(), "B=".into()], false);
        assert_eq!(run_exit_code("The command '/bin/sh -c exit 5' returned a non-zero code: 5"), 5);
        assert_eq!(run_exit_code("COPY failed: file not found in build context"), 1);
        assert_eq!((args["A"].as_str(), args["B"].as_str()), ("1", ""));
    }
}
