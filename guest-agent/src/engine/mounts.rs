//! Where containers meet volumes: the mounts a create plans (its `Binds`,
//! `Mounts`, `VolumesFrom`, `Config.Volumes` and the image's `VOLUME`s, in
//! moby's order of precedence), the volumes that creates on the way, the
//! devices mounted before a start, and what a path of a container means
//! when a mount covers it (`docker cp`).
//!
//! Owns those cross-resource rules; the parsing of a specification and the
//! volume records are `crate::volume`'s, the container's record is
//! `crate::container`'s. It must never speak HTTP.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use bollard_stubs::models::{ContainerCreateBody, EventMessageTypeEnum, MountPoint, MountPointTypeEnum};

use super::{Engine, EngineError};
use crate::container::mounts::MountRecord;
use crate::volume::spec::{self, MountSpec, Source};
use crate::volume::{ANONYMOUS_LABEL, CreateVolume, VolumeError, VolumeRecord};

/// A create's mounts, and the anonymous volumes made for them (removed
/// again if the create fails).
pub struct PlannedMounts {
    pub mounts: Vec<MountRecord>,
    pub anonymous: Vec<String>,
}

/// A destination a user's `Binds` and `Mounts` name twice.
fn duplicate(dst: &str) -> EngineError {
    EngineError::invalid(format!("Duplicate mount point: {dst}"))
}

/// `c` or `c:ro`/`c:rw` of `VolumesFrom`.
fn split_volumes_from(spec: &str) -> Result<(&str, Option<bool>), EngineError> {
    match spec.split_once(':') {
        None => Ok((spec, None)),
        Some((c, "ro")) => Ok((c, Some(false))),
        Some((c, "rw")) => Ok((c, Some(true))),
        Some((_, m)) => Err(EngineError::invalid(format!("invalid mode for volumes-from: {m}"))),
    }
}

impl Engine {
    /// Plans the mounts of a create: `VolumesFrom` first, the user's
    /// `Binds` and `Mounts` over them, then an anonymous volume for every
    /// `Config.Volumes` and image `VOLUME` destination still free. Named
    /// volumes that do not exist are created (as Docker's `-v name:/p`). An
    /// image that cannot be resolved plans nothing: the create reports it.
    pub(super) fn plan_mounts(&self, body: &ContainerCreateBody) -> Result<PlannedMounts, EngineError> {
        let host = body.host_config.clone().unwrap_or_default();
        let image = body.image.clone().unwrap_or_default();
        let Ok((image_cfg, _)) = self.containers.image_config(&image) else {
            return Ok(PlannedMounts { mounts: Vec::new(), anonymous: Vec::new() });
        };
        let mut from: BTreeMap<String, MountRecord> = BTreeMap::new();
        for entry in host.volumes_from.as_deref().unwrap_or_default() {
            let (key, rw) = split_volumes_from(entry)?;
            // moby's 400, not a 404 (on which the docker CLI would pull).
            let other = self.containers.get(key).map_err(|e| EngineError::invalid(e.to_string()))?;
            for mut m in other.record().mounts {
                if let Some(rw) = rw {
                    m.point.rw = Some(rw);
                    m.point.mode = Some(if rw { "rw" } else { "ro" }.to_string());
                }
                from.insert(m.destination().to_string(), m);
            }
        }
        // The user's own specifications, checked before anything is made.
        let mut user: BTreeMap<String, MountSpec> = BTreeMap::new();
        let binds = host.binds.as_deref().unwrap_or_default().iter().map(|b| spec::parse_bind(b));
        let mounts = host.mounts.as_deref().unwrap_or_default().iter().map(spec::parse_mount);
        for s in binds.chain(mounts) {
            let s = s?;
            if user.contains_key(&s.destination) {
                return Err(duplicate(&s.destination));
            }
            from.remove(&s.destination);
            user.insert(s.destination.clone(), s);
        }
        let mut volumes: Vec<String> = body.volumes.clone().unwrap_or_default();
        volumes.extend(image_cfg.volumes.clone().unwrap_or_default());
        for dst in volumes {
            let dst = if dst.len() > 1 { dst.trim_end_matches('/').to_string() } else { dst };
            if !user.contains_key(&dst) && !from.contains_key(&dst) {
                user.insert(dst.clone(), spec::anonymous(&dst)?);
            }
        }
        let mut planned = PlannedMounts { mounts: from.into_values().collect(), anonymous: Vec::new() };
        for s in user.into_values() {
            match self.resolve_mount(s, &mut planned.anonymous) {
                Ok(m) => planned.mounts.push(m),
                Err(e) => {
                    self.drop_volumes(&planned.anonymous);
                    return Err(e);
                }
            }
        }
        planned.mounts.sort_by(|a, b| a.destination().cmp(b.destination()));
        Ok(planned)
    }

