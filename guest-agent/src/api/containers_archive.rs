//! `docker cp` and `docker export`: `GET`/`HEAD`/`PUT
//! /containers/{id}/archive?path=` and `GET /containers/{id}/export`, over
//! the container's root filesystem as the shim mounts it.
//!
//! Owns the confinement of every path to that root: symlinks inside the
//! container are resolved as the container would see them (an absolute
//! link target is relative to the container's root), never on the host,
//! and an archive being extracted cannot write outside the root through
//! `..`, absolute names, symlinked parents or hard links.

use std::io::Write;
use std::path::{Component, Path as FsPath, PathBuf};
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine as _;
use futures_util::StreamExt;

use super::error::ApiError;
use super::extract::docker_bool;

type Q = Query<std::collections::HashMap<String, String>>;
use crate::engine::Engine;

pub fn routes() -> Router<Arc<Engine>> {
    Router::new()
        .route("/containers/{id}/archive", get(get_archive).head(head_archive).put(put_archive))
        .route("/containers/{id}/export", get(export))
}

/// At most this many symlinks on one path, as Linux's MAXSYMLINKS.
const MAX_LINKS: usize = 40;

/// Resolves `path` (as the container names it) under `root`, following
/// symlinks inside the root; the last component is followed only when
/// `follow_last`. The result is always under `root`.
pub fn resolve_in_root(root: &FsPath, path: &str, follow_last: bool) -> std::io::Result<PathBuf> {
    let mut pending: Vec<String> = split(path).into_iter().rev().collect();
    let mut cur: Vec<String> = Vec::new();
    let mut links = 0;
    while let Some(part) = pending.pop() {
        match part.as_str() {
            "." => continue,
            ".." => {
                cur.pop();
                continue;
            }
            _ => {}
        }
        let candidate = join(root, &cur).join(&part);
        let is_last = pending.is_empty();
        match std::fs::symlink_metadata(&candidate) {
            Ok(m) if m.file_type().is_symlink() && (!is_last || follow_last) => {
                links += 1;
                if links > MAX_LINKS {
                    return Err(std::io::Error::other("too many levels of symbolic links"));
                }
                let target = std::fs::read_link(&candidate)?;
                let target = target.to_string_lossy().into_owned();
                if target.starts_with('/') {
                    cur.clear();
                }
                pending.extend(split(&target).into_iter().rev());
            }
            _ => cur.push(part),
        }
    }
    Ok(join(root, &cur))
}

fn split(p: &str) -> Vec<String> {
    p.split('/').filter(|s| !s.is_empty()).map(String::from).collect()
}

fn join(root: &FsPath, parts: &[String]) -> PathBuf {
    let mut p = root.to_path_buf();
    for s in parts {
        p.push(s);
    }
    p
}

/// Go's `os.FileMode` bits, which the docker CLI decodes from the stat
/// header (`IsDir()` decides how `cp` copies).
fn go_mode(m: &std::fs::Metadata) -> u32 {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    let raw = m.permissions().mode();
    let mut mode = raw & 0o777;
    let ft = m.file_type();
    if ft.is_dir() {
        mode |= 1 << 31;
    }
    if ft.is_symlink() {
        mode |= 1 << 27;
    }
    if ft.is_block_device() {
        mode |= 1 << 26;
    }
    if ft.is_char_device() {
        mode |= (1 << 26) | (1 << 21);
    }
    if ft.is_fifo() {
        mode |= 1 << 25;
    }
    if ft.is_socket() {
        mode |= 1 << 24;
    }
    if raw & 0o4000 != 0 {
        mode |= 1 << 23;
    }
    if raw & 0o2000 != 0 {
        mode |= 1 << 22;
    }
    if raw & 0o1000 != 0 {
        mode |= 1 << 20;
    }
    mode
}

