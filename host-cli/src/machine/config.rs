//! A machine's settings, chosen at `berth machine create` and kept in its
//! directory as JSON (written atomically).

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MachineConfig {
    pub name: String,
    pub cpus: u8,
    pub memory_mib: u64,
    pub disk_gib: u64,
    /// A guest kernel of the user's; `None` means berth's own kernel from
    /// `cargo xtask images`.
    pub kernel: Option<PathBuf>,
    /// The initramfs to go with `kernel`; `None` means berth's.
    pub initramfs: Option<PathBuf>,
    /// Seconds since the epoch.
    pub created: u64,
    /// Host folders shared into the VM (machines made before shares
    /// existed have none).
    #[serde(default)]
    pub shares: Vec<super::shares::Share>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a machine config: {source}")]
    Parse {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl MachineConfig {
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read(path).map_err(|source| ConfigError::Read { path: path.into(), source })?;
        serde_json::from_slice(&text).map_err(|source| ConfigError::Parse { path: path.into(), source })
    }

    /// Temp file, fsync, rename: a crash leaves the old config or the new.
    pub fn save(&self, path: &Path) -> Result<(), ConfigError> {
        let err = |source| ConfigError::Write { path: path.into(), source };
        let tmp = path.with_extension("json.tmp");
        let data = serde_json::to_vec_pretty(self).map_err(|e| err(std::io::Error::other(e)))?;
        let mut f = super::private::open(&tmp, std::fs::OpenOptions::new().write(true).create(true).truncate(true))
            .map_err(err)?;
        f.write_all(&data).map_err(err)?;
        f.sync_all().map_err(err)?;
        drop(f);
        std::fs::rename(&tmp, path).map_err(err)
    }
}

/// `2G`, `512M`, `1.5GiB` (go-units' `RAMInBytes`, binary units, as
/// Docker's `--memory`), or a bare number of MiB (`2048`) → MiB.
pub fn parse_size_mib(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let bad = || format!("{s:?} is not a size (examples: 2G, 512M)");
    let mib = if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        s.parse::<u64>().map_err(|_| bad())?
    } else {
        let bytes = docker_vocab::units::ram_in_bytes(s).map_err(|_| bad())?;
        u64::try_from(bytes / docker_vocab::units::MIB).map_err(|_| bad())?
    };
    Some(mib).filter(|v| *v > 0).ok_or_else(|| format!("{s:?} is not a usable size"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size_mib("2G"), Ok(2048));
        assert_eq!(parse_size_mib("512M"), Ok(512));
        assert_eq!(parse_size_mib("1024"), Ok(1024));
        assert_eq!(parse_size_mib("1.5GiB"), Ok(1536));
        assert_eq!(parse_size_mib("2g"), Ok(2048));
        assert_eq!(parse_size_mib("1T"), Ok(1024 * 1024));
        assert!(parse_size_mib("100k").is_err(), "less than a MiB");
        assert!(parse_size_mib("lots").is_err());
        assert!(parse_size_mib("0G").is_err());
    }

    #[test]
    fn config_round_trips_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("config.json");
        let c = MachineConfig {
            name: "m".into(),
            cpus: 2,
            memory_mib: 1024,
            disk_gib: 4,
            kernel: None,
            initramfs: None,
            created: 1,
            shares: vec![super::super::shares::Share { host: "/h".into(), guest: "/g".into(), read_only: true }],
        };
        c.save(&p).unwrap();
        assert_eq!(MachineConfig::load(&p).unwrap(), c);
        std::fs::write(&p, "{").unwrap();
        assert!(matches!(MachineConfig::load(&p), Err(ConfigError::Parse { .. })));
    }
}
