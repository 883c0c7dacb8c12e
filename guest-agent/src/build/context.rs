//! The build context as `POST /build` receives it: a tar (plain, gzip,
//! bzip2 or xz), or a lone Dockerfile as the body (`docker build - <
//! Dockerfile`), made into a directory of the engine's that every later
//! step reads through a confined [`Root`].
//!
//! Owns the detection of the format, the checks of every entry as it is
//! extracted (a name with `..`, an absolute name, a hard link out of the
//! context: a clear error, and nothing of the context left), the
//! extraction through `crate::confined` in one pass over the body (no
//! staged copy: a rebuild's context is most of its time), and finding the
//! Dockerfile. It must never
//! open a path of the context by name on the host; the directory goes
//! with the [`Context`] when it is dropped.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use super::error::BuildError;
use crate::confined::{ConfinedError, ExtractOptions, Root};

/// A received context: its directory (removed on drop) and its root.
pub struct Context {
    dir: PathBuf,
    pub root: Root,
    /// The body was a Dockerfile, not an archive: the context is empty.
    pub lone_dockerfile: Option<String>,
}

impl Drop for Context {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.dir) {
            tracing::warn!(dir = %self.dir.display(), error = %e, "removing a build context");
        }
    }
}

/// How the body is compressed, from its first bytes.
fn decompress<'r>(r: impl BufRead + Send + 'r) -> Result<Box<dyn Read + Send + 'r>, BuildError> {
    let mut r = r;
    let head = r.fill_buf().map_err(BuildError::io("reading the build context"))?.to_vec();
    Ok(if head.starts_with(&[0x1f, 0x8b]) {
        Box::new(flate2::bufread::MultiGzDecoder::new(r))
    } else if head.starts_with(b"BZh") {
        Box::new(bzip2::bufread::MultiBzDecoder::new(r))
    } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        let mut out = Vec::new();
        lzma_rs::xz_decompress(&mut BufReader::new(r), &mut out)
            .map_err(|e| BuildError::Context(format!("reading the xz build context: {e}")))?;
        Box::new(std::io::Cursor::new(out))
    } else {
        Box::new(r)
    })
}

/// A tar header block: `ustar` magic, or a valid checksum (v7 tars).
fn is_tar(block: &[u8]) -> bool {
    if block.len() < 512 {
        return false;
    }
    if &block[257..262] == b"ustar" {
        return true;
    }
    let stored = std::str::from_utf8(&block[148..156]).ok().map(|s| s.trim_matches(|c: char| c == '\0' || c == ' '));
    let Some(Ok(stored)) = stored.map(|s| u32::from_str_radix(s, 8)) else { return false };
    let sum: u32 =
        block.iter().enumerate().map(|(i, b)| if (148..156).contains(&i) { 32 } else { u32::from(*b) }).sum();
    sum == stored
}

/// Longest lone Dockerfile body read into memory.
const MAX_LONE_DOCKERFILE: u64 = 16 << 20;

/// The docker CLI's tar of a context with a Dockerfile from elsewhere
/// ends without the last entry's padding or the end blocks: this reader
/// adds them after the body's last byte.
struct Padded<R> {
    inner: R,
    read: u64,
    /// Zeros still to give once `inner` has ended; `None` before that.
    tail: Option<u64>,
}

impl<R: Read> Read for Padded<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.tail.is_none() {
            let n = self.inner.read(buf)?;
            if n > 0 || buf.is_empty() {
                self.read += n as u64;
                return Ok(n);
            }
            self.tail = Some((512 - self.read % 512) % 512 + 1024);
        }
        let left = self.tail.as_mut().expect("set above");
        let n = usize::try_from(*left).unwrap_or(usize::MAX).min(buf.len());
        buf[..n].fill(0);
        *left -= n as u64;
        Ok(n)
    }
}

