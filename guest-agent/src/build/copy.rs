//! What a `COPY`/`ADD` step puts in its layer: the sources (globs as Go's
//! `filepath.Match`, heredocs, a local tar that `ADD` extracts) read from a
//! confined [`Root`] (the context, or a stage's or image's root), named
//! under the destination, owned and moded as `--chown`/`--chmod` say, and
//! the content hash the classic builder keys its cache with and writes in
//! the history (`COPY file:<sha256> in /dst `): entry names, types, modes,
//! owners, sizes, link targets and bytes, never mtimes.
//!
//! Owns those rules and the layer tar of the step. It must never open a
//! source path by name on the host (everything is read through the
//! [`Root`]), never let a source escape its root, and never fetch a URL.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use docker_vocab::patterns::{has_glob, matches};

use super::error::BuildError;
use super::instructions::clean;
use crate::confined::{Kind, Root};

/// One entry of the layer, named without a leading `/`.
pub struct Item {
    pub path: String,
    pub header: tar::Header,
    pub data: Vec<u8>,
    pub link: Option<PathBuf>,
    /// Extracted by ADD from an archive: keeps the archive's owner and mode.
    pub keep: bool,
}

/// A source as the step names it, expanded.
pub enum Source {
    Path(String),
    Heredoc(String),
}

#[derive(Clone, Copy, Debug, Default)]
pub struct CopyOptions {
    pub add: bool,
    pub chown: Option<(u32, u32)>,
    pub chmod: Option<u32>,
}

/// The step's entries and their hash (`file:…`, `dir:…` or `multi:…`).
pub struct Copied {
    pub items: Vec<Item>,
    pub hash: String,
}

fn cmd(add: bool) -> &'static str {
    if add { "ADD" } else { "COPY" }
}

/// The paths of `root` a glob names, sorted.
fn glob(root: &Root, pattern: &str) -> Vec<String> {
    let mut found = vec![String::new()];
    for comp in pattern.split('/').filter(|c| !c.is_empty() && *c != ".") {
        let mut next = Vec::new();
        for base in &found {
            if !has_glob(comp) {
                let p = if base.is_empty() { comp.to_string() } else { format!("{base}/{comp}") };
                if root.resolve_nofollow(Path::new(&p)).is_ok() {
                    next.push(p);
                }
                continue;
            }
            let Ok(dir) = root.dir(Path::new(if base.is_empty() { "/" } else { base })) else { continue };
            let mut names: Vec<String> =
                dir.entries().unwrap_or_default().into_iter().map(|n| n.to_string_lossy().into_owned()).collect();
            names.sort();
            for n in names.into_iter().filter(|n| matches(comp, n)) {
                next.push(if base.is_empty() { n } else { format!("{base}/{n}") });
            }
        }
        found = next;
    }
    found.into_iter().filter(|p| !p.is_empty()).collect()
}

/// A source path inside its root, or Docker's refusal of one outside.
fn inside(src: &str, add: bool) -> Result<String, BuildError> {
    let mut depth = 0i32;
    for c in src.split('/') {
        match c {
            "" | "." => {}
            ".." => depth -= 1,
            _ => depth += 1,
        }
        if depth < 0 {
            return Err(BuildError::Invalid(format!(
                "{} failed: forbidden path outside the build context: {src} ()",
                cmd(add)
            )));
        }
    }
    Ok(clean(src).trim_start_matches('/').to_string())
}