fn stat_header(root: &FsPath, container_path: &str, resolved: &FsPath) -> std::io::Result<HeaderValue> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::symlink_metadata(resolved)?;
    let link = if m.file_type().is_symlink() {
        let t = std::fs::read_link(resolved)?.to_string_lossy().into_owned();
        // Docker reports the link target as the container sees it.
        match resolve_in_root(root, container_path, true) {
            Ok(p) => format!("/{}", p.strip_prefix(root).unwrap_or(&p).display()),
            Err(_) => t,
        }
    } else {
        String::new()
    };
    let name = FsPath::new(container_path).file_name().map_or("/".into(), |n| n.to_string_lossy().into_owned());
    let mtime = chrono::DateTime::from_timestamp(m.mtime(), m.mtime_nsec() as u32).unwrap_or_default();
    let json = serde_json::json!({
        "name": name,
        "size": m.len(),
        "mode": go_mode(&m),
        "mtime": crate::container::clock::format(mtime),
        "linkTarget": link,
    });
    let b64 = base64::engine::general_purpose::STANDARD.encode(json.to_string());
    HeaderValue::from_str(&b64).map_err(std::io::Error::other)
}

fn not_found(id: &str, path: &str) -> ApiError {
    ApiError::not_found(format!("Could not find the file {path} in container {id}"))
}

/// The container's mounted root: the live shim's, or a fresh shim's for a
/// container whose shim is gone.
async fn rootfs(engine: &Engine, id: &str) -> Result<(PathBuf, String), ApiError> {
    Ok(engine.container_rootfs(id).await?)
}

fn archive_path(q: &std::collections::HashMap<String, String>) -> Result<String, ApiError> {
    q.get("path").filter(|p| !p.is_empty()).cloned().ok_or_else(|| ApiError::bad_request("path is required"))
}

/// The `path` query resolved inside the container's rootfs, and its
/// `X-Docker-Container-Path-Stat` header: what HEAD and GET both answer with.
async fn stat_of(
    engine: &Arc<Engine>,
    id: &str,
    q: &std::collections::HashMap<String, String>,
) -> Result<(String, PathBuf, HeaderValue), ApiError> {
    let path = archive_path(q)?;
    let (root, cid) = rootfs(engine, id).await?;
    let resolved = resolve_in_root(&root, &path, false).map_err(|_| not_found(&cid, &path))?;
    let stat = stat_header(&root, &path, &resolved).map_err(|_| not_found(&cid, &path))?;
    Ok((path, resolved, stat))
}

async fn head_archive(
    State(engine): State<Arc<Engine>>,
    Path(id): Path<String>,
    Query(q): Q,
) -> Result<Response, ApiError> {
    let (_, _, stat) = stat_of(&engine, &id, &q).await?;
    let mut resp = StatusCode::OK.into_response();
    resp.headers_mut().insert("X-Docker-Container-Path-Stat", stat);
    Ok(resp)
}

/// Streams a tar written by a blocking task.
fn tar_body(build: impl FnOnce(&mut tar::Builder<ChannelWriter>) -> std::io::Result<()> + Send + 'static) -> Body {
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(16);
    tokio::task::spawn_blocking(move || {
        let mut b = tar::Builder::new(ChannelWriter { tx, buf: Vec::new() });
        b.follow_symlinks(false);
        let r = build(&mut b).and_then(|()| b.finish());
        if let Err(e) = r {
            tracing::warn!(error = %e, "writing a container archive");
        }
        if let Ok(mut w) = b.into_inner() {
            let _ = w.flush();
        }
    });
    Body::from_stream(super::channel_stream::tokio_stream_from(rx).map(Ok::<_, std::io::Error>))
}

struct ChannelWriter {
    tx: tokio::sync::mpsc::Sender<Bytes>,
    buf: Vec<u8>,
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= 64 * 1024 {
            self.flush()?;
        }
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        if !self.buf.is_empty() {
            let chunk = Bytes::from(std::mem::take(&mut self.buf));
            self.tx.blocking_send(chunk).map_err(|_| std::io::Error::from(std::io::ErrorKind::BrokenPipe))?;
        }
        Ok(())
    }
}

async fn get_archive(
    State(engine): State<Arc<Engine>>,
    Path(id): Path<String>,
    Query(q): Q,
) -> Result<Response, ApiError> {
    let (path, resolved, stat) = stat_of(&engine, &id, &q).await?;
    // Entries are named after the last component the client gave (`.` for
    // `dir/.`, which copies the contents).
    let base = if path.ends_with("/.") {
        ".".to_string()
    } else {
        FsPath::new(&path).file_name().map_or(".".into(), |n| n.to_string_lossy().into_owned())
    };
    let body = tar_body(move |b| {
        let m = std::fs::symlink_metadata(&resolved)?;
        if m.is_dir() { b.append_dir_all(&base, &resolved) } else { b.append_path_with_name(&resolved, &base) }
    });
    let mut resp = (StatusCode::OK, [(header::CONTENT_TYPE, "application/x-tar")], body).into_response();
    resp.headers_mut().insert("X-Docker-Container-Path-Stat", stat);
    Ok(resp)
}

