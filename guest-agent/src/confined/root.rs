//! A container's root directory, opened once, and path resolution inside
//! it as the container sees it: an absolute symlink target or a `..` at the
//! top stays in the root, magic links (`/proc/self/root`) are refused.
//!
//! Owns every lookup of a container-controlled path. Resolution is pathrs's
//! (`openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)`, or, where openat2 is
//! missing or filtered, its component-by-component `O_PATH|O_NOFOLLOW` walk
//! with in-root symlink resolution done on fds and checked through
//! `/proc`). It must never hand out a host path to open again: results are
//! descriptors ([`Node`], [`Dir`]).

use std::os::fd::AsFd;
use std::path::{Component, Path, PathBuf};

use super::dir::Dir;
use super::error::{ConfinedError, from_pathrs};
use super::node::{self, Kind, Node};

/// At most this many symlinks on one path, as Linux's MAXSYMLINKS.
const MAX_LINKS: usize = 40;

pub struct Root {
    inner: pathrs::Root,
    /// The root as the engine opened it: for messages only.
    host: PathBuf,
}

impl std::fmt::Debug for Root {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Root").field("host", &self.host).finish()
    }
}

impl Root {
    /// Opens `host` (a path of the engine's, with no symlink in it) as a root.
    pub fn open(host: &Path) -> Result<Root, ConfinedError> {
        let inner = pathrs::Root::open(host).map_err(|e| ConfinedError::Io {
            op: "open the root",
            path: host.to_path_buf(),
            source: from_pathrs(e),
        })?;
        Ok(Root { inner, host: host.to_path_buf() })
    }

    /// `path` (as the container names it) resolved, symlinks followed.
    pub fn resolve(&self, path: &Path) -> Result<Node, ConfinedError> {
        self.inner
            .resolve(path)
            .map(|h| Node::from_fd(h.into()))
            .map_err(|e| ConfinedError::io("resolve", path)(from_pathrs(e)))
    }

    /// `path` resolved, its last component not followed (a symlink there is
    /// held as itself).
    pub fn resolve_nofollow(&self, path: &Path) -> Result<Node, ConfinedError> {
        self.inner
            .resolve_nofollow(path)
            .map(|h| Node::from_fd(h.into()))
            .map_err(|e| ConfinedError::io("resolve", path)(from_pathrs(e)))
    }

    /// The directory at `path`, symlinks followed; ENOTDIR for anything else.
    pub fn dir(&self, path: &Path) -> Result<Dir, ConfinedError> {
        let n = self.resolve(path)?;
        let st = n.stat().map_err(ConfinedError::io("stat", path))?;
        if st.kind != Kind::Dir {
            return Err(ConfinedError::io("open", path)(std::io::Error::from_raw_os_error(libc::ENOTDIR)));
        }
        Ok(Dir::from_fd(n.into()))
    }

    /// The directory `path` and its missing parents, created as `mkdir -p`
    /// inside the root (following the container's symlinks on the way, a
    /// dangling one by creating what it names, as Docker does); those
    /// created get `owner` when given. Each missing component is made with
    /// `mkdirat` on its parent's fd, so a swap of a parent for a symlink
    /// cannot move the creation out of the root.
    pub fn mkdir_all(&self, path: &Path, mode: u32, owner: Option<(u32, u32)>) -> Result<Dir, ConfinedError> {
        let mut pending = components(path);
        let mut so_far = PathBuf::from("/");
        let mut cur = self.dir(&so_far)?;
        let mut links = 0;
        while let Some(name) = pending.pop() {
            if name == ".." {
                so_far.push("..");
                cur = self.dir(&so_far)?;
                continue;
            }
            let next = so_far.join(&name);
            match self.dir(&next) {
                Ok(d) => (cur, so_far) = (d, next),
                Err(e) if e.is_not_found() => match cur.mkdir(&name, mode) {
                    Ok(d) => {
                        if let Some((uid, gid)) = owner {
                            node::chown(d.as_fd(), uid, gid).map_err(ConfinedError::io("chown", &next))?;
                        }
                        (cur, so_far) = (d, next);
                    }
                    Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {
                        let link = cur.node(&name).map_err(ConfinedError::io("open", &next))?;
                        if link.stat().map_err(ConfinedError::io("stat", &next))?.kind != Kind::Symlink {
                            // Made meanwhile: take it as it resolves now.
                            (cur, so_far) = (self.dir(&next)?, next);
                            continue;
                        }
                        // A dangling symlink: walk on through its target,
                        // inside the root, creating what is missing.
                        links += 1;
                        if links > MAX_LINKS {
                            return Err(ConfinedError::io("mkdir", &next)(std::io::Error::from_raw_os_error(
                                libc::ELOOP,
                            )));
                        }
                        let target = link.readlink().map_err(ConfinedError::io("readlink", &next))?;
                        if target.is_absolute() {
                            so_far = PathBuf::from("/");
                            cur = self.dir(&so_far)?;
                        }
                        pending.extend(components(&target));
                    }
                    Err(e) => return Err(ConfinedError::io("mkdir", &next)(e)),
                },
                Err(e) => return Err(e),
            }
        }
        Ok(cur)
    }

    /// The parent directory of `path` (created when `create`) and its last
    /// component. `path` must name something below the root.
    pub fn parent(&self, path: &Path, create: bool) -> Result<(Dir, std::ffi::OsString), ConfinedError> {
        let name = match path.components().next_back() {
            Some(Component::Normal(n)) => n.to_os_string(),
            _ => {
                return Err(ConfinedError::Refused {
                    path: path.to_path_buf(),
                    reason: "does not name an entry below the root".into(),
                });
            }
        };
        let parent = path.parent().unwrap_or(Path::new("/"));
        let dir = if create { self.mkdir_all(parent, 0o755, None)? } else { self.dir(parent)? };
        Ok((dir, name))
    }

    /// Where `node` is, as the container names it (`/a/b`): for the stat
    /// header's link target and messages, never to be opened again.
    pub fn container_path(&self, node: &Node) -> Result<PathBuf, ConfinedError> {
        let top = node::current_path(self.inner.as_fd()).map_err(ConfinedError::io("locate", &self.host))?;
        let at = node::current_path(node.as_fd()).map_err(ConfinedError::io("locate", &self.host))?;
        let rel = at.strip_prefix(&top).map_err(|_| ConfinedError::Refused {
            path: at.clone(),
            reason: "is not below the container's root".into(),
        })?;
        Ok(Path::new("/").join(rel))
    }

    /// The root as the engine opened it (for messages).
    pub fn host_path(&self) -> &Path {
        &self.host
    }
}

/// `path`'s components to walk, reversed (the next one last): names and
/// `..`; `/` and `.` dropped.
fn components(path: &Path) -> Vec<std::ffi::OsString> {
    let mut v: Vec<_> = path
        .components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_os_string()),
            Component::ParentDir => Some("..".into()),
            _ => None,
        })
        .collect();
    v.reverse();
    v
}