/// The entries of the sources, named under `dest` (absolute; a trailing
/// `/` or `dest_is_dir` makes it a directory).
pub fn collect(
    root: &Root,
    srcs: &[Source],
    dest: &str,
    dest_is_dir: bool,
    opts: CopyOptions,
) -> Result<Copied, BuildError> {
    let add = opts.add;
    let mut resolved: Vec<Result<String, String>> = Vec::new();
    for s in srcs {
        match s {
            Source::Heredoc(body) => resolved.push(Err(body.clone())),
            Source::Path(p) if p.starts_with("http://") || p.starts_with("https://") || p.starts_with("git@") => {
                return Err(BuildError::Invalid(if add {
                    format!("ADD failed: cannot fetch {p}: the build has no network to download sources from")
                } else {
                    "source can't be a URL for COPY".to_string()
                }));
            }
            Source::Path(p) if has_glob(p) => {
                let pattern = inside(p, add)?;
                resolved.extend(glob(root, &pattern).into_iter().map(Ok));
            }
            Source::Path(p) => resolved.push(Ok(inside(p, add)?)),
        }
    }
    if resolved.is_empty() {
        return Err(BuildError::Invalid(format!("{} failed: no source files were specified", cmd(add))));
    }
    let multi = resolved.len() > 1;
    let dir_dest = dest.ends_with('/') || dest_is_dir || multi;
    if multi && !dest.ends_with('/') && !dest_is_dir {
        return Err(BuildError::Invalid(format!(
            "When using {} with more than one source file, the destination must be a directory and end with a /",
            cmd(add)
        )));
    }
    let dest_rel = clean(dest).trim_start_matches('/').to_string();
    let under = |name: &str| if dest_rel.is_empty() { name.to_string() } else { format!("{dest_rel}/{name}") };
    let mut items = Vec::new();
    let mut kind = "file";
    for r in resolved {
        match r {
            Err(body) => {
                let path = if dir_dest { under("EOF") } else { dest_rel.clone() };
                let mut h = tar::Header::new_gnu();
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(0o644);
                h.set_mtime(0);
                items.push(Item { path, header: h, data: body.into_bytes(), link: None, keep: false });
            }
            Ok(src) => {
                let missing = || {
                    BuildError::Invalid(format!(
                        "{} failed: file not found in build context or excluded by .dockerignore: stat {src}: file does not exist",
                        cmd(add)
                    ))
                };
                let node = root.resolve(Path::new(&format!("/{src}"))).map_err(|_| missing())?;
                let st = node.stat().map_err(|_| missing())?;
                let mut buf = tar::Builder::new(Vec::new());
                crate::confined::append_node(node, Path::new("."), &mut buf)
                    .map_err(|e| BuildError::Invalid(format!("{} failed: {src}: {e}", cmd(add))))?;
                let tar = buf.into_inner().map_err(BuildError::io("reading a source"))?;
                if st.kind == Kind::Dir {
                    kind = "dir";
                    for mut it in read_tar(&tar)? {
                        if it.path.is_empty() {
                            continue; // the directory itself: its contents go into dest
                        }
                        place(&mut it, &under);
                        items.push(it);
                    }
                } else {
                    let base = src.rsplit('/').next().unwrap_or(&src).to_string();
                    let mut entries = read_tar(&tar)?;
                    let mut it = entries.pop().ok_or_else(missing)?;
                    if add
                        && st.kind == Kind::File
                        && let Some(extracted) = archive(&it.data)?
                    {
                        for mut e in extracted {
                            place(&mut e, &under);
                            items.push(e);
                        }
                        continue;
                    }
                    it.path = if dir_dest { under(&base) } else { dest_rel.clone() };
                    items.push(it);
                }
            }
        }
    }
    if multi {
        kind = "multi";
    }
    for it in items.iter_mut().filter(|i| !i.keep) {
        let (uid, gid) = opts.chown.unwrap_or((0, 0));
        it.header.set_uid(uid.into());
        it.header.set_gid(gid.into());
        if let Some(m) = opts.chmod
            && it.header.entry_type() != tar::EntryType::Symlink
        {
            it.header.set_mode(m);
        }
    }
    items.sort_by(|a, b| a.path.cmp(&b.path));
    let hash = format!("{kind}:{}", content_hash(&items));
    Ok(Copied { items, hash })
}

/// A local archive ADD extracts (tar, maybe gzip/bzip2/xz): its entries,
/// owners kept; `None` for a file that is no archive.
fn archive(data: &[u8]) -> Result<Option<Vec<Item>>, BuildError> {
    let plain: Vec<u8> = if data.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        if flate2::read::MultiGzDecoder::new(data).read_to_end(&mut out).is_err() {
            return Ok(None);
        }
        out
    } else if data.starts_with(b"BZh") {
        let mut out = Vec::new();
        if bzip2::read::MultiBzDecoder::new(data).read_to_end(&mut out).is_err() {
            return Ok(None);
        }
        out
    } else if data.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        let mut out = Vec::new();
        if lzma_rs::xz_decompress(&mut std::io::BufReader::new(data), &mut out).is_err() {
            return Ok(None);
        }
        out
    } else {
        data.to_vec()
    };
    if plain.len() < 512 || &plain[257..262] != b"ustar" {
        return Ok(None);
    }
    let items = read_tar(&plain)?;
    if items.iter().any(|i| i.path.split('/').any(|c| c == "..")) {
        return Err(BuildError::Invalid("ADD failed: the archive has an entry outside its destination".into()));
    }
    // ADD keeps an archive's owners and modes.
    Ok(Some(items.into_iter().filter(|i| !i.path.is_empty()).map(|i| Item { keep: true, ..i }).collect()))
}