async fn export(State(engine): State<Arc<Engine>>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let (root, _) = rootfs(&engine, &id).await?;
    let body = tar_body(move |b| b.append_dir_all(".", &root));
    Ok((StatusCode::OK, [(header::CONTENT_TYPE, "application/x-tar")], body).into_response())
}

/// `PUT /containers/{id}/archive?path=&noOverwriteDirNonDir=`: extracts a
/// tar into a directory of the container.
async fn put_archive(
    State(engine): State<Arc<Engine>>,
    Path(id): Path<String>,
    Query(q): Q,
    body: Body,
) -> Result<Response, ApiError> {
    let path = archive_path(&q)?;
    let no_overwrite = q.get("noOverwriteDirNonDir").is_some_and(|v| docker_bool(v));
    let (root, cid) = rootfs(&engine, &id).await?;
    let dest = resolve_in_root(&root, &path, true).map_err(|_| not_found(&cid, &path))?;
    match std::fs::metadata(&dest) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(ApiError::bad_request(format!("extraction point is not a directory: {path}")));
        }
        Err(_) => return Err(not_found(&cid, &path)),
    }
    // The body goes through a pipe to the blocking extractor.
    let (tx, rx) = std::sync::mpsc::sync_channel::<Bytes>(16);
    let rel_dest = dest.strip_prefix(&root).map(|p| p.to_path_buf()).unwrap_or_default();
    let extract = tokio::task::spawn_blocking(move || {
        extract(&root, &rel_dest, ChannelReader { rx, cur: Bytes::new() }, no_overwrite)
    });
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| ApiError::bad_request(format!("reading the archive: {e}")))?;
        if tx.send(chunk).is_err() {
            break; // the extractor stopped: its error is below
        }
    }
    drop(tx);
    extract
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
        .map_err(|e| ApiError::bad_request(format!("extracting the archive into {path}: {e}")))?;
    Ok(StatusCode::OK.into_response())
}

struct ChannelReader {
    rx: std::sync::mpsc::Receiver<Bytes>,
    cur: Bytes,
}

impl std::io::Read for ChannelReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.cur.is_empty() {
            match self.rx.recv() {
                Ok(b) => self.cur = b,
                Err(_) => return Ok(0),
            }
        }
        let n = out.len().min(self.cur.len());
        out[..n].copy_from_slice(&self.cur[..n]);
        self.cur = self.cur.slice(n..);
        Ok(n)
    }
}

