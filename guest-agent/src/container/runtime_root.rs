//! Where the runtime keeps its per-container state, chosen so that the
//! shim's UNIX sockets (`<state root>/<64-hex id>/shim.sock`) fit in a
//! `sockaddr_un` (108 bytes). Under a long engine root (a test's temp dir,
//! a home directory) the direct path would not; the state then stays in
//! `<engine root>/runtime` but is reached through a short symlink
//! `/run/berth/rt-<hash of the engine root>`.
//!
//! Owns that choice only; it must never move runtime state, and the same
//! engine root always maps to the same path (shims of an earlier engine
//! are found again).

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// `sun_path` is 108 bytes including the terminating NUL.
const SUN_PATH_MAX: usize = 107;
/// The longest socket path the runtime makes under its state root.
const LONGEST_SOCKET: &str = "/0000000000000000000000000000000000000000000000000000000000000000/shim.sock";

pub fn state_root(engine_root: &Path) -> std::io::Result<PathBuf> {
    let real = engine_root.join("runtime");
    std::fs::create_dir_all(&real)?;
    if fits(&real) {
        return Ok(real);
    }
    let target = real.canonicalize()?;
    let hash = hex::encode(Sha256::digest(target.as_os_str().as_encoded_bytes()));
    let mut last_err = None;
    for base in [PathBuf::from("/run/berth"), std::env::temp_dir().join("berth")] {
        let link = base.join(format!("rt-{}", &hash[..16]));
        if !fits(&link) {
            continue;
        }
        match ensure_link(&base, &link, &target) {
            Ok(()) => return Ok(link),
            Err(e) => last_err = Some(e),
        }
    }
    Err(last_err.unwrap_or_else(|| std::io::Error::other("no short directory for the runtime's sockets")))
}

fn fits(root: &Path) -> bool {
    root.as_os_str().len() + LONGEST_SOCKET.len() <= SUN_PATH_MAX
}

fn ensure_link(base: &Path, link: &Path, target: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(base)?;
    match std::fs::read_link(link) {
        Ok(t) if t == target => return Ok(()),
        Ok(_) => std::fs::remove_file(link)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    std::os::unix::fs::symlink(target, link)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_roots_are_used_directly() {
        let dir = tempfile::tempdir().unwrap();
        let root = state_root(dir.path()).unwrap();
        assert_eq!(root, dir.path().join("runtime"));
        assert!(fits(&root));
    }

    #[test]
    fn long_roots_get_a_stable_short_link() {
        let dir = tempfile::tempdir().unwrap();
        let long = dir.path().join("a-rather-long-directory-name-for-an-engine-root-that-users-might-pick");
        let a = state_root(&long).unwrap();
        assert_ne!(a, long.join("runtime"));
        assert!(fits(&a), "{}", a.display());
        assert_eq!(std::fs::canonicalize(&a).unwrap(), long.join("runtime").canonicalize().unwrap());
        assert_eq!(state_root(&long).unwrap(), a, "the same root maps to the same link");
        std::fs::write(a.join("probe"), b"x").unwrap();
        assert!(long.join("runtime/probe").exists(), "state lives under the engine root");
        let _ = std::fs::remove_file(&a);
    }
}
