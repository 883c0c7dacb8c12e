//! The user's bind and tmpfs mounts, from a request's Binds, Mounts and
//! Tmpfs, checked: absolute destinations without `..`, known options.
//!
//! Named volumes are the engine's to resolve: by the time a request reaches
//! the runtime every bind has an absolute host source. Must never touch
//! the filesystem.

use std::path::PathBuf;

use bollard_stubs::models::{HostConfig, MountTypeEnum};

use crate::runtime::RuntimeError;

/// A mount the user asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UserMount {
    Bind { source: PathBuf, destination: String, readonly: bool },
    Tmpfs { destination: String, options: Vec<String> },
}

impl UserMount {
    pub fn destination(&self) -> &str {
        match self {
            UserMount::Bind { destination, .. } | UserMount::Tmpfs { destination, .. } => destination,
        }
    }

    /// Binds, Mounts and Tmpfs of a HostConfig, checked.
    pub fn from_host_config(hc: &HostConfig) -> Result<Vec<UserMount>, RuntimeError> {
        let mut out = Vec::new();
        for b in hc.binds.as_deref().unwrap_or_default() {
            out.push(parse_bind(b)?);
        }
        for m in hc.mounts.as_deref().unwrap_or_default() {
            let target = m.target.clone().unwrap_or_default();
            check_destination(&target)?;
            match m.typ {
                Some(MountTypeEnum::BIND) => {
                    let source = m.source.clone().unwrap_or_default();
                    if !source.starts_with('/') {
                        return Err(RuntimeError::InvalidRequest(format!(
                            "invalid mount config for type \"bind\": invalid mount path: '{source}' mount path must be absolute"
                        )));
                    }
                    out.push(UserMount::Bind {
                        source: source.into(),
                        destination: target,
                        readonly: m.read_only == Some(true),
                    });
                }
                Some(MountTypeEnum::TMPFS) => {
                    let mut options = Vec::new();
                    if let Some(t) = &m.tmpfs_options {
                        if let Some(size) = t.size_bytes.filter(|s| *s > 0) {
                            options.push(format!("size={size}"));
                        }
                        if let Some(mode) = t.mode {
                            options.push(format!("mode={mode:o}"));
                        }
                    }
                    if m.read_only == Some(true) {
                        options.push("ro".into());
                    }
                    out.push(UserMount::Tmpfs { destination: target, options });
                }
                ref other => {
                    return Err(RuntimeError::InvalidRequest(format!(
                        "mount type {:?} must be resolved by the engine before the runtime sees it",
                        other.map(|t| t.to_string()).unwrap_or_default()
                    )));
                }
            }
        }
        if let Some(tmpfs) = &hc.tmpfs {
            let mut keys: Vec<_> = tmpfs.keys().collect();
            keys.sort();
            for dst in keys {
                check_destination(dst)?;
                let opts = tmpfs.get(dst).map(String::as_str).unwrap_or_default();
                let options = opts.split(',').filter(|o| !o.is_empty()).map(String::from).collect();
                out.push(UserMount::Tmpfs { destination: dst.clone(), options });
            }
        }
        Ok(out)
    }
}

fn check_destination(dst: &str) -> Result<(), RuntimeError> {
    if !dst.starts_with('/') || dst.split('/').any(|c| c == "..") {
        return Err(RuntimeError::InvalidRequest(format!(
            "invalid mount config: mount path '{dst}' must be absolute and without '..'"
        )));
    }
    Ok(())
}

/// `/host:/ctr[:opts]` with opts among ro, rw, z, Z, nocopy and
/// propagation words (accepted, private is used).
fn parse_bind(spec: &str) -> Result<UserMount, RuntimeError> {
    let parts: Vec<&str> = spec.split(':').collect();
    let (src, dst, opts) = match parts.as_slice() {
        [s, d] => (*s, *d, ""),
        [s, d, o] => (*s, *d, *o),
        _ => {
            return Err(RuntimeError::InvalidRequest(format!("invalid volume specification: '{spec}'")));
        }
    };
    if !src.starts_with('/') {
        return Err(RuntimeError::InvalidRequest(format!(
            "invalid volume specification: '{spec}': named volumes must be resolved by the engine"
        )));
    }
    check_destination(dst)?;
    let mut readonly = false;
    for o in opts.split(',').filter(|o| !o.is_empty()) {
        match o {
            "ro" => readonly = true,
            "rw" | "z" | "Z" | "nocopy" | "private" | "rprivate" | "shared" | "rshared" | "slave" | "rslave" => {}
            _ => return Err(RuntimeError::InvalidRequest(format!("invalid mode: {o}"))),
        }
    }
    Ok(UserMount::Bind { source: src.into(), destination: dst.into(), readonly })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binds_parse_and_bad_ones_fail() {
        assert_eq!(
            parse_bind("/h:/c:ro").expect("valid"),
            UserMount::Bind { source: "/h".into(), destination: "/c".into(), readonly: true }
        );
        assert!(parse_bind("vol:/c").is_err(), "named volumes are the engine's");
        assert!(parse_bind("/h:rel").is_err());
        assert!(parse_bind("/h:/c/../x").is_err());
        assert!(parse_bind("/h:/c:bogus").is_err());
    }
}