fn read_tar(tar: &[u8]) -> Result<Vec<Item>, BuildError> {
    let mut a = tar::Archive::new(tar);
    let bad = |e: std::io::Error| BuildError::Invalid(format!("reading a source: {e}"));
    let mut out = Vec::new();
    for e in a.entries().map_err(bad)? {
        let mut e = e.map_err(bad)?;
        let name = e.path().map_err(bad)?.to_string_lossy().into_owned();
        let path = clean(&name).trim_start_matches('/').to_string();
        let link = e.link_name().map_err(bad)?.map(|l| l.into_owned());
        // A fresh header of the fields that count (an archive ADD reads
        // may have fields a layer must not carry over).
        let src = e.header();
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(src.entry_type());
        header.set_mode(src.mode().unwrap_or(0o644) & 0o7777);
        header.set_uid(src.uid().unwrap_or(0));
        header.set_gid(src.gid().unwrap_or(0));
        header.set_mtime(src.mtime().unwrap_or(0));
        if let (Ok(Some(ma)), Ok(Some(mi))) = (src.device_major(), src.device_minor()) {
            let _ = header.set_device_major(ma);
            let _ = header.set_device_minor(mi);
        }
        let mut data = Vec::new();
        e.read_to_end(&mut data).map_err(bad)?;
        out.push(Item { path, header, data, link, keep: false });
    }
    Ok(out)
}

fn content_hash(items: &[Item]) -> String {
    let mut h = Sha256::new();
    for it in items {
        let hd = &it.header;
        let link = it.link.as_ref().map(|l| l.to_string_lossy().into_owned()).unwrap_or_default();
        let line = format!(
            "{}\0{:?}\0{:o}\0{}\0{}\0{}\0{link}\0",
            it.path,
            hd.entry_type(),
            hd.mode().unwrap_or(0),
            hd.uid().unwrap_or(0),
            hd.gid().unwrap_or(0),
            it.data.len()
        );
        h.update(line.as_bytes());
        h.update(&it.data);
    }
    hex::encode(h.finalize())
}

/// Moves an item of a directory or an archive under the destination: its
/// path, and for a hard link its target, which names another entry of the
/// same source (so it moves with it).
fn place(it: &mut Item, under: &impl Fn(&str) -> String) {
    it.path = under(&it.path);
    if it.header.entry_type() == tar::EntryType::Link
        && let Some(target) = &it.link
    {
        let rel = clean(&target.to_string_lossy()).trim_start_matches('/').to_string();
        it.link = Some(PathBuf::from(under(&rel)));
    }
}

/// The directories above the items that are not items themselves
/// (shallowest first), which the layer must hold too.
pub fn parents(items: &[Item]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for it in items {
        let mut p = it.path.as_str();
        while let Some((up, _)) = p.rsplit_once('/') {
            if !out.iter().any(|o| o == up) && !items.iter().any(|i| i.path == up) {
                out.push(up.to_string());
            }
            p = up;
        }
    }
    out.sort();
    out
}

