//! The engine's volumes as Docker's object model: named and anonymous
//! volumes of the `local` driver, each a directory
//! `<root>/volumes/<name>/_data` with its record `volume.json` beside it
//! (written atomically: a crash leaves the volume or no volume), kept
//! across engine restarts; create, inspect, list, remove and what a volume
//! holds (`UsageData.Size`). Also the parsing of Docker's mount
//! specifications (`spec`).
//!
//! It knows containers only through the users the engine passes in (a
//! volume in use is refused removal): it must never import the container,
//! image, network or runtime modules, nor speak HTTP.

pub mod error;
pub mod filters;
pub mod local;
pub mod name;
pub mod spec;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use bollard_stubs::models::{Volume, VolumeScopeEnum, VolumeUsageData};

pub use error::VolumeError;

/// The label Docker puts on an anonymous volume.
pub const ANONYMOUS_LABEL: &str = "com.docker.volume.anonymous";
const RECORD_FILE: &str = "volume.json";

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct VolumeRecord {
    pub name: String,
    pub driver: String,
    /// RFC 3339, seconds, as Docker's `CreatedAt`.
    pub created: String,
    pub labels: HashMap<String, String>,
    /// The driver's options (`type`, `o`, `device`).
    pub options: HashMap<String, String>,
}

impl VolumeRecord {
    pub fn anonymous(&self) -> bool {
        self.labels.contains_key(ANONYMOUS_LABEL)
    }
}

/// What a volume create asks for.
#[derive(Clone, Debug, Default)]
pub struct CreateVolume {
    /// Empty: an anonymous volume with a random name.
    pub name: String,
    pub driver: String,
    pub options: HashMap<String, String>,
    pub labels: HashMap<String, String>,
}

pub struct Volumes {
    dir: PathBuf,
    records: Mutex<BTreeMap<String, VolumeRecord>>,
}

