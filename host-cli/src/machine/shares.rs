//! A machine's host folders: what `berth machine create --mount
//! HOST[:GUEST][:ro]` records (by default the user's home directory at the
//! same path, as Docker Desktop, Colima and Lima share it, so a host path
//! given to `docker run -v` means the same files in the VM), and how each
//! is announced to the guest (a `berth.share=` word on the kernel command
//! line, which the agent mounts from).
//!
//! Owns the checks a share passes at create time and the command-line
//! encoding; running the daemons that serve them is `virtiofsd`'s.

use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Guest paths a share may not be mounted on: the VM's own.
const RESERVED: &[&str] = &["/proc", "/sys", "/dev", "/run", "/var/run", "/var/lib/berth", "/lib/modules"];

/// One shared folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Share {
    /// The folder on the host (absolute, symlinks resolved).
    pub host: PathBuf,
    /// Where the guest mounts it.
    pub guest: PathBuf,
    #[serde(default)]
    pub read_only: bool,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ShareError {
    #[error("--mount {0:?}: expected HOST[:GUEST][:ro|rw]")]
    Syntax(String),
    #[error("--mount {spec:?}: {path} must be an absolute path")]
    NotAbsolute { spec: String, path: String },
    #[error("--mount {spec:?}: the host folder {path} {why}")]
    Host { spec: String, path: String, why: String },
    #[error("--mount {spec:?}: {path} is the VM's own, a share cannot be mounted there")]
    Reserved { spec: String, path: String },
    #[error("two --mount options share into {0}")]
    DuplicateGuest(PathBuf),
}

impl Share {
    /// Parses and checks `HOST[:GUEST][:ro|rw]`: the host folder must
    /// exist (it is resolved to its real path), both paths be absolute.
    pub fn parse_flag(spec: &str) -> Result<Share, ShareError> {
        let mut parts: Vec<&str> = spec.split(':').collect();
        let read_only = match parts.last() {
            Some(&"ro") if parts.len() > 1 => {
                parts.pop();
                true
            }
            Some(&"rw") if parts.len() > 1 => {
                parts.pop();
                false
            }
            _ => false,
        };
        let (host, guest) = match parts.as_slice() {
            [h] => (*h, *h),
            [h, g] => (*h, *g),
            _ => return Err(ShareError::Syntax(spec.into())),
        };
        for p in [host, guest] {
            if !Path::new(p).is_absolute() {
                return Err(ShareError::NotAbsolute { spec: spec.into(), path: p.into() });
            }
        }
        let host_err = |why: String| ShareError::Host { spec: spec.into(), path: host.into(), why };
        let real = std::fs::canonicalize(host).map_err(|e| host_err(format!("cannot be used: {e}")))?;
        if !real.is_dir() {
            return Err(host_err("is not a directory".into()));
        }
        let guest = normalized(Path::new(guest));
        if guest == Path::new("/") || RESERVED.iter().any(|r| guest.starts_with(r)) {
            return Err(ShareError::Reserved { spec: spec.into(), path: guest.display().to_string() });
        }
        // The default guest path is the host path as given, so that what
        // the user types on the host names the same files in the VM.
        Ok(Share { host: real, guest, read_only })
    }

    /// The virtio-fs tag of the `index`th share.
    pub fn tag(index: usize) -> String {
        format!("berth{index}")
    }

    /// The agent's `berth.share=TAG,ro|rw,GUEST,HOST` word.
    pub fn cmdline_word(&self, index: usize) -> String {
        let mode = if self.read_only { "ro" } else { "rw" };
        format!(
            "berth.share={},{mode},{},{}",
            Self::tag(index),
            percent_encode(&self.guest.to_string_lossy()),
            percent_encode(&self.host.to_string_lossy())
        )
    }
}

/// The shares a machine gets when `--mount` is not given: the user's home
/// directory at its own path, when there is one to share.
pub fn default_shares() -> Vec<Share> {
    let Some(home) = std::env::var_os("HOME").map(PathBuf::from) else { return Vec::new() };
    if home == Path::new("/") || !home.is_absolute() {
        return Vec::new();
    }
    Share::parse_flag(&home.to_string_lossy()).map(|s| vec![s]).unwrap_or_default()
}

/// Checks a set of shares for two on the same guest path.
pub fn check_all(shares: &[Share]) -> Result<(), ShareError> {
    for (i, s) in shares.iter().enumerate() {
        if shares[..i].iter().any(|o| o.guest == s.guest) {
            return Err(ShareError::DuplicateGuest(s.guest.clone()));
        }
    }
    Ok(())
}

/// `/a/./b/` → `/a/b` (no `..` resolution: such a path is taken as given).
fn normalized(p: &Path) -> PathBuf {
    p.components().filter(|c| !matches!(c, Component::CurDir)).collect()
}

/// Bytes outside a safe set become `%XX`: a kernel command line word
/// ends at whitespace, and `,` separates the word's fields.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"/._-~+@".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_parse_with_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().to_str().unwrap();
        let real = std::fs::canonicalize(d).unwrap();
        let s = Share::parse_flag(d).unwrap();
        assert_eq!((s.host.clone(), s.guest.clone(), s.read_only), (real.clone(), PathBuf::from(d), false));
        let s = Share::parse_flag(&format!("{d}:/src:ro")).unwrap();
        assert_eq!((s.guest.clone(), s.read_only), (PathBuf::from("/src"), true));
        let s = Share::parse_flag(&format!("{d}:ro")).unwrap();
        assert!(s.read_only);
        assert_eq!(s.guest, PathBuf::from(d));
    }

    #[test]
    fn bad_shares_are_refused_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().to_str().unwrap();
        assert!(matches!(Share::parse_flag("relative/dir"), Err(ShareError::NotAbsolute { .. })));
        assert!(matches!(Share::parse_flag(&format!("{d}:rel")), Err(ShareError::NotAbsolute { .. })));
        assert!(matches!(Share::parse_flag(&format!("{d}:/a:/b:ro")), Err(ShareError::Syntax(_))));
        let e = Share::parse_flag("/nonexistent-berth-share").unwrap_err().to_string();
        assert!(e.contains("the host folder /nonexistent-berth-share cannot be used"), "{e}");
        let file = dir.path().join("f");
        std::fs::write(&file, "x").unwrap();
        assert!(Share::parse_flag(file.to_str().unwrap()).unwrap_err().to_string().contains("is not a directory"));
        for reserved in ["/", "/proc", "/run/x", "/var/lib/berth"] {
            assert!(
                matches!(Share::parse_flag(&format!("{d}:{reserved}")), Err(ShareError::Reserved { .. })),
                "{reserved}"
            );
        }
        let a = Share::parse_flag(&format!("{d}:/x")).unwrap();
        assert_eq!(check_all(&[a.clone(), a]), Err(ShareError::DuplicateGuest("/x".into())));
    }

    #[test]
    fn command_line_words_survive_spaces_and_commas() {
        let s = Share { host: "/Users/me/My Files,2".into(), guest: "/data".into(), read_only: true };
        assert_eq!(s.cmdline_word(1), "berth.share=berth1,ro,/data,/Users/me/My%20Files%2C2");
    }
}