/// Reads the body into `dir` (which must not exist yet), in one pass:
/// each entry is checked as it arrives and written through the confined
/// extractor. A refused entry ends the receive with an error, and the
/// [`Context`] dropped with it removes whatever was written before.
pub fn receive(body: impl Read + Send, dir: &Path) -> Result<Context, BuildError> {
    std::fs::create_dir_all(dir.join("ctx")).map_err(BuildError::io("creating the build context directory"))?;
    let root = Root::open(&dir.join("ctx")).map_err(|e| BuildError::Context(e.to_string()))?;
    let mut ctx = Context { dir: dir.to_path_buf(), root, lone_dockerfile: None };
    let mut r = decompress(BufReader::new(body))?;
    let mut head = Vec::with_capacity(512);
    (&mut r)
        .take(512)
        .read_to_end(&mut head)
        .map_err(|e| BuildError::Context(format!("reading the build context: {e}")))?;
    if !is_tar(&head) {
        let mut text = head;
        r.take(MAX_LONE_DOCKERFILE)
            .read_to_end(&mut text)
            .map_err(|e| BuildError::Context(format!("reading the build context: {e}")))?;
        if text.len() as u64 >= MAX_LONE_DOCKERFILE {
            return Err(BuildError::Context(format!(
                "the build context is no archive, and too long for a Dockerfile (more than {} MiB)",
                MAX_LONE_DOCKERFILE >> 20
            )));
        }
        ctx.lone_dockerfile = Some(String::from_utf8_lossy(&text).into_owned());
        return Ok(ctx);
    }
    let tar = Padded { inner: std::io::Cursor::new(head).chain(r), read: 0, tail: None };
    let opts = ExtractOptions { refuse_absolute: true, ..Default::default() };
    crate::confined::extract(&ctx.root, Path::new("/"), BufReader::with_capacity(1 << 16, tar), opts).map_err(|e| {
        match e {
            ConfinedError::Escapes { path } => {
                BuildError::Context(format!("invalid build context: {path:?} points outside the context"))
            }
            e => BuildError::Context(format!("extracting the build context: {e}")),
        }
    })?;
    Ok(ctx)
}

impl Context {
    /// The Dockerfile's text: the lone body, or `name` in the context.
    pub fn dockerfile(&self, name: &str) -> Result<String, BuildError> {
        if let Some(text) = &self.lone_dockerfile {
            return Ok(text.clone());
        }
        let missing = || BuildError::Invalid(format!("Cannot locate specified Dockerfile: {name}"));
        let node = self.root.resolve(Path::new(name)).map_err(|_| missing())?;
        let mut text = String::new();
        node.open_read().and_then(|mut f| f.read_to_string(&mut text)).map_err(|_| missing())?;
        Ok(text)
    }