/// Extracts `r` under `root/dest`, each entry's parent resolved inside the
/// root so no symlink in the container leads outside it.
pub fn extract(root: &FsPath, dest: &FsPath, r: impl std::io::Read, no_overwrite: bool) -> std::io::Result<()> {
    let mut ar = tar::Archive::new(r);
    ar.set_preserve_permissions(true);
    ar.set_preserve_mtime(true);
    ar.set_overwrite(true);
    for entry in ar.entries()? {
        let mut entry = entry?;
        let name = entry.path()?.into_owned();
        if name.components().any(|c| matches!(c, Component::ParentDir)) {
            return Err(std::io::Error::other(format!("{}: path escapes the destination", name.display())));
        }
        let rel: PathBuf = name.components().filter(|c| matches!(c, Component::Normal(_))).collect();
        if rel.as_os_str().is_empty() {
            continue;
        }
        let container_path = FsPath::new("/").join(dest).join(&rel);
        let target = resolve_in_root(root, &container_path.to_string_lossy(), false)?;
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let kind = entry.header().entry_type();
        if no_overwrite
            && let Ok(existing) = std::fs::symlink_metadata(&target)
            && existing.is_dir() != kind.is_dir()
        {
            return Err(std::io::Error::other(format!(
                "cannot overwrite {} with a {}",
                container_path.display(),
                if kind.is_dir() { "directory" } else { "non-directory" }
            )));
        }
        if kind.is_hard_link() {
            let link = entry.link_name()?.ok_or_else(|| std::io::Error::other("hard link without a target"))?;
            let link_rel = FsPath::new("/").join(dest).join(link.as_ref());
            let src = resolve_in_root(root, &link_rel.to_string_lossy(), false)?;
            let _ = std::fs::remove_file(&target);
            std::fs::hard_link(src, &target)?;
            continue;
        }
        // Regular files, directories and symlinks: the parent is already
        // confined, and a symlink is stored as written (it is only ever
        // followed through `resolve_in_root`).
        if !kind.is_dir()
            && let Ok(m) = std::fs::symlink_metadata(&target)
            && !m.is_dir()
        {
            std::fs::remove_file(&target)?;
        }
        entry.unpack(&target)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symlinks_resolve_inside_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::write(root.join("etc/passwd"), "x").unwrap();
        std::os::unix::fs::symlink("/etc", root.join("abs")).unwrap();
        std::os::unix::fs::symlink("../../../../etc", root.join("up")).unwrap();
        std::os::unix::fs::symlink("loop", root.join("loop")).unwrap();
        assert_eq!(resolve_in_root(root, "/abs/passwd", false).unwrap(), root.join("etc/passwd"));
        assert_eq!(resolve_in_root(root, "/up/passwd", false).unwrap(), root.join("etc/passwd"));
        assert_eq!(resolve_in_root(root, "/../../etc", false).unwrap(), root.join("etc"));
        assert_eq!(resolve_in_root(root, "/abs", false).unwrap(), root.join("abs"));
        assert_eq!(resolve_in_root(root, "/abs", true).unwrap(), root.join("etc"));
        assert!(resolve_in_root(root, "/loop", true).is_err());
    }

    fn tar_of(entries: &[(&str, tar::EntryType, &str)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, kind, data) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(*kind);
            h.set_mode(0o644);
            if kind.is_symlink() || kind.is_hard_link() {
                h.set_size(0);
                b.append_link(&mut h, name, data).unwrap();
            } else {
                h.set_size(data.len() as u64);
                b.append_data(&mut h, name, data.as_bytes()).unwrap();
            }
        }
        b.into_inner().unwrap()
    }

    #[test]
    fn extraction_stays_inside_the_root() {
        let host = tempfile::tempdir().unwrap();
        let root = host.path().join("root");
        std::fs::create_dir_all(root.join("tmp")).unwrap();
        // The container made /tmp/out point at the host's directory.
        std::os::unix::fs::symlink(host.path(), root.join("tmp/out")).unwrap();
        let t = tar_of(&[("out/evil", tar::EntryType::Regular, "pwned"), ("ok.txt", tar::EntryType::Regular, "fine")]);
        extract(&root, FsPath::new("tmp"), &t[..], false).unwrap();
        assert!(!host.path().join("evil").exists(), "wrote through a container symlink");
        assert_eq!(
            std::fs::read_to_string(root.join(host.path().strip_prefix("/").unwrap()).join("evil")).unwrap(),
            "pwned"
        );
        assert_eq!(std::fs::read_to_string(root.join("tmp/ok.txt")).unwrap(), "fine");

        let t = tar_of(&[("link", tar::EntryType::Symlink, "/"), ("link/escape", tar::EntryType::Regular, "x")]);
        extract(&root, FsPath::new("tmp"), &t[..], false).unwrap();
        assert!(root.join("escape").exists(), "absolute link target is the container's root");

        let t = tar_of(&[("hl", tar::EntryType::Link, "/etc/passwd")]);
        assert!(extract(&root, FsPath::new("tmp"), &t[..], false).is_err(), "hard link to a missing in-root file");
    }

    #[test]
    fn dotdot_names_are_refused() {
        let host = tempfile::tempdir().unwrap();
        let mut raw = tar_of(&[("aaaaaaaa", tar::EntryType::Regular, "x")]);
        // Rewrite the name in place to "../evil" (the builder refuses it).
        raw[..8].copy_from_slice(b"../evil\0");
        let mut h = tar::Header::from_byte_slice(&raw[..512]).clone();
        h.set_cksum();
        raw[..512].copy_from_slice(h.as_bytes());
        let err = extract(host.path(), FsPath::new(""), &raw[..], false).unwrap_err();
        assert!(err.to_string().contains("escapes"), "{err}");
    }

    #[test]
    fn go_mode_marks_directories() {
        let d = tempfile::tempdir().unwrap();
        let m = std::fs::metadata(d.path()).unwrap();
        assert_ne!(go_mode(&m) & (1 << 31), 0);
    }
}
