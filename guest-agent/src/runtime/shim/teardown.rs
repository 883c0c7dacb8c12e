//! Removing a container's kernel-side state: libcontainer's delete (cgroups,
//! its state dir), or, when that state is gone or broken, the cgroup
//! directories by hand. Used by the shim's `delete` and by the engine's
//! cleanup of a dead shim's leftovers (single-threaded or not: nothing here
//! forks).

use std::path::Path;

use libcontainer::container::Container;

/// Best effort: logs what it cannot remove.
pub fn delete_container(id: &str, dir: &Path) {
    let lc_dir = dir.join("lc").join(id);
    if lc_dir.exists() {
        match Container::load(lc_dir.clone()) {
            Ok(mut c) => {
                if let Err(e) = c.delete(true) {
                    tracing::warn!(%id, error = %e, "libcontainer delete failed; removing cgroups by hand");
                }
            }
            Err(e) => tracing::warn!(%id, error = %e, "libcontainer state unreadable"),
        }
    }
    remove_cgroups(id);
    let _ = std::fs::remove_dir_all(&lc_dir);
}

/// rmdir of `/berth/<id>` in every hierarchy (v1: one per controller).
pub fn remove_cgroups(id: &str) {
    let rel = crate::runtime::spec::cgroup_path(id);
    let rel = rel.trim_start_matches('/');
    let root = Path::new("/sys/fs/cgroup");
    let mut dirs = vec![root.join(rel)];
    if let Ok(rd) = std::fs::read_dir(root) {
        for e in rd.flatten() {
            dirs.push(e.path().join(rel));
        }
    }
    for d in dirs {
        if d.is_dir()
            && let Err(e) = std::fs::remove_dir(&d)
        {
            tracing::warn!(path = %d.display(), error = %e, "cannot remove cgroup");
        }
    }
}
