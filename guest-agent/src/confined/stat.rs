//! `HEAD /containers/{id}/archive`'s `X-Docker-Container-Path-Stat`: what
//! is at a path of the container (not followed when it is a symlink), and
//! where a symlink there ends as the container sees it.
//!
//! Owns the header's content and Go's `os.FileMode` encoding of the mode.
//! It must never stat a path string: the entry is held by an fd from
//! [`Root`], the same one the archive is then written from.

use std::path::Path;

use base64::Engine as _;

use super::error::ConfinedError;
use super::node::{Kind, Node, Stat};
use super::root::Root;

/// The header's fields, as Docker's `container.PathStat`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathStat {
    pub name: String,
    pub size: u64,
    /// Go's `os.FileMode` bits (see [`go_mode`]).
    pub mode: u32,
    pub mtime: chrono::DateTime<chrono::Utc>,
    /// For a symlink, the container path it resolves to (its stored target
    /// when it does not resolve); empty otherwise.
    pub link_target: String,
}

impl PathStat {
    /// What `node` (`path` in `root`, resolved without following its last
    /// component) is.
    pub fn of(root: &Root, path: &Path, node: &Node) -> Result<PathStat, ConfinedError> {
        let st = node.stat().map_err(ConfinedError::io("stat", path))?;
        let link_target = if st.kind == Kind::Symlink {
            match root.resolve(path).and_then(|n| root.container_path(&n)) {
                Ok(p) => p.to_string_lossy().into_owned(),
                Err(_) => node.readlink().map_err(ConfinedError::io("readlink", path))?.to_string_lossy().into_owned(),
            }
        } else {
            String::new()
        };
        let name = path.file_name().map_or("/".into(), |n| n.to_string_lossy().into_owned());
        let mtime =
            chrono::DateTime::from_timestamp(st.mtime, u32::try_from(st.mtime_nsec).unwrap_or(0)).unwrap_or_default();
        Ok(PathStat { name, size: st.size, mode: go_mode(&st), mtime, link_target })
    }

    /// The header value: base64 of the JSON the docker CLI decodes.
    pub fn header(&self) -> String {
        let json = serde_json::json!({
            "name": self.name,
            "size": self.size,
            "mode": self.mode,
            "mtime": crate::container::clock::format(self.mtime),
            "linkTarget": self.link_target,
        });
        base64::engine::general_purpose::STANDARD.encode(json.to_string())
    }
}

/// Go's `os.FileMode` bits, which the docker CLI decodes from the stat
/// header (`IsDir()` decides how `cp` copies).
pub fn go_mode(st: &Stat) -> u32 {
    let mut mode = st.perm & 0o777;
    mode |= match st.kind {
        Kind::Dir => 1 << 31,
        Kind::Symlink => 1 << 27,
        Kind::Block => 1 << 26,
        Kind::Char => (1 << 26) | (1 << 21),
        Kind::Fifo => 1 << 25,
        Kind::Socket => 1 << 24,
        Kind::File => 0,
    };
    if st.perm & 0o4000 != 0 {
        mode |= 1 << 23;
    }
    if st.perm & 0o2000 != 0 {
        mode |= 1 << 22;
    }
    if st.perm & 0o1000 != 0 {
        mode |= 1 << 20;
    }
    mode
}
