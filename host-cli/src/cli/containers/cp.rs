//! `cp`: files between a container and the host, both ways, as tar
//! archives (GET/PUT /containers/{id}/archive). `-` as the host side is a
//! tar stream on stdin/stdout, as docker's. Archives stream both ways
//! through `tar_pipe` (never whole in memory); what comes from a container
//! is unpacked without setuid/setgid bits and, without `-a`, as the user.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use bollard::query_parameters::{ContainerArchiveInfoOptions, DownloadFromContainerOptions, UploadToContainerOptions};
use clap::Args;
use futures_util::StreamExt;

use crate::cli::containers::tar_pipe;
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
        (Some((c, path)), None) => from_container(ctx, c, path, &args.dst, args.archive).await,
        (None, Some((c, path))) => to_container(ctx, &args.src, c, path).await,
        (Some(_), Some(_)) => Err(CliError::Usage("copying between containers is not supported".into())),
        (None, None) => Err(CliError::Usage("must specify at least one container source".into())),
    }
}

async fn from_container(ctx: &Ctx, c: &str, path: &str, dst: &str, archive: bool) -> Result<u8, CliError> {
    let opts = DownloadFromContainerOptions { path: path.to_string() };
    let mut stream = ctx.docker.download_from_container(c, Some(opts));
    if dst == "-" {
        let mut out = std::io::stdout().lock();
        while let Some(chunk) = stream.next().await {
            out.write_all(&chunk.map_err(|e| ctx.err(e))?).map_err(|e| CliError::io("stdout", e))?;
        }
        out.flush().map_err(|e| CliError::io("stdout", e))?;
        return Ok(0);
    }
    let dst = PathBuf::from(dst);
    // Into an existing directory as it is; to a new name through a
    // staging directory next to it, whose top entry is then renamed.
    let (into, staging) = if dst.is_dir() {
        (dst.clone(), None)
    } else {
        let parent = dst.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let staging = staging_dir(parent)?;
        (staging.clone(), Some(staging))
    };
    // The archive is unpacked as it arrives: a few chunks in memory.
    let (tx, reader) = tar_pipe::reader();
    let unpacking = tokio::task::spawn_blocking(move || unpack(reader, &into, archive));
    let mut failed = None;
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(c) => {
                if tx.send(c).await.is_err() {
                    break; // the unpacker stopped: its error says why
                }
            }
            Err(e) => {
                failed = Some(ctx.err(e));
                break;
            }
        }
    }
    drop(tx);
    let unpacked = unpacking.await.map_err(|e| CliError::Client(format!("unpacking: {e}")))?;
    let result = match (failed, unpacked) {
        (Some(e), _) | (None, Err(e)) => Err(e),
        (None, Ok(())) => match &staging {
            Some(s) => {
                let top = s.join(base_name(path));
                std::fs::rename(&top, &dst).map_err(|e| CliError::io(dst.display().to_string(), e))
            }
            None => Ok(()),
        },
    };
    if let Some(s) = staging {
        let _ = std::fs::remove_dir_all(&s);
    }
    result.map(|()| 0)
}

/// A new directory of our own next to the destination: made with
/// `mkdir` (never one that already exists, so nobody can plant it) and
/// mode 0700 (nobody else reads what it holds before the rename).
fn staging_dir(parent: &Path) -> Result<PathBuf, CliError> {
    use std::os::unix::fs::DirBuilderExt;
    let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let mut last = None;
    for attempt in 0..16u128 {
        let name =
            format!(".berth-cp-{:x}", (seed ^ (u128::from(std::process::id()) << 64)).wrapping_add(attempt * 7919));
        let d = parent.join(name);
        match std::fs::DirBuilder::new().mode(0o700).create(&d) {
            Ok(()) => return Ok(d),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(CliError::io(d.display().to_string(), e)),
        }
    }
    Err(CliError::io(parent.display().to_string(), last.unwrap_or_else(|| std::io::Error::other("no staging name"))))
}

