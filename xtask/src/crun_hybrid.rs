//! Lets crun run on a hybrid cgroup host for the length of a benchmark.
//!
//! crun 1.8 refuses a hybrid layout (v1 controllers plus a v2 hierarchy)
//! unless the v2 side has no controllers; this host's unified hierarchy
//! holds one (hugetlb, which has no v1 mount). Mounting a v1 hierarchy for
//! each such controller moves it off the v2 side, which crun accepts; the
//! guard removes the (empty) cgroups the runs left there and unmounts them
//! again on drop; the kernel gives a controller back to v2 only once
//! nothing references its old v1 hierarchy any more, which can take until
//! long-lived processes move (meanwhile neither side has it: on this host
//! nothing uses hugetlb limits).
//!
//! Must never: touch a host whose v2 side is empty, pure v1 or pure v2, or
//! leave its mounts behind.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::{Error, Result};

const UNIFIED: &str = "/sys/fs/cgroup/unified";

/// The v1 hierarchies mounted for crun; unmounted on drop.
pub struct CrunCgroups {
    mounted: Vec<PathBuf>,
}

impl CrunCgroups {
    /// Moves the controllers of a hybrid host's v2 side to v1 hierarchies
    /// (nothing to do elsewhere).
    pub fn prepare() -> Result<CrunCgroups> {
        let controllers = std::fs::read_to_string(Path::new(UNIFIED).join("cgroup.controllers")).unwrap_or_default();
        let mut guard = CrunCgroups { mounted: Vec::new() };
        for c in controllers.split_whitespace() {
            let at = Path::new("/sys/fs/cgroup").join(c);
            std::fs::create_dir_all(&at).map_err(|e| Error::Invalid(format!("mkdir {}: {e}", at.display())))?;
            let status = Command::new("mount")
                .args(["-t", "cgroup", "-o", c, c])
                .arg(&at)
                .status()
                .map_err(|e| Error::Command { command: "mount".into(), detail: e.to_string() })?;
            if !status.success() {
                let _ = std::fs::remove_dir(&at);
                return Err(Error::Command {
                    command: format!("mount -t cgroup -o {c} {c} {}", at.display()),
                    detail: format!("{status} (crun needs the v2 side of a hybrid layout empty)"),
                });
            }
            println!("crun: the {c} controller moved from cgroup v2 to a v1 hierarchy for this run (crun refuses a hybrid layout whose v2 side has controllers)");
            guard.mounted.push(at);
        }
        Ok(guard)
    }
}

impl Drop for CrunCgroups {
    fn drop(&mut self) {
        for at in self.mounted.drain(..).rev() {
            remove_empty_cgroups(&at);
            let ok = Command::new("umount").arg(&at).status().is_ok_and(|s| s.success());
            let _ = std::fs::remove_dir(&at);
            if !ok {
                eprintln!("crun: could not unmount {}; `umount {}` gives the controller back to cgroup v2", at.display(), at.display());
            }
        }
    }
}

/// rmdir of every cgroup below `root`, deepest first (a cgroup with
/// processes in it stays).
fn remove_empty_cgroups(root: &Path) {
    let Ok(entries) = std::fs::read_dir(root) else { return };
    for e in entries.flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            remove_empty_cgroups(&e.path());
            let _ = std::fs::remove_dir(e.path());
        }
    }
}
