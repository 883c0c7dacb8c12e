//! An advisory lock so that two tasks never build into the cache at once.
//! The kernel drops the lock with the process, so a killed task leaves
//! nothing that blocks the next one.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::Path;

use crate::error::{IoContext, Result};

pub struct Lock(#[allow(dead_code)] File);

pub fn exclusive(path: &Path) -> Result<Lock> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).at(dir)?;
    }
    let file = File::options().create(true).truncate(false).write(true).open(path).at(path)?;
    // SAFETY: flock on a file descriptor we own; it has no memory effects.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error()).at(path);
    }
    Ok(Lock(file))
}
