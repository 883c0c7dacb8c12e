//! The engine's settings as Docker's `daemon.json` holds them
//! (`--config-file PATH`), merged with the command line's flags: today the
//! registry settings, `registry-mirrors` (`--registry-mirror URL`),
//! `insecure-registries` (`--insecure-registry HOST[:PORT]|CIDR`) and
//! `max-concurrent-downloads`.
//!
//! As dockerd: a key the engine does not know is refused, and so is a
//! setting given both as a flag and in the file (neither silently wins).
//! Owns reading and merging; it must never validate what a setting means
//! (the registry settings are checked by `image::endpoints`).

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::image::endpoints::{RegistryConfig, SettingsError};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the configuration file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the configuration file {path} is not valid JSON: {source}")]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("the configuration file {path} must hold a JSON object")]
    NotAnObject { path: PathBuf },
    #[error("the following directives don't match any configuration option: {0}")]
    Unknown(String),
    #[error("the following directives are specified both as a flag and in the configuration file: {0}")]
    Conflict(String),
    #[error("{key} in {path}: {reason}")]
    BadValue { path: PathBuf, key: &'static str, reason: &'static str },
    #[error(transparent)]
    Registry(#[from] SettingsError),
}

/// What the command line says (empty means "not given").
#[derive(Debug, Default, Clone)]
pub struct Flags {
    pub config_file: Option<PathBuf>,
    pub registry_mirrors: Vec<String>,
    pub insecure_registries: Vec<String>,
}

/// The keys the engine understands.
const KEYS: [&str; 3] = ["registry-mirrors", "insecure-registries", "max-concurrent-downloads"];

/// The registry settings from the flags and the file.
pub fn registry_config(flags: &Flags) -> Result<RegistryConfig, ConfigError> {
    let file = match &flags.config_file {
        Some(path) => read(path)?,
        None => Map::new(),
    };
    let path = flags.config_file.clone().unwrap_or_default();
    let mut unknown: Vec<&str> = file.keys().map(String::as_str).filter(|k| !KEYS.contains(k)).collect();
    if !unknown.is_empty() {
        unknown.sort_unstable();
        return Err(ConfigError::Unknown(unknown.join(", ")));
    }
    let list = |key: &'static str, from_flag: &[String]| -> Result<Vec<String>, ConfigError> {
        let Some(v) = file.get(key) else { return Ok(from_flag.to_vec()) };
        let from_file: Vec<String> = v
            .as_array()
            .and_then(|a| a.iter().map(|s| s.as_str().map(str::to_string)).collect())
            .ok_or_else(|| ConfigError::BadValue { path: path.clone(), key, reason: "must be a list of strings" })?;
        if !from_flag.is_empty() {
            return Err(ConfigError::Conflict(format!("{key}: (from flag: {from_flag:?}, from file: {from_file:?})")));
        }
        Ok(from_file)
    };
    let mirrors = list("registry-mirrors", &flags.registry_mirrors)?;
    let insecure = list("insecure-registries", &flags.insecure_registries)?;
    let mut cfg = RegistryConfig::new(&mirrors, &insecure)?;
    if let Some(v) = file.get("max-concurrent-downloads") {
        let n = v.as_u64().filter(|n| *n >= 1).ok_or(ConfigError::BadValue {
            path,
            key: "max-concurrent-downloads",
            reason: "must be a positive integer",
        })?;
        cfg.max_concurrent_downloads = usize::try_from(n).unwrap_or(usize::MAX);
    }
    Ok(cfg)
}

fn read(path: &Path) -> Result<Map<String, Value>, ConfigError> {
    let text = std::fs::read(path).map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
    match serde_json::from_slice(&text).map_err(|source| ConfigError::Json { path: path.to_path_buf(), source })? {
        Value::Object(m) => Ok(m),
        _ => Err(ConfigError::NotAnObject { path: path.to_path_buf() }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_file(text: &str) -> (tempfile::TempDir, Flags) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("daemon.json");
        std::fs::write(&path, text).unwrap();
        (dir, Flags { config_file: Some(path), ..Default::default() })
    }

    fn mirrors(cfg: &RegistryConfig) -> serde_json::Value {
        serde_json::to_value(cfg.service_config()).unwrap()["Mirrors"].clone()
    }

    #[test]
    fn the_file_sets_mirrors_insecure_registries_and_downloads() {
        let (_d, flags) = with_file(
            r#"{"registry-mirrors": ["http://127.0.0.1:5000"], "insecure-registries": ["myreg:5000"],
                "max-concurrent-downloads": 5}"#,
        );
        let cfg = registry_config(&flags).unwrap();
        assert_eq!(mirrors(&cfg), serde_json::json!(["http://127.0.0.1:5000/"]));
        let info = serde_json::to_value(cfg.service_config()).unwrap();
        assert_eq!(info["IndexConfigs"]["myreg:5000"]["Secure"], false);
        assert_eq!(cfg.max_concurrent_downloads, 5);
    }

    #[test]
    fn flags_alone_and_no_file_are_fine() {
        let flags = Flags { registry_mirrors: vec!["https://m.example".into()], ..Default::default() };
        assert_eq!(mirrors(&registry_config(&flags).unwrap()), serde_json::json!(["https://m.example/"]));
        assert_eq!(mirrors(&registry_config(&Flags::default()).unwrap()), serde_json::json!([]));
    }

    #[test]
    fn a_setting_in_both_places_is_refused() {
        let (_d, mut flags) = with_file(r#"{"registry-mirrors": ["http://a.example"]}"#);
        flags.registry_mirrors = vec!["http://b.example".into()];
        let e = registry_config(&flags).unwrap_err().to_string();
        assert!(e.contains("specified both as a flag and in the configuration file: registry-mirrors"), "{e}");
        // A flag for another setting does not conflict.
        flags.registry_mirrors.clear();
        flags.insecure_registries = vec!["myreg:5000".into()];
        assert!(registry_config(&flags).is_ok());
    }

    #[test]
    fn unknown_keys_and_bad_values_are_refused() {
        let (_d, flags) = with_file(r#"{"debug": true, "registry-mirror": []}"#);
        let e = registry_config(&flags).unwrap_err().to_string();
        assert_eq!(e, "the following directives don't match any configuration option: debug, registry-mirror");
        let (_d, flags) = with_file(r#"{"registry-mirrors": "http://a.example"}"#);
        assert!(registry_config(&flags).unwrap_err().to_string().contains("must be a list of strings"));
        let (_d, flags) = with_file(r#"{"registry-mirrors": ["a.example"]}"#);
        assert!(matches!(registry_config(&flags), Err(ConfigError::Registry(SettingsError::MirrorNoScheme(_)))));
        let (_d, flags) = with_file(r#"{"max-concurrent-downloads": 0}"#);
        assert!(registry_config(&flags).unwrap_err().to_string().contains("positive integer"));
        let (_d, flags) = with_file("[1]");
        assert!(matches!(registry_config(&flags), Err(ConfigError::NotAnObject { .. })));
        let (_d, flags) = with_file("{");
        assert!(matches!(registry_config(&flags), Err(ConfigError::Json { .. })));
        let missing = Flags { config_file: Some("/nonexistent/daemon.json".into()), ..Default::default() };
        assert!(registry_config(&missing).unwrap_err().to_string().contains("/nonexistent/daemon.json"));
    }
}
