//! Volumes as the engine serves them: create, list (with the filters'
//! `dangling`, which needs the containers), inspect, remove (refused while
//! a container uses the volume), prune, the volumes of `/system/df`, and
//! the anonymous volumes that go with a removed container (`rm -v`,
//! `--rm`).
//!
//! Owns those cross-resource rules; the records and the local driver are
//! `crate::volume`'s, which learns who uses a volume only from here. It
//! must never speak HTTP.

use std::sync::{Arc, Weak};

use bollard_stubs::models::{Volume, VolumeCreateOptions, VolumeListResponse, VolumePruneResponse};

use super::{Engine, EngineError};
use crate::container::Containers;
use crate::volume::filters::{self, Filters};
use crate::volume::{CreateVolume, Volumes};

/// The containers (any state) whose mounts use the volume `name`.
pub(super) fn users_of(containers: &Containers, name: &str) -> Vec<String> {
    containers
        .all()
        .into_iter()
        .filter(|c| c.record().mounts.iter().any(|m| m.volume() == Some(name)))
        .map(|c| c.id.clone())
        .collect()
}

/// The anonymous volumes of a container no other container uses.
fn anonymous_of(
    volumes: &Volumes,
    containers: &Containers,
    rec: &crate::container::record::ContainerRecord,
) -> Vec<String> {
    rec.mounts
        .iter()
        .filter_map(|m| m.volume())
        .filter(|n| volumes.get(n).is_ok_and(|v| v.anonymous()))
        .filter(|n| users_of(containers, n).iter().all(|u| *u == rec.id))
        .map(String::from)
        .collect()
}

impl Engine {
    /// From now on an `--rm` container the container domain removes on its
    /// own takes its anonymous volumes with it, as Docker's.
    pub(super) fn drop_anonymous_volumes_of_auto_removed(&self) {
        let (weak, volumes): (Weak<Containers>, Arc<Volumes>) =
            (Arc::downgrade(&self.containers), self.volumes.clone());
        self.containers.on_auto_removed(Box::new(move |rec| {
            let Some(containers) = weak.upgrade() else { return };
            for name in anonymous_of(&volumes, &containers, rec) {
                match volumes.remove(&name, &users_of(&containers, &name), true) {
                    Ok(()) => {
                        let attrs = std::collections::HashMap::from([("driver".to_string(), "local".to_string())]);
                        containers.events.publish(
                            bollard_stubs::models::EventMessageTypeEnum::VOLUME,
                            "destroy",
                            &name,
                            attrs,
                        );
                    }
                    Err(e) => tracing::warn!(%name, error = %e, "removing an --rm container's anonymous volume"),
                }
            }
        }));
    }

    /// `POST /volumes/create`.
    pub fn create_volume(&self, req: VolumeCreateOptions) -> Result<Volume, EngineError> {
        if req.cluster_volume_spec.is_some() {
            return Err(EngineError::unavailable("cluster volumes need swarm mode"));
        }
        let req = CreateVolume {
            name: req.name.unwrap_or_default(),
            driver: req.driver.unwrap_or_default(),
            options: req.driver_opts.unwrap_or_default(),
            labels: req.labels.unwrap_or_default(),
        };
        let rec = self.create_volume_record(req)?;
        Ok(self.volumes.model(&rec, None))
    }

    /// `GET /volumes`.
    pub fn list_volumes(&self, f: &Filters) -> Result<VolumeListResponse, EngineError> {
        filters::validate_list(f).map_err(|e| EngineError::invalid(e.to_string()))?;
        let volumes = self
            .volumes
            .list()
            .into_iter()
            .filter(|r| filters::matches(f, r, !users_of(&self.containers, &r.name).is_empty()))
            .map(|r| self.volumes.model(&r, None))
            .collect();
        Ok(VolumeListResponse { volumes: Some(volumes), warnings: Some(Vec::new()) })
    }

    /// `GET /volumes/{name}`.
    pub fn volume_view(&self, name: &str) -> Result<Volume, EngineError> {
        let rec = self.volumes.get(name)?;
        Ok(self.volumes.model(&rec, None))
    }

    /// `DELETE /volumes/{name}?force=`: a volume no container uses (409
    /// otherwise, `force` or not); `force` makes a missing one no error.
    pub fn remove_volume(&self, name: &str, force: bool) -> Result<(), EngineError> {
        let exists = self.volumes.get(name).is_ok();
        self.volumes.remove(name, &users_of(&self.containers, name), force)?;
        if exists {
            self.publish_volume_destroy(name);
        }
        Ok(())
    }

    /// `POST /volumes/prune`: unused volumes the filters select (anonymous
    /// ones only unless `all`, from API 1.42 on), and the bytes they held.
    pub fn prune_volumes(&self, f: &Filters, all_by_default: bool) -> Result<VolumePruneResponse, EngineError> {
        let selected = filters::prune_selector(f, all_by_default).map_err(|e| EngineError::invalid(e.to_string()))?;
        let mut deleted = Vec::new();
        let mut reclaimed = 0u64;
        for rec in self.volumes.list().into_iter().filter(|r| selected(r)) {
            let users = users_of(&self.containers, &rec.name);
            if !users.is_empty() {
                continue;
            }
            let size = self.volumes.size(&rec.name);
            match self.volumes.remove(&rec.name, &users, false) {
                Ok(()) => {
                    self.publish_volume_destroy(&rec.name);
                    reclaimed += size;
                    deleted.push(rec.name);
                }
                Err(e) => tracing::warn!(name = %rec.name, error = %e, "pruning a volume"),
            }
        }
        self.containers.events.publish(
            bollard_stubs::models::EventMessageTypeEnum::VOLUME,
            "prune",
            "",
            std::collections::HashMap::from([("reclaimed".to_string(), reclaimed.to_string())]),
        );
        Ok(VolumePruneResponse {
            volumes_deleted: Some(deleted),
            space_reclaimed: Some(i64::try_from(reclaimed).unwrap_or(i64::MAX)),
        })
    }

    /// Every volume with its `UsageData` (size, containers using it), for
    /// `/system/df`.
    pub(super) fn volumes_with_usage(&self) -> Vec<Volume> {
        self.volumes
            .list()
            .into_iter()
            .map(|r| {
                let size = i64::try_from(self.volumes.size(&r.name)).unwrap_or(i64::MAX);
                let refs = i64::try_from(users_of(&self.containers, &r.name).len()).unwrap_or(i64::MAX);
                self.volumes.model(&r, Some((size, refs)))
            })
            .collect()
    }

    /// The anonymous volumes of a container about to be removed with `-v`.
    pub(super) fn anonymous_volumes_of(&self, rec: &crate::container::record::ContainerRecord) -> Vec<String> {
        anonymous_of(&self.volumes, &self.containers, rec)
    }
}
