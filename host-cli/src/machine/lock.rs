//! "Is this machine running?" is answered by one flock: the machine process
//! holds an exclusive lock on `machine.lock` for its whole life. The kernel
//! drops it when the process dies, even by kill -9, so a crash never leaves
//! a machine that looks running, and two machine processes can never run
//! the same machine.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::Path;

pub struct MachineLock(File);

impl MachineLock {
    /// Records the holder's pid in the lock file, for `stop` to signal.
    pub fn write_pid(&mut self) -> std::io::Result<()> {
        use std::io::{Seek, Write};
        self.0.set_len(0)?;
        self.0.seek(std::io::SeekFrom::Start(0))?;
        write!(self.0, "{}", std::process::id())?;
        self.0.sync_all()
    }
}

/// The pid recorded by the current holder, if the lock is held.
pub fn holder_pid(path: &Path) -> Option<i32> {
    if !is_held(path) {
        return None;
    }
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Takes the lock without waiting; `Ok(None)` if another process holds it.
pub fn try_lock(path: &Path) -> std::io::Result<Option<MachineLock>> {
    let file = File::options().create(true).truncate(false).write(true).open(path)?;
    // SAFETY: flock on a descriptor we own; no memory is involved.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc == 0 {
        return Ok(Some(MachineLock(file)));
    }
    let err = std::io::Error::last_os_error();
    if err.raw_os_error() == Some(libc::EWOULDBLOCK) { Ok(None) } else { Err(err) }
}

/// Whether a machine process holds the lock right now.
pub fn is_held(path: &Path) -> bool {
    if !path.exists() {
        return false;
    }
    matches!(try_lock(path), Ok(None))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_holder_at_a_time_and_released_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("machine.lock");
        assert!(!is_held(&p));
        let held = try_lock(&p).unwrap().expect("first lock");
        // A second open file description conflicts, as another process would.
        assert!(try_lock(&p).unwrap().is_none());
        drop(held);
        assert!(try_lock(&p).unwrap().is_some());
    }
}
