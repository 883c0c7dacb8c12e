//! The build cache index: which image a step made on which parent, so a
//! rebuild reuses it (the classic builder's rule: same parent image, same
//! step config — the step's command, env, user, workdir, and for COPY/ADD
//! the content hash in its command — gives the same image).
//!
//! Owns the index file (`<root>/build/cache.json`, written atomically, so
//! the cache survives an engine restart) and its keys. It must never decide
//! whether an image still exists (the engine checks each hit against the
//! store) nor remove images.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use sha2::{Digest, Sha256};

use super::error::BuildError;

pub struct Cache {
    path: PathBuf,
    entries: Mutex<BTreeMap<String, String>>,
}

/// The key of a step: its parent image and its config, canonical JSON.
pub fn key(parent: &str, step_config: &serde_json::Value) -> String {
    let mut h = Sha256::new();
    h.update(parent.as_bytes());
    h.update(b"\n");
    h.update(serde_json::to_vec(step_config).unwrap_or_default());
    hex::encode(h.finalize())
}

impl Cache {
    pub fn open(root: &Path) -> Cache {
        let path = root.join("build").join("cache.json");
        let entries = std::fs::read(&path).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default();
        Cache { path, entries: Mutex::new(entries) }
    }

    pub fn get(&self, key: &str) -> Option<String> {
        crate::unpoisoned::lock(&self.entries).get(key).cloned()
    }

    pub fn put(&self, key: String, image: String) -> Result<(), BuildError> {
        let mut e = crate::unpoisoned::lock(&self.entries);
        e.insert(key, image);
        self.save(&e)
    }

    /// Forgets every entry (`POST /build/prune`); the images they named.
    pub fn clear(&self) -> Result<Vec<String>, BuildError> {
        let mut e = crate::unpoisoned::lock(&self.entries);
        let gone: Vec<String> = std::mem::take(&mut *e).into_values().collect();
        self.save(&e)?;
        Ok(gone)
    }

    fn save(&self, e: &BTreeMap<String, String>) -> Result<(), BuildError> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(BuildError::io("creating the build cache directory"))?;
        }
        let bytes = serde_json::to_vec(e).map_err(|e| BuildError::Invalid(e.to_string()))?;
        crate::durable::write_atomic(&self.path, &bytes).map_err(BuildError::io("writing the build cache"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn entries_survive_a_reopen_and_keys_follow_the_config() {
        let t = tempfile::tempdir().unwrap();
        let k = key("sha256:p", &json!({"Cmd": ["/bin/sh", "-c", "echo hi"], "Env": ["A=1"]}));
        assert_eq!(k, key("sha256:p", &json!({"Cmd": ["/bin/sh", "-c", "echo hi"], "Env": ["A=1"]})));
        assert_ne!(k, key("sha256:q", &json!({"Cmd": ["/bin/sh", "-c", "echo hi"], "Env": ["A=1"]})));
        assert_ne!(k, key("sha256:p", &json!({"Cmd": ["/bin/sh", "-c", "echo hi"], "Env": ["A=2"]})));
        Cache::open(t.path()).put(k.clone(), "sha256:img".into()).unwrap();
        let c = Cache::open(t.path());
        assert_eq!(c.get(&k).as_deref(), Some("sha256:img"));
        assert_eq!(c.clear().unwrap(), ["sha256:img"]);
        assert_eq!(Cache::open(t.path()).get(&k), None);
    }
}
