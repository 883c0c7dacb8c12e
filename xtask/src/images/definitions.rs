//! Where the images' declarations live (the workspace's `images/`) and how
//! their module lists read. Read-only: building is the parent's.

use std::path::PathBuf;

use crate::error::{IoContext, Result};
use crate::paths;

/// The workspace's `images/` directory: the declarations this module builds.
pub fn definitions_dir() -> PathBuf {
    paths::workspace_root().join("images")
}

/// Module names from a list file: one a line, `#` comments.
pub fn module_list(path: &std::path::Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path).at(path)?;
    Ok(text
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect())
}
