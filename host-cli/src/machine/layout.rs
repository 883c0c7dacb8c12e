//! Where a machine lives: one directory per machine under
//! `$XDG_DATA_HOME/berth/machines/NAME` holding its config, data disk,
//! console log and sockets. Only paths are computed here.

use std::path::PathBuf;

/// The directory that holds every machine.
pub fn machines_dir() -> PathBuf {
    let base = std::env::var_os("XDG_DATA_HOME").map(PathBuf::from).unwrap_or_else(|| {
        std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/root")).join(".local/share")
    });
    base.join("berth").join("machines")
}

/// The files of one machine.
#[derive(Debug, Clone)]
pub struct Layout {
    pub dir: PathBuf,
}

impl Layout {
    pub fn new(name: &str) -> Self {
        Layout { dir: machines_dir().join(name) }
    }

    pub fn config(&self) -> PathBuf {
        self.dir.join("config.json")
    }
    pub fn data_disk(&self) -> PathBuf {
        self.dir.join("data.img")
    }
    pub fn console_log(&self) -> PathBuf {
        self.dir.join("console.log")
    }
    /// The console of the boot before this one: kept so that a machine
    /// that ended on its own and was started again still shows why.
    pub fn previous_console_log(&self) -> PathBuf {
        self.dir.join("console.previous.log")
    }
    /// The machine process's own log (VMM and proxy messages).
    pub fn process_log(&self) -> PathBuf {
        self.dir.join("machine.log")
    }
    /// The VMM's hybrid-vsock socket (Firecracker's CONNECT protocol).
    pub fn vsock_socket(&self) -> PathBuf {
        self.dir.join("vsock.sock")
    }
    /// The host end of the engine's Docker API.
    pub fn docker_socket(&self) -> PathBuf {
        self.dir.join("docker.sock")
    }
    /// Where share N's virtiofsd listens for the VMM.
    pub fn share_socket(&self, index: usize) -> PathBuf {
        self.dir.join(format!("share-{index}.sock"))
    }
    /// Share N's virtiofsd's own log.
    pub fn share_log(&self, index: usize) -> PathBuf {
        self.dir.join(format!("virtiofsd-{index}.log"))
    }
    /// Why share N's virtiofsd ended while the machine ran (absent if it
    /// did not).
    pub fn share_exit(&self, index: usize) -> PathBuf {
        self.dir.join(format!("share-{index}.exit"))
    }
    /// Held (flock) by the machine process for as long as it runs.
    pub fn lock(&self) -> PathBuf {
        self.dir.join("machine.lock")
    }
}

/// Machine names become directory names and host names: keep them simple.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        && !name.starts_with('-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        assert!(valid_name("default"));
        assert!(valid_name("dev-1"));
        assert!(!valid_name(""));
        assert!(!valid_name("../x"));
        assert!(!valid_name("a b"));
        assert!(!valid_name("-x"));
    }
}
