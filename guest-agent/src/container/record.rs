//! A container's record: everything the engine knows about it that must
//! survive an engine restart, persisted as
//! `<engine root>/containers/<id>/config.v2.json` (Docker's file name).
//!
//! Owns the on-disk format and its atomic rewrite (`durable::write_atomic`):
//! a crash leaves the old record or the new one. It must never hold live
//! handles (shims, tasks): those are rebuilt on load.

use std::path::{Path, PathBuf};

use bollard_stubs::models::{ContainerConfig, HostConfig};

use super::state::State;

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct ContainerRecord {
    pub id: String,
    /// Without the leading `/`.
    pub name: String,
    pub created: String,
    /// The image as the user named it (`busybox`), shown by `ps`.
    pub image: String,
    /// `sha256:…` of the image config.
    pub image_id: String,
    pub path: String,
    pub args: Vec<String>,
    /// The user's config merged with the image's (Cmd, Env, WorkingDir…).
    pub config: ContainerConfig,
    pub host_config: HostConfig,
    pub state: State,
    pub restart_count: i64,
    /// Stopped or killed through the API: restart policies leave it alone
    /// (and `unless-stopped` keeps it down across engine restarts).
    pub manually_stopped: bool,
    pub log_path: PathBuf,
    /// Binds, volumes and tmpfs mounts, as the engine planned them at
    /// create (inspect's `Mounts`).
    #[serde(default)]
    pub mounts: Vec<super::mounts::MountRecord>,
}

#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("container record {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("container record {path} is unreadable: {source}")]
    Corrupt {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

pub const RECORD_FILE: &str = "config.v2.json";

/// `<root>/<id>`: the container's own directory (record, log).
pub fn dir(root: &Path, id: &str) -> PathBuf {
    root.join(id)
}

impl ContainerRecord {
    pub fn save(&self, root: &Path) -> Result<(), RecordError> {
        let d = dir(root, &self.id);
        std::fs::create_dir_all(&d).map_err(|source| RecordError::Io { path: d.clone(), source })?;
        let path = d.join(RECORD_FILE);
        let bytes =
            serde_json::to_vec_pretty(self).map_err(|source| RecordError::Corrupt { path: path.clone(), source })?;
        crate::durable::write_atomic(&path, &bytes).map_err(|source| RecordError::Io { path, source })
    }

    /// Every record under `root`. A directory without a readable record
    /// (a create interrupted before its first save, a corrupt file) is
    /// reported and skipped, never fatal: the other containers still load.
    pub fn load_all(root: &Path) -> Result<Vec<ContainerRecord>, RecordError> {
        let entries = match std::fs::read_dir(root) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => {
                return Err(RecordError::Io { path: root.to_path_buf(), source });
            }
        };
        let mut out = Vec::new();
        for entry in entries.flatten() {
            let path = entry.path().join(RECORD_FILE);
            match Self::load(&path) {
                Ok(r) if r.id == entry.file_name().to_string_lossy() => out.push(r),
                Ok(r) => {
                    tracing::warn!(path = %path.display(), id = %r.id, "record ID does not match its directory; skipped")
                }
                Err(e) => tracing::warn!(error = %e, "skipping a container record"),
            }
        }
        out.sort_by(|a, b| a.created.cmp(&b.created));
        Ok(out)
    }

    fn load(path: &Path) -> Result<ContainerRecord, RecordError> {
        let bytes = std::fs::read(path).map_err(|source| RecordError::Io { path: path.to_path_buf(), source })?;
        serde_json::from_slice(&bytes).map_err(|source| RecordError::Corrupt { path: path.to_path_buf(), source })
    }

    /// Labels (config + image), for filters and events.
    pub fn labels(&self) -> std::collections::HashMap<String, String> {
        self.config.labels.clone().unwrap_or_default()
    }

    /// Attributes Docker puts on a container's events: labels, `name`,
    /// `image`.
    pub fn event_attributes(&self) -> std::collections::HashMap<String, String> {
        let mut a = self.labels();
        a.insert("name".into(), self.name.clone());
        a.insert("image".into(), self.image.clone());
        a
    }

    /// `Path` and `Args` joined as `ps` shows them.
    pub fn command_line(&self) -> String {
        std::iter::once(self.path.as_str()).chain(self.args.iter().map(String::as_str)).collect::<Vec<_>>().join(" ")
    }
}

#[cfg(test)]
pub(crate) fn sample(id: &str, name: &str) -> ContainerRecord {
    ContainerRecord {
        id: id.into(),
        name: name.into(),
        created: super::clock::now_string(),
        image: "busybox".into(),
        image_id: "sha256:1111".into(),
        path: "sh".into(),
        args: vec!["-c".into(), "true".into()],
        config: ContainerConfig { labels: Some([("app".to_string(), "web".to_string())].into()), ..Default::default() },
        host_config: HostConfig::default(),
        state: State::default(),
        restart_count: 0,
        manually_stopped: false,
        log_path: PathBuf::from("/nonexistent"),
        mounts: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_bad_ones_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let a = sample("aaaa", "one");
        a.save(dir.path()).unwrap();
        let mut b = sample("bbbb", "two");
        b.restart_count = 2;
        b.save(dir.path()).unwrap();
        std::fs::create_dir_all(dir.path().join("cccc")).unwrap();
        std::fs::write(dir.path().join("cccc").join(RECORD_FILE), b"{not json").unwrap();
        std::fs::create_dir_all(dir.path().join("dddd")).unwrap(); // no record yet
        let all = ContainerRecord::load_all(dir.path()).unwrap();
        let names: Vec<_> = all.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["one", "two"]);
        assert_eq!(all[1].restart_count, 2);
        assert_eq!(all[0].config.labels.as_ref().unwrap()["app"], "web");
        assert!(ContainerRecord::load_all(&dir.path().join("missing")).unwrap().is_empty());
    }

    #[test]
    fn event_attributes_have_name_image_and_labels() {
        let a = sample("aaaa", "one").event_attributes();
        assert_eq!(a["name"], "one");
        assert_eq!(a["image"], "busybox");
        assert_eq!(a["app"], "web");
        assert_eq!(sample("a", "b").command_line(), "sh -c true");
    }
}