impl Volumes {
    /// Loads `<root>/volumes/`. A directory without a readable record (a
    /// create that crashed before its record was written) is skipped with a
    /// warning, never fatal.
    pub fn open(root: &Path) -> Result<Volumes, VolumeError> {
        let dir = root.join("volumes");
        std::fs::create_dir_all(&dir).map_err(VolumeError::io("create", &dir))?;
        let mut records = BTreeMap::new();
        for entry in std::fs::read_dir(&dir).map_err(VolumeError::io("read", &dir))?.flatten() {
            let path = entry.path().join(RECORD_FILE);
            let rec: Option<VolumeRecord> = std::fs::read(&path).ok().and_then(|b| serde_json::from_slice(&b).ok());
            match rec {
                Some(r) if entry.file_name().to_str() == Some(r.name.as_str()) => {
                    records.insert(r.name.clone(), r);
                }
                _ => tracing::warn!(path = %entry.path().display(), "volume without a readable record skipped"),
            }
        }
        Ok(Volumes { dir, records: Mutex::new(records) })
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, VolumeRecord>> {
        self.records.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `<root>/volumes/<name>/_data`: what containers mount.
    pub fn mountpoint(&self, name: &str) -> PathBuf {
        self.dir.join(name).join("_data")
    }

    /// Creates a volume; a name that exists with the same driver is that
    /// volume (Docker's create is idempotent). The second value says
    /// whether it was made now.
    pub fn create(&self, req: CreateVolume) -> Result<(VolumeRecord, bool), VolumeError> {
        let name = if req.name.is_empty() { name::anonymous()? } else { req.name.clone() };
        name::validate(&name)?;
        let driver = if req.driver.is_empty() { "local".to_string() } else { req.driver.clone() };
        if driver != "local" {
            return Err(VolumeError::UnknownDriver { name, driver });
        }
        local::validate(&name, &req.options)?;
        let mut recs = self.lock();
        if let Some(r) = recs.get(&name) {
            return Ok((r.clone(), false));
        }
        let rec = VolumeRecord {
            name: name.clone(),
            driver,
            created: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            labels: req.labels,
            options: req.options,
        };
        let vdir = self.dir.join(&name);
        let data = vdir.join("_data");
        std::fs::create_dir_all(&data).map_err(VolumeError::io("create", &data))?;
        let bytes = serde_json::to_vec_pretty(&rec).map_err(|e| VolumeError::io("encode", &vdir)(e.into()))?;
        if let Err(e) = crate::durable::write_atomic(&vdir.join(RECORD_FILE), &bytes) {
            let _ = std::fs::remove_dir_all(&vdir);
            return Err(VolumeError::io("write", vdir.join(RECORD_FILE))(e));
        }
        recs.insert(name.clone(), rec.clone());
        tracing::info!(%name, anonymous = rec.anonymous(), "volume created");
        Ok((rec, true))
    }

    pub fn get(&self, name: &str) -> Result<VolumeRecord, VolumeError> {
        self.lock().get(name).cloned().ok_or_else(|| VolumeError::NotFound(name.to_string()))
    }

    pub fn list(&self) -> Vec<VolumeRecord> {
        self.lock().values().cloned().collect()
    }

    /// Mounts the volume's device (the local driver's options), if it has
    /// one and it is not mounted yet: before a container uses the volume.
    pub fn ensure_mounted(&self, name: &str) -> Result<PathBuf, VolumeError> {
        let rec = self.get(name)?;
        let data = self.mountpoint(name);
        local::mount(&rec.options, &data)?;
        Ok(data)
    }

    /// Removes a volume that `users` (the containers that use it, as the
    /// engine knows them) is empty for; with `force` a volume that does
    /// not exist is no error (Docker's `rm -f`).
    pub fn remove(&self, name: &str, users: &[String], force: bool) -> Result<(), VolumeError> {
        let mut recs = self.lock();
        if !recs.contains_key(name) {
            return if force { Ok(()) } else { Err(VolumeError::NotFound(name.to_string())) };
        }
        if !users.is_empty() {
            return Err(VolumeError::InUse { name: name.to_string(), users: users.join(", ") });
        }
        let vdir = self.dir.join(name);
        local::unmount(&vdir.join("_data"))?;
        // The record goes first: a crash mid-way leaves no half volume.
        let record = vdir.join(RECORD_FILE);
        match std::fs::remove_file(&record) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(VolumeError::io("remove", record)(e)),
        }
        recs.remove(name);
        if let Err(e) = std::fs::remove_dir_all(&vdir) {
            tracing::warn!(%name, error = %e, "removing a volume's data");
        }
        tracing::info!(%name, "volume removed");
        Ok(())
    }

    /// Bytes the volume's files hold (each inode once, symlinks not
    /// followed): `UsageData.Size`.
    pub fn size(&self, name: &str) -> u64 {
        let mut seen = std::collections::HashSet::new();
        dir_size(&self.mountpoint(name), &mut seen)
    }

    /// Docker's model of a volume; `usage` is `(size, ref count)` when the
    /// caller measured it (`/system/df`).
    pub fn model(&self, rec: &VolumeRecord, usage: Option<(i64, i64)>) -> Volume {
        Volume {
            name: rec.name.clone(),
            driver: rec.driver.clone(),
            mountpoint: self.mountpoint(&rec.name).display().to_string(),
            created_at: Some(rec.created.clone()),
            status: None,
            labels: rec.labels.clone(),
            scope: Some(VolumeScopeEnum::LOCAL),
            cluster_volume: None,
            options: rec.options.clone(),
            usage_data: usage.map(|(size, ref_count)| VolumeUsageData { size, ref_count }),
        }
    }
}

fn dir_size(dir: &Path, seen: &mut std::collections::HashSet<(u64, u64)>) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    let mut total = 0;
    for e in entries.flatten() {
        let Ok(md) = e.path().symlink_metadata() else { continue };
        if md.is_dir() {
            total += dir_size(&e.path(), seen);
        } else if md.is_file() && seen.insert((md.dev(), md.ino())) {
            total += md.len();
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(name: &str) -> CreateVolume {
        CreateVolume { name: name.into(), ..Default::default() }
    }

    #[test]
    fn create_is_idempotent_and_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let v = Volumes::open(dir.path()).unwrap();
        let labels = HashMap::from([("a".to_string(), "1".to_string())]);
        let (rec, made) = v.create(CreateVolume { labels: labels.clone(), ..named("data") }).unwrap();
        assert!(made);
        assert_eq!(rec.driver, "local");
        assert!(v.mountpoint("data").is_dir());
        assert_eq!(v.mountpoint("data"), dir.path().join("volumes/data/_data"));
        let (again, made) = v.create(named("data")).unwrap();
        assert!(!made);
        assert_eq!(again, rec);
        std::fs::write(v.mountpoint("data").join("f"), "12345").unwrap();
        assert_eq!(v.size("data"), 5);
        let (anon, _) = v.create(CreateVolume::default()).unwrap();
        assert_eq!(anon.name.len(), 64);
        drop(v);
        let v = Volumes::open(dir.path()).unwrap();
        assert_eq!(v.get("data").unwrap().labels, labels);
        assert_eq!(v.list().len(), 2);
        let m = v.model(&v.get("data").unwrap(), None);
        assert_eq!(m.scope, Some(VolumeScopeEnum::LOCAL));
        assert!(m.mountpoint.ends_with("volumes/data/_data"));
    }

    #[test]
    fn bad_input_creates_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let v = Volumes::open(dir.path()).unwrap();
        assert!(matches!(v.create(named("a/b")), Err(VolumeError::InvalidName(_))));
        assert!(matches!(v.create(named("..")), Err(VolumeError::InvalidName(_))));
        let nfs = CreateVolume { driver: "nfs".into(), ..named("vv") };
        assert!(matches!(v.create(nfs), Err(VolumeError::UnknownDriver { .. })));
        let opt = CreateVolume { options: HashMap::from([("x".into(), "y".into())]), ..named("vv") };
        assert!(matches!(v.create(opt), Err(VolumeError::InvalidOption { .. })));
        assert!(v.list().is_empty());
        assert_eq!(std::fs::read_dir(dir.path().join("volumes")).unwrap().count(), 0);
    }

    #[test]
    fn remove_refuses_a_volume_in_use() {
        let dir = tempfile::tempdir().unwrap();
        let v = Volumes::open(dir.path()).unwrap();
        v.create(named("data")).unwrap();
        let e = v.remove("data", &["c1".into()], false).unwrap_err();
        assert_eq!(e.to_string(), "remove data: volume is in use - [c1]");
        v.remove("data", &[], false).unwrap();
        assert!(!dir.path().join("volumes/data").exists());
        assert!(matches!(v.remove("data", &[], false), Err(VolumeError::NotFound(_))));
        v.remove("data", &[], true).unwrap();
    }
}
