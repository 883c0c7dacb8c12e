//! Picking kernel modules out of a kernel's module tree with everything they
//! depend on, in an order that loads: dependencies first.
//!
//! Dependencies come from each module's own `.modinfo` (`depends=`), so no
//! `depmod` run or `modules.dep` is needed. Soft dependencies (ext4 wants
//! some crc32c) are not followed: callers name those modules themselves.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use crate::elf;
use crate::error::{Error, IoContext, Result};

/// The module tree of one kernel release.
pub struct ModuleTree {
    by_name: BTreeMap<String, PathBuf>,
    builtin: HashSet<String>,
}

impl ModuleTree {
    pub fn open(release_dir: &Path) -> Result<Self> {
        let mut by_name = BTreeMap::new();
        collect(&release_dir.join("kernel"), &mut by_name)?;
        let builtin = std::fs::read_to_string(release_dir.join("modules.builtin"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.rsplit('/').next())
            .filter_map(|f| f.strip_suffix(".ko"))
            .map(normalise)
            .collect();
        Ok(ModuleTree { by_name, builtin })
    }

    /// `wanted` and their dependencies, dependencies first, each once.
    /// A module built into the kernel is skipped; an unknown one is an error.
    pub fn resolve(&self, wanted: &[String]) -> Result<Vec<PathBuf>> {
        let mut order = Vec::new();
        let mut seen = HashSet::new();
        for name in wanted {
            self.visit(&normalise(name), &mut seen, &mut order, 0)?;
        }
        Ok(order)
    }

    fn visit(&self, name: &str, seen: &mut HashSet<String>, order: &mut Vec<PathBuf>, depth: usize) -> Result<()> {
        if depth > 64 {
            return Err(Error::Invalid(format!("module dependency loop at {name}")));
        }
        if !seen.insert(name.to_string()) {
            return Ok(());
        }
        let Some(path) = self.by_name.get(name) else {
            if self.builtin.contains(name) {
                return Ok(());
            }
            return Err(Error::Invalid(format!("kernel module {name} is neither built in nor in the module tree")));
        };
        if path.extension().is_none_or(|e| e != "ko") {
            return Err(Error::Invalid(format!("{}: compressed modules are not supported", path.display())));
        }
        let data = std::fs::read(path).at(path)?;
        let info = elf::modinfo(&data).ok_or_else(|| Error::Invalid(format!("{} has no .modinfo", path.display())))?;
        for (k, v) in &info {
            if k == "depends" {
                for dep in v.split(',').filter(|d| !d.is_empty()) {
                    self.visit(&normalise(dep), seen, order, depth + 1)?;
                }
            }
        }
        order.push(path.clone());
        Ok(())
    }
}

fn normalise(name: &str) -> String {
    name.replace('-', "_")
}

fn collect(dir: &Path, out: &mut BTreeMap<String, PathBuf>) -> Result<()> {
    for e in std::fs::read_dir(dir).at(dir)? {
        let e = e.at(dir)?;
        let path = e.path();
        let ft = e.file_type().at(&path)?;
        if ft.is_dir() {
            collect(&path, out)?;
        } else if let Some(name) = path.file_name().and_then(|n| n.to_str()) {
            // Compressed modules (`.ko.xz`) are indexed too, so that asking
            // for one gives a clear error instead of "not found".
            if let Some((stem, _)) = name.split_once(".ko") {
                out.insert(normalise(stem), path.clone());
            }
        }
    }
    Ok(())
}
