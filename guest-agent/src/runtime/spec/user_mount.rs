//! The user's mounts as the runtime takes them: binds (volumes are binds of
//! their `_data` by the time they get here, resolved by the engine) and
//! tmpfs mounts, plus the `--tmpfs` entries of a HostConfig, checked:
//! absolute destinations without `..`.
//!
//! Must never touch the filesystem, nor know what a volume is.

use std::path::PathBuf;

use bollard_stubs::models::HostConfig;

use crate::runtime::RuntimeError;

/// A mount the user asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UserMount {
    Bind {
        source: PathBuf,
        destination: String,
        readonly: bool,
        /// `rprivate` unless the user chose (`shared`, `rslave`…).
        propagation: String,
        /// A volume that takes the image's content at `destination` when
        /// it is empty (Docker's copy-up).
        copy_up: bool,
    },
    Tmpfs {
        destination: String,
        options: Vec<String>,
    },
}

impl UserMount {
    pub fn destination(&self) -> &str {
        match self {
            UserMount::Bind { destination, .. } | UserMount::Tmpfs { destination, .. } => destination,
        }
    }

    /// A plain bind (no copy-up, private propagation).
    #[cfg(test)]
    pub fn bind(source: impl Into<PathBuf>, destination: &str, readonly: bool) -> UserMount {
        UserMount::Bind {
            source: source.into(),
            destination: destination.into(),
            readonly,
            propagation: "rprivate".into(),
            copy_up: false,
        }
    }

    /// `mounts` and the HostConfig's `Tmpfs` (`--tmpfs`), checked, parents
    /// before what is mounted below them (Docker's order: by depth).
    pub fn all(mounts: &[UserMount], hc: &HostConfig) -> Result<Vec<UserMount>, RuntimeError> {
        let mut out = mounts.to_vec();
        if let Some(tmpfs) = &hc.tmpfs {
            let mut keys: Vec<_> = tmpfs.keys().collect();
            keys.sort();
            for dst in keys {
                let opts = tmpfs.get(dst).map(String::as_str).unwrap_or_default();
                let options = opts.split(',').filter(|o| !o.is_empty()).map(String::from).collect();
                out.push(UserMount::Tmpfs { destination: dst.clone(), options });
            }
        }
        for m in &out {
            check_destination(m.destination())?;
        }
        out.sort_by_key(|m| m.destination().split('/').filter(|c| !c.is_empty()).count());
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tmpfs_entries_join_and_parents_come_first() {
        let hc =
            HostConfig { tmpfs: Some([("/a/b/c".to_string(), "size=1m".to_string())].into()), ..Default::default() };
        let mounts = [UserMount::bind("/h", "/a/b/c/d", false), UserMount::bind("/h2", "/a", true)];
        let all = UserMount::all(&mounts, &hc).unwrap();
        let dsts: Vec<&str> = all.iter().map(UserMount::destination).collect();
        assert_eq!(dsts, ["/a", "/a/b/c", "/a/b/c/d"]);
        assert_eq!(all[1], UserMount::Tmpfs { destination: "/a/b/c".into(), options: vec!["size=1m".into()] });
        let bad = HostConfig { tmpfs: Some([("rel".to_string(), String::new())].into()), ..Default::default() };
        assert!(UserMount::all(&[], &bad).is_err());
        assert!(UserMount::all(&[UserMount::bind("/h", "/c/../x", false)], &HostConfig::default()).is_err());
    }
}