    /// moby's `removeDockerfile`: when the context has a `.dockerignore`,
    /// it and the Dockerfile leave the context if its patterns exclude
    /// them. A client that sends a Dockerfile from outside the context
    /// (the docker CLI's `-f`, docker-py's `dockerfile=`) adds it under a
    /// random name and lists that name there, so it never reaches the
    /// image; a client that applied `.dockerignore` itself still sent both.
    pub fn drop_ignored(&self, dockerfile: &str) -> Result<(), BuildError> {
        if self.lone_dockerfile.is_some() {
            return Ok(());
        }
        let Ok(node) = self.root.resolve(Path::new(".dockerignore")) else { return Ok(()) };
        let mut text = String::new();
        node.open_read()
            .and_then(|mut f| f.read_to_string(&mut text))
            .map_err(BuildError::io("reading the context's .dockerignore"))?;
        let ignore = docker_vocab::patterns::DockerIgnore::parse(&text);
        for name in [".dockerignore", dockerfile] {
            if !ignore.excludes(name) {
                continue;
            }
            let (dir, last) = match self.root.parent(&Path::new("/").join(name), false) {
                Ok(p) => p,
                Err(e) if e.is_not_found() => continue,
                Err(e) => return Err(BuildError::Context(e.to_string())),
            };
            dir.remove_all(&last).map_err(BuildError::io("removing an ignored file from the build context"))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn tar_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, data) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_mode(0o644);
            h.set_size(data.len() as u64);
            b.append_data(&mut h, name, *data).unwrap();
        }
        b.into_inner().unwrap()
    }

    /// A tar whose entry name is written raw (the tar crate refuses `..`).
    fn raw_tar(name: &str) -> Vec<u8> {
        let mut h = tar::Header::new_old();
        h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        h.set_mode(0o644);
        h.set_size(0);
        h.set_cksum();
        let mut out = h.as_bytes().to_vec();
        out.extend_from_slice(&[0u8; 1024]);
        out
    }

    #[test]
    fn plain_and_compressed_tars_and_a_lone_dockerfile() {
        let t = tempfile::tempdir().unwrap();
        let tar = tar_of(&[("Dockerfile", b"FROM busybox\n"), ("a/b", b"x")]);
        let ctx = receive(&tar[..], &t.path().join("1")).unwrap();
        assert_eq!(ctx.dockerfile("Dockerfile").unwrap(), "FROM busybox\n");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&tar).unwrap();
        let ctx = receive(&gz.finish().unwrap()[..], &t.path().join("2")).unwrap();
        assert!(ctx.root.resolve(Path::new("a/b")).is_ok());
        let mut bz = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
        bz.write_all(&tar).unwrap();
        let ctx = receive(&bz.finish().unwrap()[..], &t.path().join("3")).unwrap();
        assert!(ctx.lone_dockerfile.is_none());
        let mut xz = Vec::new();
        lzma_rs::xz_compress(&mut &tar[..], &mut xz).unwrap();
        let ctx = receive(&xz[..], &t.path().join("4")).unwrap();
        assert_eq!(ctx.dockerfile("Dockerfile").unwrap(), "FROM busybox\n");
        let lone = receive(&b"FROM busybox\nRUN true\n"[..], &t.path().join("5")).unwrap();
        assert_eq!(lone.dockerfile("ignored").unwrap(), "FROM busybox\nRUN true\n");
        let dir = t.path().join("5");
        drop(lone);
        assert!(!dir.exists(), "the context goes with its value");
        // The CLI's tar with a Dockerfile from elsewhere: no padding, no end.
        let cut = tar_of(&[("a", b"x"), ("Dockerfile.x", b"FROM busybox\n")]);
        let cut = &cut[..512 * 3 + 13];
        let ctx = receive(cut, &t.path().join("7")).unwrap();
        assert_eq!(ctx.dockerfile("Dockerfile.x").unwrap(), "FROM busybox\n");
        let e = receive(&tar[..], &t.path().join("6")).unwrap().dockerfile("Nope").unwrap_err();
        assert_eq!(e.to_string(), "Cannot locate specified Dockerfile: Nope");
    }

    #[test]
    fn an_ignored_dockerfile_and_dockerignore_leave_the_context() {
        let t = tempfile::tempdir().unwrap();
        let tar = tar_of(&[
            (".dockerignore", b".dockerignore\n.dockerfile.1a2b\n"),
            (".dockerfile.1a2b", b"FROM busybox\n"),
            ("file.txt", b"hello"),
        ]);
        let ctx = receive(&tar[..], &t.path().join("1")).unwrap();
        assert_eq!(ctx.dockerfile(".dockerfile.1a2b").unwrap(), "FROM busybox\n");
        ctx.drop_ignored(".dockerfile.1a2b").unwrap();
        for gone in [".dockerignore", ".dockerfile.1a2b"] {
            assert!(ctx.root.resolve(Path::new(gone)).is_err(), "{gone} stays");
        }
        assert!(ctx.root.resolve(Path::new("file.txt")).is_ok());
        // Not listed: both stay, as in Docker.
        let tar = tar_of(&[(".dockerignore", b"*.log\n"), ("Dockerfile", b"FROM busybox\n")]);
        let ctx = receive(&tar[..], &t.path().join("2")).unwrap();
        ctx.drop_ignored("Dockerfile").unwrap();
        assert!(
            ctx.root.resolve(Path::new("Dockerfile")).is_ok() && ctx.root.resolve(Path::new(".dockerignore")).is_ok()
        );
    }

    #[test]
    fn hostile_entries_are_refused_and_nothing_is_left() {
        let t = tempfile::tempdir().unwrap();
        for name in ["../escape", "/etc/abs", "a/../../b"] {
            let e = receive(&raw_tar(name)[..], &t.path().join("x")).err().expect(name);
            assert!(e.to_string().contains("points outside the context"), "{name}: {e}");
            assert!(!t.path().join("x").exists(), "nothing is left of a refused context");
        }
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Link);
        h.set_mode(0o644);
        h.set_size(0);
        b.append_link(&mut h, "ln", "../../etc/passwd").unwrap();
        let e = receive(&b.into_inner().unwrap()[..], &t.path().join("y")).err().unwrap();
        assert!(e.to_string().contains("\"../../etc/passwd\" points outside the context"), "{e}");
        assert!(!t.path().join("y").exists(), "nothing is left of a refused context");
        // An absolute target too, after an entry that was written.
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_size(1);
        b.append_data(&mut h, "first", &b"x"[..]).unwrap();
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Link);
        h.set_mode(0o644);
        h.set_size(0);
        b.append_link(&mut h, "ln", "/etc/passwd").unwrap();
        let e = receive(&b.into_inner().unwrap()[..], &t.path().join("z")).err().unwrap();
        assert!(e.to_string().contains("\"/etc/passwd\" points outside the context"), "{e}");
        assert!(!t.path().join("z").exists(), "nothing is left of a refused context");
    }
}