/// Writes the layer: `dirs` (a header each) first, then the items.
pub fn write_layer(dirs: Vec<(String, tar::Header)>, items: &[Item], out: impl Write) -> std::io::Result<()> {
    let mut b = tar::Builder::new(out);
    for (path, mut h) in dirs {
        h.set_entry_type(tar::EntryType::Directory);
        h.set_size(0);
        b.append_data(&mut h, format!("{path}/"), std::io::empty())?;
    }
    // Hard links last: an extractor needs each one's target written first,
    // and sorted by name a link may come before it.
    let is_hard = |it: &&Item| it.header.entry_type() == tar::EntryType::Link;
    for it in items.iter().filter(|i| !is_hard(i)).chain(items.iter().filter(is_hard)) {
        let mut h = it.header.clone();
        match (h.entry_type(), &it.link) {
            (tar::EntryType::Symlink | tar::EntryType::Link, Some(link)) => {
                // A hard link's target is already the entry's layer path (`place`).
                h.set_size(0);
                b.append_link(&mut h, &it.path, link)?;
            }
            (tar::EntryType::Directory, _) => {
                h.set_size(0);
                b.append_data(&mut h, format!("{}/", it.path), std::io::empty())?;
            }
            _ => {
                h.set_size(it.data.len() as u64);
                b.append_data(&mut h, &it.path, &it.data[..])?;
            }
        }
    }
    b.into_inner()?.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> (tempfile::TempDir, Root) {
        let t = tempfile::tempdir().unwrap();
        let p = t.path();
        std::fs::create_dir_all(p.join("src/sub")).unwrap();
        std::fs::write(p.join("a.txt"), "a").unwrap();
        std::fs::write(p.join("b.txt"), "b").unwrap();
        std::fs::write(p.join("src/sub/c"), "c").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", p.join("out")).unwrap();
        let root = Root::open(p).unwrap();
        (t, root)
    }

    fn names(c: &Copied) -> Vec<String> {
        c.items.iter().map(|i| i.path.clone()).collect()
    }

    #[test]
    fn sources_land_under_the_destination() {
        let (_t, root) = ctx();
        let one = collect(&root, &[Source::Path("a.txt".into())], "/x/y", false, CopyOptions::default()).unwrap();
        assert_eq!(names(&one), ["x/y"]);
        assert!(one.hash.starts_with("file:"));
        let glob = collect(&root, &[Source::Path("*.txt".into())], "/d/", false, CopyOptions::default()).unwrap();
        assert_eq!(names(&glob), ["d/a.txt", "d/b.txt"]);
        assert!(glob.hash.starts_with("multi:"));
        let dir = collect(&root, &[Source::Path("./src".into())], "/app", false, CopyOptions::default()).unwrap();
        assert_eq!(names(&dir), ["app/sub", "app/sub/c"]);
        assert!(dir.hash.starts_with("dir:"));
        assert_eq!(parents(&dir.items), ["app"]);
        let opts = CopyOptions { chown: Some((1000, 1001)), chmod: Some(0o750), ..Default::default() };
        let owned = collect(&root, &[Source::Path("a.txt".into())], "/a", false, opts).unwrap();
        let h = &owned.items[0].header;
        assert_eq!((h.uid().unwrap(), h.gid().unwrap(), h.mode().unwrap()), (1000, 1001, 0o750));
        assert_ne!(owned.hash, one.hash, "owners and modes are part of the hash");
    }

    #[test]
    fn hard_links_of_a_copied_directory_point_at_their_target_under_the_destination() {
        // Debian's tree has them (perl, gzip): a link sorted before its
        // target, and a target whose name is no suffix of the link's.
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(t.path().join("tree/usr/bin")).unwrap();
        std::fs::write(t.path().join("tree/usr/bin/zz"), "same").unwrap();
        std::fs::hard_link(t.path().join("tree/usr/bin/zz"), t.path().join("tree/usr/bin/aa")).unwrap();
        let root = Root::open(t.path()).unwrap();
        let c = collect(&root, &[Source::Path("tree".into())], "/opt/tree", false, CopyOptions::default()).unwrap();
        let mut out = Vec::new();
        write_layer(parents(&c.items).into_iter().map(|d| (d, tar::Header::new_gnu())).collect(), &c.items, &mut out)
            .unwrap();
        let mut seen = Vec::new();
        for e in tar::Archive::new(&out[..]).entries().unwrap() {
            let e = e.unwrap();
            let path = e.path().unwrap().to_string_lossy().trim_end_matches('/').to_string();
            if e.header().entry_type() == tar::EntryType::Link {
                let target = e.link_name().unwrap().unwrap().to_string_lossy().into_owned();
                assert!(seen.contains(&target), "{path} links to {target}, not written before it: {seen:?}");
                assert!(target.starts_with("opt/tree/usr/bin/"), "{target}");
            }
            seen.push(path);
        }
        assert_eq!(seen.len(), 6, "{seen:?}");
    }

    #[test]
    fn the_hash_ignores_mtimes_but_not_bytes() {
        let (t, root) = ctx();
        let src = [Source::Path("a.txt".into())];
        let before = collect(&root, &src, "/a", false, CopyOptions::default()).unwrap().hash;
        let f = std::fs::File::options().write(true).open(t.path().join("a.txt")).unwrap();
        f.set_modified(std::time::SystemTime::UNIX_EPOCH).unwrap();
        assert_eq!(collect(&root, &src, "/a", false, CopyOptions::default()).unwrap().hash, before);
        std::fs::write(t.path().join("a.txt"), "A").unwrap();
        assert_ne!(collect(&root, &src, "/a", false, CopyOptions::default()).unwrap().hash, before);
    }

    #[test]
    fn bad_sources_are_refused() {
        let (_t, root) = ctx();
        let err = |src: &str, dest: &str| {
            collect(&root, &[Source::Path(src.into())], dest, false, CopyOptions::default()).err().unwrap().to_string()
        };
        assert!(err("../x", "/").contains("forbidden path outside the build context"));
        assert!(err("nope", "/").contains("file not found in build context"));
        assert!(err("out", "/").contains("file not found"), "a symlink out resolves inside the context");
        assert!(err("*.txt", "/nodir").contains("must be a directory and end with a /"));
        assert!(err("https://example.invalid/x", "/").contains("source can't be a URL"));
    }
}
