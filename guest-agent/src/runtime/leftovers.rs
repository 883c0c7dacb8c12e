//! What is left of a container in the runtime's state directory once its
//! shim is done: the rootfs overlay mount and `state_root/<id>/`. Removed
//! at once, or renamed out of the way first (`retire`) so the id is free
//! while the slow removal runs, and swept when a shim died before it
//! finished.
//!
//! Must never touch a directory whose shim is alive; callers check.

use std::path::{Path, PathBuf};

use super::RuntimeError;
use super::overlay::unmount;

/// Prefix of a state directory that a shim renamed away on delete and
/// removes before it exits (see [`retire`]).
const RETIRED_PREFIX: &str = ".retired-";

/// Unmounts the rootfs and renames the directory out of the way (one
/// rename instead of a dozen unlinks on the engine's path): the id is free
/// at once. Returns where it went; removing it is the caller's. Falls back
/// to removing it here if the rename fails.
pub fn retire(dir: &Path) -> Result<Option<PathBuf>, RuntimeError> {
    unmount(&dir.join("rootfs"))?;
    let (Some(parent), Some(name)) = (dir.parent(), dir.file_name().and_then(|n| n.to_str())) else {
        return remove_leftovers(dir).map(|()| None);
    };
    let to = parent.join(format!("{RETIRED_PREFIX}{name}-{}", std::process::id()));
    match std::fs::rename(dir, &to) {
        Ok(()) => Ok(Some(to)),
        Err(_) => remove_leftovers(dir).map(|()| None),
    }
}

/// Removes directories that shims retired but did not get to remove (a
/// shim killed between its reply and its exit).
pub fn sweep_retired(state_root: &Path) {
    let Ok(rd) = std::fs::read_dir(state_root) else { return };
    for e in rd.flatten() {
        if e.file_name().to_str().is_some_and(|n| n.starts_with(RETIRED_PREFIX)) {
            let pid = e.file_name().to_str().and_then(|n| n.rsplit('-').next()?.parse::<i32>().ok());
            // Still being removed by its shim: leave it.
            if pid.is_some_and(|p| Path::new(&format!("/proc/{p}")).exists()) {
                continue;
            }
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// Unmounts the rootfs and removes the directory; a directory already
/// gone is no error.
pub fn remove_leftovers(dir: &Path) -> Result<(), RuntimeError> {
    unmount(&dir.join("rootfs"))?;
    match std::fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(RuntimeError::io("remove", dir)(e)),
    }
}
