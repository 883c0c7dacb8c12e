//! `docker cp` and `docker export` as the engine serves them: a path of a
//! container's root filesystem stated, archived as a tar, or extracted into,
//! and the whole root exported.
//!
//! Owns finding the container's mounted root (its shim's, or a fresh shim's
//! for a container whose shim is gone; a bind's or volume's directory for a
//! path one of them covers) and running the confined work on a
//! blocking thread with the bytes carried over bounded channels. Every path
//! inside the container is touched by `crate::confined` (opened once as a
//! `Root`, then file descriptors); this file must never resolve, stat, read
//! or write one itself, nor speak HTTP.

use std::io::Write;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use tokio::sync::mpsc;

use super::{Engine, EngineError};
use crate::confined::{self, ConfinedError, ExtractOptions, Node, PathStat, Root};

/// A path of a container, resolved once: its `X-Docker-Container-Path-Stat`
/// header value and, for a GET, the tar of it.
pub struct PathArchive {
    pub stat_header: String,
    node: Node,
    name: PathBuf,
}

impl PathArchive {
    /// The tar of the path as a stream of chunks (written on a blocking
    /// thread; ends early, with a warning in the log, if the tree changes
    /// under it in a way the confined walk refuses).
    pub fn into_tar(self) -> mpsc::Receiver<Bytes> {
        let PathArchive { node, name, .. } = self;
        tar_stream(move |b| confined::append_node(node, &name, b))
    }
}

fn not_found(id: &str, path: &str) -> EngineError {
    EngineError::not_found(format!("Could not find the file {path} in container {id}"))
}

fn internal(e: impl std::fmt::Display) -> EngineError {
    EngineError::Refused { kind: crate::error_kind::ErrorKind::Internal, message: e.to_string() }
}

/// A container path as `cp` reaches it: the root it lies in (the
/// container's, or the directory of a bind or volume that covers it), the
/// path inside that root, and whether that root is mounted read-only.
struct Located {
    root: Root,
    id: String,
    path: String,
    readonly: bool,
}

impl Engine {
    /// The container's mounted root, opened as a confined [`Root`].
    async fn open_container_root(&self, key: &str) -> Result<(Root, String), EngineError> {
        let (rootfs, id) = self.container_rootfs(key).await?;
        let root = Root::open(&rootfs).map_err(internal)?;
        Ok((root, id))
    }

    /// Where `path` of the container lies: inside a bind or volume mounted
    /// over it (the mounts are the container's, not in the engine's view of
    /// its root), else in its root filesystem. A trailing `/.` is kept.
    async fn locate(&self, key: &str, path: &str) -> Result<Located, EngineError> {
        match self.mount_covering(key, path)? {
            Some((source, rest, readonly)) => {
                let id = self.container(key)?.id.clone();
                let root = Root::open(&source).map_err(internal)?;
                let mut inner = rest.display().to_string();
                if path.ends_with("/.") {
                    inner = format!("{}/.", inner.trim_end_matches('/'));
                }
                Ok(Located { root, id, path: inner, readonly })
            }
            None => {
                let (root, id) = self.open_container_root(key).await?;
                Ok(Located { root, id, path: path.to_string(), readonly: false })
            }
        }
    }

    /// `HEAD`/`GET /containers/{id}/archive?path=`: the path resolved once,
    /// for the header and the archive alike. Entries are named after the
    /// last component the client gave (`.` for `dir/.`, which copies the
    /// contents).
    pub async fn container_path(&self, key: &str, path: &str) -> Result<PathArchive, EngineError> {
        if path.is_empty() {
            return Err(EngineError::invalid("path is required"));
        }
        let Located { root, id, path: inner, .. } = self.locate(key, path).await?;
        let node = root.resolve_nofollow(Path::new(&inner)).map_err(|_| not_found(&id, path))?;
        let stat = PathStat::of(&root, Path::new(&inner), &node).map_err(|_| not_found(&id, path))?;
        let name = if path.ends_with("/.") {
            PathBuf::from(".")
        } else {
            Path::new(path).file_name().map_or_else(|| PathBuf::from("."), PathBuf::from)
        };
        Ok(PathArchive { stat_header: stat.header(), node, name })
    }

    /// `GET /containers/{id}/export`: the whole root filesystem as a tar.
    pub async fn export_container(&self, key: &str) -> Result<mpsc::Receiver<Bytes>, EngineError> {
        let (root, _) = self.open_container_root(key).await?;
        Ok(tar_stream(move |b| confined::append_root(&root, b)))
    }

    /// `PUT /containers/{id}/archive?path=&noOverwriteDirNonDir=`: extracts
    /// the tar that `chunks` carries into a directory of the container.
    pub async fn extract_into_container(
        &self,
        key: &str,
        path: &str,
        no_overwrite_dir_non_dir: bool,
        chunks: mpsc::Receiver<Result<Bytes, String>>,
    ) -> Result<(), EngineError> {
        if path.is_empty() {
            return Err(EngineError::invalid("path is required"));
        }
        let Located { root, id, path: inner, readonly } = self.locate(key, path).await?;
        if readonly {
            return Err(EngineError::Refused {
                kind: crate::error_kind::ErrorKind::Forbidden,
                message: "mounted volume is marked read-only".into(),
            });
        }
        match root.dir(Path::new(&inner)) {
            Ok(_) => {}
            Err(e) if e.errno() == Some(libc::ENOTDIR) => {
                return Err(EngineError::invalid(format!("extraction point is not a directory: {path}")));
            }
            Err(_) => return Err(not_found(&id, path)),
        }
        // The blocking extractor reads the chunks straight off the bounded
        // channel the body is fed into.
        let dest = PathBuf::from(&inner);
        let opts = ExtractOptions { no_overwrite_dir_non_dir, ..Default::default() };
        let reader = ChannelReader { rx: chunks, cur: Bytes::new() };
        let extracted = tokio::task::spawn_blocking(move || confined::extract(&root, &dest, reader, opts))
            .await
            .map_err(internal)?;
        extracted.map_err(|e| EngineError::invalid(format!("extracting the archive into {path}: {e}")))
    }
}

/// A tar written by a blocking task, as chunks of about 64 KiB.
fn tar_stream(
    build: impl FnOnce(&mut tar::Builder<ChannelWriter>) -> Result<(), ConfinedError> + Send + 'static,
) -> mpsc::Receiver<Bytes> {
    let (tx, rx) = mpsc::channel::<Bytes>(16);
    tokio::task::spawn_blocking(move || {
        let mut b = tar::Builder::new(ChannelWriter { tx, buf: Vec::new() });
        b.follow_symlinks(false);
        let r = build(&mut b).map_err(std::io::Error::from).and_then(|()| b.finish());
        if let Err(e) = r {
            tracing::warn!(error = %e, "writing a container archive");
        }
        if let Ok(mut w) = b.into_inner() {
            let _ = w.flush();
        }
    });
    rx
}

struct ChannelWriter {
    tx: mpsc::Sender<Bytes>,
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

/// The request body as a blocking reader (a read error of the body is an
/// I/O error of the archive: the extraction fails, nothing half-read counts).
struct ChannelReader {
    rx: mpsc::Receiver<Result<Bytes, String>>,
    cur: Bytes,
}

impl std::io::Read for ChannelReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.cur.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(b)) => self.cur = b,
                Some(Err(e)) => return Err(std::io::Error::other(format!("reading the archive: {e}"))),
                None => return Ok(0),
            }
        }
        let n = out.len().min(self.cur.len());
        out[..n].copy_from_slice(&self.cur[..n]);
        self.cur = self.cur.slice(n..);
        Ok(n)
    }
}
