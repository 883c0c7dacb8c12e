//! The json-file log driver's rotation options (`--log-opt max-size=10m
//! --log-opt max-file=3`), read from a container's `LogConfig.Config` as
//! Docker's json-file driver reads them.
//!
//! Owns parsing and checking them; the shim's log writer applies them and
//! the log reader follows the rotated files. It must never accept a value
//! Docker refuses.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Rotate the log once it reaches `max_size` bytes, keeping `max_files`
/// files in all (the live one included; 1 truncates in place).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogRotation {
    pub max_size: u64,
    pub max_files: u32,
}

impl LogRotation {
    /// From `LogConfig.Config`: None without `max-size` (unbounded, as
    /// Docker's default json-file log).
    pub fn from_opts(opts: Option<&HashMap<String, String>>) -> Result<Option<LogRotation>, String> {
        let Some(opts) = opts else { return Ok(None) };
        let max_files = match opts.get("max-file") {
            None => 1,
            Some(v) => match v.parse::<i64>() {
                Ok(n) if n >= 1 => u32::try_from(n).unwrap_or(u32::MAX),
                Ok(_) => return Err("max-file cannot be less than 1".into()),
                Err(e) => return Err(format!("strconv.Atoi: parsing {v:?}: {e}")),
            },
        };
        // Without max-size the log is unbounded and max-file has nothing to
        // rotate: Docker accepts it (docker-py's test_valid_log_driver_and_log_opt
        // creates and starts a container with max-file=100 alone).
        let Some(size) = opts.get("max-size") else {
            return Ok(None);
        };
        let max_size = docker_vocab::units::ram_in_bytes(size).map_err(|e| e.to_string())?;
        if max_size <= 0 {
            return Ok(None);
        }
        Ok(Some(LogRotation { max_size: max_size as u64, max_files }))
    }
}

/// The `n`th rotated file of the log at `path` (`<path>.1` is the newest).
pub fn rotated(path: &Path, n: u32) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(format!(".{n}"));
    PathBuf::from(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(kv: &[(&str, &str)]) -> HashMap<String, String> {
        kv.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn options_read_as_docker_reads_them() {
        let r = |kv: &[(&str, &str)]| LogRotation::from_opts(Some(&opts(kv)));
        assert_eq!(r(&[]), Ok(None));
        assert_eq!(r(&[("max-size", "10k")]), Ok(Some(LogRotation { max_size: 10 * 1024, max_files: 1 })));
        assert_eq!(
            r(&[("max-size", "1m"), ("max-file", "3")]),
            Ok(Some(LogRotation { max_size: 1 << 20, max_files: 3 }))
        );
        assert!(r(&[("max-size", "ten")]).is_err());
        assert_eq!(r(&[("max-size", "1m"), ("max-file", "0")]), Err("max-file cannot be less than 1".into()));
        assert_eq!(r(&[("max-file", "100")]), Ok(None), "max-file alone is accepted and rotates nothing");
        assert_eq!(rotated(Path::new("/x/c-json.log"), 2), PathBuf::from("/x/c-json.log.2"));
    }
}
