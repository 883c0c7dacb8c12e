//! `cp`: files between a container and the host, both ways, as tar
//! archives (GET/PUT /containers/{id}/archive). `-` as the host side is a
//! tar stream on stdin/stdout, as docker's.

use std::io::Write;
use std::path::{Path, PathBuf};

use bollard::query_parameters::{ContainerArchiveInfoOptions, DownloadFromContainerOptions, UploadToContainerOptions};
use clap::Args;
use futures_util::StreamExt;

use crate::cli::ctx::Ctx;
use crate::cli::error::CliError;

#[derive(Args, Debug)]
pub struct CpArgs {
    /// Archive mode (copy all uid/gid information).
    #[arg(short, long)]
    pub archive: bool,
    /// Always follow symbol link in SRC_PATH.
    #[arg(short = 'L', long = "follow-link")]
    pub follow_link: bool,
    /// CONTAINER:SRC_PATH or a host path.
    pub src: String,
    /// CONTAINER:DEST_PATH or a host path.
    pub dst: String,
}

/// `name:path` → Some((name, path)); a host path (including one with a `/`
/// before any `:`) → None.
fn split_container(s: &str) -> Option<(&str, &str)> {
    if s.starts_with('/') || s.starts_with('.') {
        return None;
    }
    let (c, p) = s.split_once(':')?;
    (!c.is_empty() && !c.contains('/')).then_some((c, p))
}

fn base_name(p: &str) -> String {
    Path::new(p.trim_end_matches('/'))
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| ".".into())
}

pub async fn cp(ctx: &Ctx, args: CpArgs) -> Result<u8, CliError> {
    match (split_container(&args.src), split_container(&args.dst)) {
        (Some((c, path)), None) => from_container(ctx, c, path, &args.dst).await,
        (None, Some((c, path))) => to_container(ctx, &args.src, c, path).await,
        (Some(_), Some(_)) => Err(CliError::Usage("copying between containers is not supported".into())),
        (None, None) => Err(CliError::Usage("must specify at least one container source".into())),
    }
}

async fn from_container(ctx: &Ctx, c: &str, path: &str, dst: &str) -> Result<u8, CliError> {
    let opts = DownloadFromContainerOptions { path: path.to_string() };
    let mut stream = ctx.docker.download_from_container(c, Some(opts));
    let mut tar_bytes = Vec::new();
    while let Some(chunk) = stream.next().await {
        tar_bytes.extend_from_slice(&chunk.map_err(|e| ctx.err(e))?);
    }
    if dst == "-" {
        std::io::stdout().write_all(&tar_bytes).map_err(|e| CliError::io("stdout", e))?;
        return Ok(0);
    }
    let dst = PathBuf::from(dst);
    if dst.is_dir() {
        unpack(&tar_bytes, &dst)?;
        return Ok(0);
    }
    // Copy to a new name: unpack next to it, then rename the top entry.
    let parent = dst.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let staging = tempdir_in(parent)?;
    let result = unpack(&tar_bytes, &staging).and_then(|()| {
        let top = staging.join(base_name(path));
        std::fs::rename(&top, &dst).map_err(|e| CliError::io(dst.display().to_string(), e))
    });
    let _ = std::fs::remove_dir_all(&staging);
    result.map(|()| 0)
}

fn tempdir_in(parent: &Path) -> Result<PathBuf, CliError> {
    let d = parent.join(format!(".berth-cp-{}", std::process::id()));
    std::fs::create_dir_all(&d).map_err(|e| CliError::io(d.display().to_string(), e))?;
    Ok(d)
}

/// Unpacks with the tar crate's guards (no `..`, no absolute paths).
fn unpack(tar_bytes: &[u8], into: &Path) -> Result<(), CliError> {
    let mut archive = tar::Archive::new(tar_bytes);
    archive.set_preserve_permissions(true);
    archive.unpack(into).map_err(|e| CliError::io(format!("unpacking into {}", into.display()), e))
}

async fn to_container(ctx: &Ctx, src: &str, c: &str, path: &str) -> Result<u8, CliError> {
    if src == "-" {
        let mut tar = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut tar).map_err(|e| CliError::io("stdin", e))?;
        return upload(ctx, c, path, tar).await;
    }
    let meta = std::fs::metadata(src).map_err(|e| CliError::io(src.to_string(), e))?;
    // Into an existing directory: keep the source's name; otherwise the
    // destination names the copy, in its parent directory.
    let info = ContainerArchiveInfoOptions { path: path.to_string() };
    let dst_is_dir = match ctx.docker.get_container_archive_info(c, Some(info)).await {
        Ok(stat) => stat.file_mode & (1 << 31) != 0,
        Err(e) => {
            let e = ctx.err(e);
            if !e.is_not_found() {
                return Err(e);
            }
            false
        }
    };
    let (dir, name) = if dst_is_dir || path.ends_with('/') {
        (path.to_string(), base_name(src))
    } else {
        let parent = Path::new(path).parent().map(|d| d.to_string_lossy().into_owned());
        (parent.filter(|d| !d.is_empty()).unwrap_or_else(|| "/".into()), base_name(path))
    };
    let mut builder = tar::Builder::new(Vec::new());
    builder.follow_symlinks(false);
    let appended =
        if meta.is_dir() { builder.append_dir_all(&name, src) } else { builder.append_path_with_name(src, &name) };
    appended.map_err(|e| CliError::io(src.to_string(), e))?;
    let tar = builder.into_inner().map_err(|e| CliError::io(src.to_string(), e))?;
    upload(ctx, c, &dir, tar).await
}

async fn upload(ctx: &Ctx, c: &str, dir: &str, tar: Vec<u8>) -> Result<u8, CliError> {
    let opts = UploadToContainerOptions { path: dir.to_string(), ..Default::default() };
    ctx.docker.upload_to_container(c, Some(opts), bollard::body_full(tar.into())).await.map_err(|e| ctx.err(e))?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_paths_are_told_from_host_paths() {
        assert_eq!(split_container("web:/etc/hosts"), Some(("web", "/etc/hosts")));
        assert_eq!(split_container("/tmp/a:b"), None);
        assert_eq!(split_container("./a:b"), None);
        assert_eq!(split_container("file.txt"), None);
        assert_eq!(base_name("/etc/hosts"), "hosts");
        assert_eq!(base_name("/etc/"), "etc");
    }
}