    /// One specification made real: its volume created (and mounted, for
    /// a local volume with a device), its bind source checked.
    fn resolve_mount(&self, s: MountSpec, anonymous: &mut Vec<String>) -> Result<MountRecord, EngineError> {
        let mut point = MountPoint {
            destination: Some(s.destination.clone()),
            mode: Some(s.mode.clone()),
            rw: Some(!s.readonly),
            propagation: Some(String::new()),
            ..Default::default()
        };
        let mut rec = MountRecord::default();
        match s.source {
            Source::Volume { name, driver, options, mut labels, nocopy } => {
                if name.is_none() {
                    labels.insert(ANONYMOUS_LABEL.to_string(), String::new());
                }
                let req = CreateVolume { name: name.clone().unwrap_or_default(), driver, options, labels };
                let vol = self.create_volume_record(req)?;
                if name.is_none() {
                    anonymous.push(vol.name.clone());
                }
                let source = self.volumes.ensure_mounted(&vol.name)?;
                point.typ = Some(MountPointTypeEnum::VOLUME);
                point.name = Some(vol.name.clone());
                point.driver = Some(vol.driver);
                point.source = Some(source.display().to_string());
                rec.copy_data = !nocopy;
            }
            Source::Bind { path, propagation, create } => {
                // In a machine the path is the user's host's (a share).
                self.host_shares
                    .check_bind(&path)
                    .map_err(|e| EngineError::invalid(format!("invalid mount config for type \"bind\": {e}")))?;
                if std::fs::symlink_metadata(&path).is_err() {
                    if !create {
                        return Err(EngineError::invalid(format!(
                            "invalid mount config for type \"bind\": bind source path does not exist: {path}"
                        )));
                    }
                    std::fs::create_dir_all(&path).map_err(|e| {
                        EngineError::invalid(format!("error while creating mount source path '{path}': {e}"))
                    })?;
                }
                point.typ = Some(MountPointTypeEnum::BIND);
                point.source = Some(path);
                point.propagation = Some(propagation);
            }
            Source::Tmpfs { options } => {
                point.typ = Some(MountPointTypeEnum::TMPFS);
                point.source = Some(String::new());
                rec.tmpfs_options = options;
            }
        }
        rec.point = point;
        Ok(rec)
    }

    /// Creates (or finds) a volume and publishes Docker's `create` event for
    /// a new one.
    pub(super) fn create_volume_record(&self, req: CreateVolume) -> Result<VolumeRecord, EngineError> {
        let (vol, made) = self.volumes.create(req)?;
        if made {
            let attrs = HashMap::from([("driver".to_string(), vol.driver.clone())]);
            self.containers.events.publish(EventMessageTypeEnum::VOLUME, "create", &vol.name, attrs);
        }
        Ok(vol)
    }

    /// Removes volumes no container uses (the anonymous ones of a failed
    /// create, of `rm -v`); failures are logged, never fatal.
    pub(super) fn drop_volumes(&self, names: &[String]) {
        for name in names {
            let users = super::volumes::users_of(&self.containers, name);
            match self.volumes.remove(name, &users, true) {
                Ok(()) => self.publish_volume_destroy(name),
                Err(VolumeError::InUse { .. }) => {}
                Err(e) => tracing::warn!(%name, error = %e, "removing an anonymous volume"),
            }
        }
    }

    pub(super) fn publish_volume_destroy(&self, name: &str) {
        let attrs = HashMap::from([("driver".to_string(), "local".to_string())]);
        self.containers.events.publish(EventMessageTypeEnum::VOLUME, "destroy", name, attrs);
    }

    /// Before a start: the devices of the container's local volumes mounted
    /// on their `_data` (a tmpfs volume after an engine restart).
    pub(super) fn mount_volumes_of(&self, mounts: &[MountRecord]) -> Result<(), EngineError> {
        for name in mounts.iter().filter_map(MountRecord::volume) {
            self.volumes.ensure_mounted(name)?;
        }
        Ok(())
    }

    /// At recovery: every volume a container uses, mounted (failures are
    /// the start's to report).
    pub(super) fn mount_volumes_in_use(&self) {
        for c in self.containers.all() {
            if let Err(e) = self.mount_volumes_of(&c.record().mounts) {
                tracing::warn!(id = %c.id, error = %e, "mounting a container's volumes");
            }
        }
    }

    /// Where a container path lies when a bind or volume covers it: the
    /// mount's host directory, the rest of the path below it, and whether
    /// the mount is read-only. None when no mount covers it (the path is
    /// the container's root filesystem's). Docker resolves mount points the
    /// same way, by the path as given.
    pub(super) fn mount_covering(
        &self,
        key: &str,
        path: &str,
    ) -> Result<Option<(PathBuf, PathBuf, bool)>, EngineError> {
        let c = self.container(key)?;
        let clean: PathBuf = Path::new("/").join(path).components().collect();
        let best = c
            .record()
            .mounts
            .into_iter()
            .filter(|m| matches!(m.point.typ, Some(MountPointTypeEnum::VOLUME | MountPointTypeEnum::BIND)))
            .filter(|m| clean.starts_with(m.destination()))
            .max_by_key(|m| m.destination().len());
        Ok(best.map(|m| {
            let rest = clean.strip_prefix(m.destination()).map(Path::to_path_buf).unwrap_or_default();
            let source = PathBuf::from(m.point.source.clone().unwrap_or_default());
            (source, Path::new("/").join(rest), m.point.rw == Some(false))
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volumes_from_modes() {
        assert_eq!(split_volumes_from("c1").unwrap(), ("c1", None));
        assert_eq!(split_volumes_from("c1:ro").unwrap(), ("c1", Some(false)));
        assert_eq!(split_volumes_from("c1:rw").unwrap(), ("c1", Some(true)));
        assert!(split_volumes_from("c1:zz").is_err());
    }
}
