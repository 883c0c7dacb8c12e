//! What the engine tells a shim at creation (`shim.json` in its directory),
//! and the shim's on-disk exit record.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::runtime::{ExitInfo, RuntimeError};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ShimConfig {
    pub id: String,
    pub tty: bool,
    pub open_stdin: bool,
    pub stdin_once: bool,
    /// The json-file log; None: the container's output goes to attached
    /// clients only (the `none` log driver).
    #[serde(default)]
    pub log_path: Option<PathBuf>,
    /// json-file's max-size/max-file; None: the log grows unbounded.
    #[serde(default)]
    pub log_rotation: Option<crate::runtime::log_rotation::LogRotation>,
    /// (width, height) of the terminal at start.
    pub console_size: Option<(u16, u16)>,
}

impl ShimConfig {
    pub fn save(&self, dir: &Path) -> Result<(), RuntimeError> {
        let p = dir.join("shim.json");
        let bytes = serde_json::to_vec(self).map_err(|e| RuntimeError::io("encode", &p)(e.into()))?;
        crate::runtime::state_file::write_replace(&p, &bytes).map_err(RuntimeError::io("write", &p))
    }

    pub fn load(dir: &Path) -> Result<Self, RuntimeError> {
        let p = dir.join("shim.json");
        let bytes = std::fs::read(&p).map_err(RuntimeError::io("read", &p))?;
        serde_json::from_slice(&bytes).map_err(|e| RuntimeError::io("decode", &p)(e.into()))
    }
}

/// `exit.json`, written atomically once the container's init is gone.
pub fn save_exit(dir: &Path, exit: &ExitInfo) -> Result<(), RuntimeError> {
    let p = dir.join("exit.json");
    let bytes = serde_json::to_vec(exit).map_err(|e| RuntimeError::io("encode", &p)(e.into()))?;
    crate::runtime::state_file::write_replace(&p, &bytes).map_err(RuntimeError::io("write", &p))
}
