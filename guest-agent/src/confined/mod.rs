//! The one way the engine touches a path that a container or an archive
//! controls: a container's root while it runs (`docker cp`, `export`, the
//! working directory, its user databases), its writable layer (`diff`,
//! `commit`), and the trees that image layers are unpacked into.
//!
//! Why: resolving a path by name and then opening it by name again lets a
//! container swap a directory for a symlink in between and make the engine
//! (root) read or write anywhere (CVE-2018-15664); applying metadata by
//! path after a later archive entry replaced a directory with a symlink
//! changes what the symlink points at. Here every path is resolved once to
//! a file descriptor, inside the root as the container sees it ([`Root`],
//! through pathrs: `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)`, or
//! its `O_PATH` walk where openat2 is missing), and everything after is
//! done relative to descriptors: one name at a time on a held directory
//! ([`Dir`]), metadata on the held inode ([`Node`]).
//!
//! It must never resolve a container's path string on the host, never
//! follow the last component of a name it creates or changes, and never
//! return a host path for anyone to open.

mod copy;
mod dir;
mod error;
mod extract;
mod layer;
mod node;
mod pack;
mod root;
mod stat;

pub use copy::copy_up;
pub use dir::{Dir, NodeKind};
pub use error::ConfinedError;
pub use extract::{ExtractOptions, extract};
pub use layer::{LayerEntry, append_layer};
pub use node::{Kind, Node, Stat, chmod, chown, get_xattr, set_times, set_xattr};
pub use pack::{append_node, append_root};
pub use root::Root;
pub use stat::PathStat;

#[cfg(test)]
mod tests;