/// Unpacks with the tar crate's guards (no `..`, no absolute paths, no
/// writing through a link it made). Modes are kept without setuid and
/// setgid (a container's archive must not plant them on the host);
/// owners only with `-a`, as `docker cp -a`.
fn unpack(tar: impl Read, into: &Path, archive: bool) -> Result<(), CliError> {
    let mut a = tar::Archive::new(tar);
    a.set_preserve_permissions(true);
    a.set_mask(0o6000);
    a.set_preserve_ownerships(archive);
    a.unpack(into).map_err(|e| CliError::io(format!("unpacking into {}", into.display()), e))
}

async fn to_container(ctx: &Ctx, src: &str, c: &str, path: &str) -> Result<u8, CliError> {
    if src == "-" {
        // stdin's tar goes on as it is read.
        let (w, chunks) = tar_pipe::writer();
        let failer = w.failer();
        tokio::task::spawn_blocking(move || {
            let mut w = w;
            if let Err(e) = std::io::copy(&mut std::io::stdin().lock(), &mut w).and_then(|_| w.flush()) {
                failer.fail(e);
            }
        });
        return upload(ctx, c, path, chunks).await;
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
    // The tar is made as it is sent: a few chunks in memory. A file that
    // cannot be read fails the upload (the archive is not ended as whole).
    let (w, chunks) = tar_pipe::writer();
    let failer = w.failer();
    let src = src.to_string();
    tokio::task::spawn_blocking(move || {
        let mut builder = tar::Builder::new(w);
        builder.follow_symlinks(false);
        let appended = if meta.is_dir() {
            builder.append_dir_all(&name, &src)
        } else {
            builder.append_path_with_name(&src, &name)
        };
        let result = appended.and_then(|()| builder.finish()).and_then(|()| builder.get_mut().flush());
        if let Err(e) = result {
            failer.fail(std::io::Error::new(e.kind(), format!("{src}: {e}")));
        }
    });
    upload(ctx, c, &dir, chunks).await
}

async fn upload(ctx: &Ctx, c: &str, dir: &str, chunks: tar_pipe::Chunks) -> Result<u8, CliError> {
    let opts = UploadToContainerOptions { path: dir.to_string(), ..Default::default() };
    let body = futures_util::stream::unfold(chunks, |mut rx| async move { rx.recv().await.map(|c| (c, rx)) });
    ctx.docker.upload_to_container(c, Some(opts), bollard::body_try_stream(body)).await.map_err(|e| ctx.err(e))?;
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

    /// What a container's archive holds is unpacked without setuid and
    /// setgid bits (the old unpack kept 04755); the staging directory is
    /// new, 0700, and never one that was there before.
    #[test]
    fn setuid_bits_stay_in_the_container_and_staging_is_our_own() {
        use std::os::unix::fs::PermissionsExt;
        let t = tempfile::tempdir().unwrap();
        let mut b = tar::Builder::new(Vec::new());
        for (name, mode) in [("suid", 0o4755), ("sgid", 0o2750), ("plain", 0o640)] {
            let mut h = tar::Header::new_gnu();
            h.set_mode(mode);
            h.set_size(1);
            b.append_data(&mut h, name, &b"x"[..]).unwrap();
        }
        let tar = b.into_inner().unwrap();
        unpack(&tar[..], t.path(), false).unwrap();
        let mode = |n: &str| std::fs::metadata(t.path().join(n)).unwrap().permissions().mode() & 0o7777;
        assert_eq!((mode("suid"), mode("sgid"), mode("plain")), (0o755, 0o750, 0o640));

        let a = staging_dir(t.path()).unwrap();
        let b = staging_dir(t.path()).unwrap();
        assert_ne!(a, b);
        assert_eq!(std::fs::metadata(&a).unwrap().permissions().mode() & 0o777, 0o700);
    }
}
