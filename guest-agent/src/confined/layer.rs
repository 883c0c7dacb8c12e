//! `docker commit`: chosen entries of a container's overlayfs upper
//! directory written as an image layer tar, with overlayfs's deletions in
//! the form layers carry them (moby's overlay whiteout converter): a
//! whiteout (a 0/0 character device) becomes an empty `.wh.<name>` file,
//! an opaque directory its entry plus an empty `.wh..wh..opq` inside.
//!
//! Owns that conversion and the reading of each entry through the upper
//! dir opened as a [`Root`]: every path is resolved inside it without
//! following its last component, and what is archived is what the
//! descriptor holds. It must never open a path string, nor decide which
//! entries belong in the layer (the caller's change list does).

use std::io::Write;
use std::path::Path;

use super::error::ConfinedError;
use super::node::{Kind, Stat};
use super::pack::{self, Links};
use super::root::Root;

/// One entry of the layer, by its absolute path in the container.
#[derive(Clone, Copy, Debug)]
pub enum LayerEntry<'a> {
    /// The entry as the upper dir holds it (a directory without its
    /// children: they come as entries of their own).
    Present(&'a str),
    /// Gone: a whiteout, or an opaque directory, in the upper dir.
    Deleted(&'a str),
}

const WHITEOUT_PREFIX: &str = ".wh.";
const WHITEOUT_OPAQUE: &str = ".wh..wh..opq";

/// Appends `entries`, in order (a directory before what is in it), read
/// from `upper`. An entry gone since the list was made is skipped.
pub fn append_layer<'a, W: Write>(
    upper: &Root,
    entries: impl IntoIterator<Item = LayerEntry<'a>>,
    b: &mut tar::Builder<W>,
) -> Result<(), ConfinedError> {
    let mut links = Links::new();
    for entry in entries {
        let path = match entry {
            LayerEntry::Present(p) | LayerEntry::Deleted(p) => p,
        };
        let name = Path::new(path.trim_start_matches('/'));
        if name.as_os_str().is_empty() {
            continue;
        }
        let node = match upper.resolve_nofollow(Path::new(path)) {
            Ok(n) => n,
            Err(e) if e.is_not_found() => {
                tracing::debug!(path, "changed entry gone before the commit read it; skipped");
                continue;
            }
            Err(e) => return Err(e),
        };
        let io = ConfinedError::io("archive", name);
        let st = node.stat().map_err(ConfinedError::io("stat", name))?;
        match (entry, st.kind) {
            (LayerEntry::Deleted(_), Kind::Dir) => {
                let mut h = pack::header(&st, tar::EntryType::Directory);
                b.append_data(&mut h, name, std::io::empty()).map_err(io)?;
                let mut wo = marker(&st, st.perm & 0o777);
                b.append_data(&mut wo, name.join(WHITEOUT_OPAQUE), std::io::empty())
                    .map_err(ConfinedError::io("archive", name))?;
            }
            (LayerEntry::Deleted(_), _) => {
                let file = name.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
                let wh = name.with_file_name(format!("{WHITEOUT_PREFIX}{file}"));
                b.append_data(&mut marker(&st, 0o600), wh, std::io::empty()).map_err(io)?;
            }
            (LayerEntry::Present(_), Kind::Dir) => {
                let mut h = pack::header(&st, tar::EntryType::Directory);
                b.append_data(&mut h, name, std::io::empty()).map_err(io)?;
            }
            (LayerEntry::Present(_), Kind::File) => {
                if st.nlink > 1 {
                    if let Some(first) = links.get(&(st.dev, st.ino)) {
                        let mut h = pack::header(&st, tar::EntryType::Link);
                        b.append_link(&mut h, name, first).map_err(io)?;
                        continue;
                    }
                    links.insert((st.dev, st.ino), name.to_path_buf());
                }
                let f = node.open_read().map_err(ConfinedError::io("open", name))?;
                pack::append_file(b, f, name, &st).map_err(io)?;
            }
            (LayerEntry::Present(_), _) => pack::append_special(b, &node, name, &st).map_err(io)?,
        }
    }
    Ok(())
}

/// An empty regular file that marks a deletion, owned as the entry was.
fn marker(st: &Stat, mode: u32) -> tar::Header {
    let mut h = pack::header(st, tar::EntryType::Regular);
    h.set_mode(mode);
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Entry names, types and sizes of a tar.
    fn listing(tar: &[u8]) -> Vec<(String, tar::EntryType, u64)> {
        let mut a = tar::Archive::new(tar);
        a.entries()
            .expect("entries")
            .map(|e| {
                let e = e.expect("entry");
                let name = e.path().expect("path").display().to_string();
                (name.trim_end_matches('/').to_string(), e.header().entry_type(), e.size())
            })
            .collect()
    }

    #[test]
    fn whiteouts_and_opaque_directories_take_the_layer_form() {
        let t = tempfile::tempdir().expect("tempdir");
        let u = t.path();
        std::fs::create_dir_all(u.join("etc")).expect("etc");
        std::fs::write(u.join("etc/new"), "abc").expect("file");
        std::fs::hard_link(u.join("etc/new"), u.join("etc/again")).expect("link");
        std::os::unix::fs::symlink("/etc/new", u.join("etc/ln")).expect("symlink");
        nix::sys::stat::mknod(&u.join("etc/gone"), nix::sys::stat::SFlag::S_IFCHR, nix::sys::stat::Mode::empty(), 0)
            .expect("whiteout (needs root)");
        std::fs::create_dir(u.join("var")).expect("var");
        super::super::node::set_xattr(
            std::os::fd::AsFd::as_fd(&super::super::dir::Dir::open_own(&u.join("var")).expect("var")),
            "trusted.overlay.opaque",
            b"y",
        )
        .expect("opaque (needs root)");
        let root = Root::open(u).expect("root");
        let entries = [
            LayerEntry::Present("/etc"),
            LayerEntry::Present("/etc/again"),
            LayerEntry::Deleted("/etc/gone"),
            LayerEntry::Present("/etc/ln"),
            LayerEntry::Present("/etc/new"),
            LayerEntry::Present("/etc/vanished"),
            LayerEntry::Deleted("/var"),
        ];
        let mut b = tar::Builder::new(Vec::new());
        append_layer(&root, entries, &mut b).expect("layer");
        let got = listing(&b.into_inner().expect("tar"));
        use tar::EntryType as T;
        let want = [
            ("etc", T::Directory, 0),
            ("etc/again", T::Regular, 3),
            ("etc/.wh.gone", T::Regular, 0),
            ("etc/ln", T::Symlink, 0),
            ("etc/new", T::Link, 0),
            ("var", T::Directory, 0),
            ("var/.wh..wh..opq", T::Regular, 0),
        ];
        let want: Vec<_> = want.iter().map(|(n, k, s)| (n.to_string(), *k, *s)).collect();
        assert_eq!(got, want, "an entry gone meanwhile is skipped; the second name of a file is a link");
    }
}
