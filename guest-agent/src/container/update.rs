//! `POST /containers/{id}/update` (`docker update`): new CPU, memory, pids
//! and block-I/O limits and a new restart policy for an existing container,
//! with Docker's checks and merge rules (moby's
//! `verifyPlatformContainerResources` and `Container.UpdateContainer`).
//!
//! Owns which values an update may change and how they merge into the
//! stored HostConfig: a zero (or absent) field keeps the stored value, a
//! non-zero one replaces it. The new limits are written into the cgroup of
//! a container that has one (the runtime does that), or, for a created
//! container whose cgroup comes with its start, right after that start;
//! then the record is saved: inspect shows the update, and every later
//! start runs with it. It must never write a cgroup file itself.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use bollard_stubs::models::{ContainerUpdateBody, HostConfig, RestartPolicyNameEnum};

use super::error::ContainerError;
use super::registry::{Container, Containers};
use super::restart::Policy;
use super::state::Status;
use crate::runtime::{Limits, Runtime};
use crate::unpoisoned::lock;

/// Docker's smallest memory limit and reservation.
const MIN_MEMORY: i64 = 6 * 1024 * 1024;

impl Containers {
    /// Applies `req` to container `c`; the warnings Docker would give.
    pub async fn update(
        &self,
        c: &Arc<Container>,
        mut req: ContainerUpdateBody,
    ) -> Result<Vec<String>, ContainerError> {
        let warnings = verify(&mut req, online_cpus()).map_err(ContainerError::Invalid)?;
        let _op = c.op.lock().await;
        let rec = c.record();
        let cannot = |why: String| ContainerError::Conflict(format!("Cannot update container {}: {why}", c.id));
        if matches!(rec.state.status, Status::Removing | Status::Dead) || c.life.borrow().removed {
            return Err(cannot("container is marked for removal and cannot be \"update\"".into()));
        }
        let mut host = rec.host_config.clone();
        merge(&mut host, &req).map_err(cannot)?;
        let limits = Limits::from_host_config(&host)?;
        let live = matches!(rec.state.status, Status::Running | Status::Paused | Status::Created) && c.shim().is_some();
        if live {
            let written = self.runtime.update_limits(&c.id, &limits).map_err(|e| ContainerError::Io {
                op: format!("Cannot update container {}", c.id),
                source: std::io::Error::other(e),
            })?;
            // A created container's shim was made with the old spec and
            // its cgroup comes with the start: the start applies these.
            if !written {
                c.limits_pending.store(true, Ordering::SeqCst);
            }
        }
        let rec = {
            let mut r = lock(&c.rec);
            r.host_config = host;
            r.clone()
        };
        rec.save(&self.root)?;
        self.events.container("update", &c.id, rec.event_attributes());
        Ok(warnings)
    }
}

impl Containers {
    /// Right after a start: the limits an update gave the container while
    /// its shim was waiting with the spec of the create.
    pub(super) fn apply_pending_limits(&self, c: &Container) {
        if !c.limits_pending.swap(false, Ordering::SeqCst) {
            return;
        }
        let applied = Limits::from_host_config(&c.record().host_config)
            .and_then(|limits| self.runtime.update_limits(&c.id, &limits));
        if let Err(e) = applied {
            tracing::warn!(id = %c.id, error = %e, "applying the limits of an update at start");
        }
    }
}

/// Docker's checks of an update's values (400 with its message), and the
/// warnings for what this kernel cannot do (the value is then dropped).
fn verify(req: &mut ContainerUpdateBody, cpus: usize) -> Result<Vec<String>, String> {
    let mut warnings = Vec::new();
    let memory = req.memory.unwrap_or(0);
    let swap = req.memory_swap.unwrap_or(0);
    let reservation = req.memory_reservation.unwrap_or(0);
    if memory != 0 && memory < MIN_MEMORY {
        return Err("Minimum memory limit allowed is 6MB".into());
    }
    if memory > 0 && swap > 0 && swap < memory {
        return Err("Minimum memoryswap limit should be larger than memory limit, see usage".into());
    }
    if let Some(s) = req.memory_swappiness.filter(|s| *s != -1)
        && !(0..=100).contains(&s)
    {
        return Err(format!("Invalid value: {s}, valid memory swappiness range is 0-100"));
    }
    if reservation > 0 && reservation < MIN_MEMORY {
        return Err("Minimum memory reservation allowed is 6MB".into());
    }
    if memory > 0 && reservation > 0 && memory < reservation {
        return Err("Minimum memory limit can not be less than memory reservation limit, see usage".into());
    }
    let (nano, period, quota) = (req.nano_cpus.unwrap_or(0), req.cpu_period.unwrap_or(0), req.cpu_quota.unwrap_or(0));
    if nano > 0 && period > 0 {
        return Err("Conflicting options: Nano CPUs and CPU Period cannot both be set".into());
    }
    if nano > 0 && quota > 0 {
        return Err("Conflicting options: Nano CPUs and CPU Quota cannot both be set".into());
    }
    if nano != 0 && (nano < 0 || nano > cpus as i64 * 1_000_000_000) {
        return Err(format!("range of CPUs is from 0.01 to {cpus}.00, as there are only {cpus} CPUs available"));
    }
    if period != 0 && !(1000..=1_000_000).contains(&period) {
        return Err("CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)".into());
    }
    if quota > 0 && quota < 1000 {
        return Err("CPU cfs quota can not be less than 1ms (i.e. 1000)".into());
    }
    if let Some(set) = req.cpuset_cpus.as_deref().filter(|s| !s.is_empty()) {
        let wanted = cpu_list(set).ok_or_else(|| format!("Invalid value {set} for cpuset cpus"))?;
        if wanted.iter().any(|c| *c >= cpus) {
            return Err(format!(
                "Requested CPUs are not available - requested {set}, available: {}",
                if cpus == 1 { "0".to_string() } else { format!("0-{}", cpus - 1) }
            ));
        }
    }
    if req.blkio_weight.is_some_and(|w| w > 0) && !Runtime::blkio_weight_supported() {
        warnings.push(
            "Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded.".into(),
        );
        req.blkio_weight = None;
    }
    if let Some(w) = req.blkio_weight.filter(|w| *w > 0)
        && !(10..=1000).contains(&w)
    {
        return Err("Range of blkio weight is from 10 to 1000".into());
    }
    if let Some(p) = req.restart_policy.as_ref().filter(|p| p.name.is_some_and(|n| n != RestartPolicyNameEnum::EMPTY)) {
        Policy::validate(Some(p), false)?;
    }
    Ok(warnings)
}

/// moby's `UpdateContainer`: each non-zero field replaces the stored one,
/// after the conflicts it refuses (409).
fn merge(host: &mut HostConfig, req: &ContainerUpdateBody) -> Result<(), String> {
    let set = |v: Option<i64>| v.filter(|v| *v != 0);
    let stored = |v: Option<i64>| v.unwrap_or(0);
    if set(req.nano_cpus).is_some_and(|n| n > 0) {
        if stored(host.cpu_period) > 0 {
            return Err("Conflicting options: Nano CPUs cannot be updated as CPU Period has already been set".into());
        }
        if stored(host.cpu_quota) > 0 {
            return Err("Conflicting options: Nano CPUs cannot be updated as CPU Quota has already been set".into());
        }
    }
    if stored(host.nano_cpus) > 0 {
        if set(req.cpu_period).is_some_and(|p| p > 0) {
            return Err("Conflicting options: CPU Period cannot be updated as NanoCPUs has already been set".into());
        }
        if set(req.cpu_quota).is_some_and(|q| q > 0) {
            return Err("Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set".into());
        }
    }
    if let Some(m) = set(req.memory) {
        // A stored swap of 0 means "no swap beyond the limit" here (the
        // spec's rule), so only an explicit swap total can be exceeded.
        let swap = stored(host.memory_swap);
        if swap > 0 && m > swap && stored(req.memory_swap) == 0 {
            return Err("Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time".into());
        }
        host.memory = Some(m);
    }
    if let Some(w) = req.blkio_weight.filter(|w| *w != 0) {
        host.blkio_weight = Some(w);
    }
    for (to, from) in [
        (&mut host.cpu_shares, req.cpu_shares),
        (&mut host.nano_cpus, req.nano_cpus),
        (&mut host.cpu_period, req.cpu_period),
        (&mut host.cpu_quota, req.cpu_quota),
        (&mut host.memory_swap, req.memory_swap),
        (&mut host.memory_reservation, req.memory_reservation),
        (&mut host.cpu_realtime_period, req.cpu_realtime_period),
        (&mut host.cpu_realtime_runtime, req.cpu_realtime_runtime),
    ] {
        if let Some(v) = set(from) {
            *to = Some(v);
        }
    }
    for (to, from) in [(&mut host.cpuset_cpus, &req.cpuset_cpus), (&mut host.cpuset_mems, &req.cpuset_mems)] {
        if let Some(v) = from.as_ref().filter(|v| !v.is_empty()) {
            *to = Some(v.clone());
        }
    }
    if req.pids_limit.is_some() {
        host.pids_limit = req.pids_limit;
    }
    if let Some(p) = req.restart_policy.as_ref().filter(|p| p.name.is_some_and(|n| n != RestartPolicyNameEnum::EMPTY)) {
        if host.auto_remove == Some(true) && p.name != Some(RestartPolicyNameEnum::NO) {
            return Err("Restart policy cannot be updated because AutoRemove is enabled for the container".into());
        }
        host.restart_policy = Some(p.clone());
    }
    Ok(())
}

/// The CPUs this machine has online.
fn online_cpus() -> usize {
    std::thread::available_parallelism().map(usize::from).unwrap_or(1)
}

/// A cpuset list (`0-2,4`) as CPU numbers; None when it is not one.
fn cpu_list(s: &str) -> Option<Vec<usize>> {
    let mut out = Vec::new();
    for part in s.split(',') {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (usize, usize) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
                if a > b {
                    return None;
                }
                out.extend(a..=b);
            }
            None => out.push(part.trim().parse().ok()?),
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard_stubs::models::RestartPolicy;

    fn body(v: serde_json::Value) -> ContainerUpdateBody {
        serde_json::from_value(v).expect("update body")
    }

    #[test]
    fn dockers_checks_refuse_bad_values() {
        let err = |v| verify(&mut body(v), 4).unwrap_err();
        assert_eq!(err(serde_json::json!({"Memory": 1 << 20})), "Minimum memory limit allowed is 6MB");
        assert_eq!(
            err(serde_json::json!({"Memory": 64 << 20, "MemorySwap": 32 << 20})),
            "Minimum memoryswap limit should be larger than memory limit, see usage"
        );
        assert_eq!(err(serde_json::json!({"MemoryReservation": 1024})), "Minimum memory reservation allowed is 6MB");
        assert_eq!(
            err(serde_json::json!({"NanoCpus": 1, "CpuQuota": 5000})),
            "Conflicting options: Nano CPUs and CPU Quota cannot both be set"
        );
        assert_eq!(
            err(serde_json::json!({"NanoCpus": 8_000_000_000_i64})),
            "range of CPUs is from 0.01 to 4.00, as there are only 4 CPUs available"
        );
        assert_eq!(
            err(serde_json::json!({"CpuPeriod": 10})),
            "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)"
        );
        assert_eq!(err(serde_json::json!({"CpusetCpus": "a-b"})), "Invalid value a-b for cpuset cpus");
        assert_eq!(
            err(serde_json::json!({"CpusetCpus": "0-5"})),
            "Requested CPUs are not available - requested 0-5, available: 0-3"
        );
        assert!(
            err(serde_json::json!({"RestartPolicy": {"Name": "always", "MaximumRetryCount": -1}}))
                .starts_with("invalid restart policy")
        );
        let fine = verify(&mut body(serde_json::json!({"Memory": 64 << 20, "CpusetCpus": "0-1,3"})), 4);
        assert_eq!(fine, Ok(vec![]));
    }

    #[test]
    fn non_zero_fields_replace_the_stored_ones() {
        let mut host = HostConfig {
            memory: Some(400 << 20),
            cpu_shares: Some(512),
            pids_limit: Some(10),
            restart_policy: Some(RestartPolicy {
                name: Some(RestartPolicyNameEnum::ALWAYS),
                maximum_retry_count: Some(0),
            }),
            ..Default::default()
        };
        let req = body(serde_json::json!({
            "Memory": 300 << 20, "CpuShares": 0, "CpuQuota": 50000, "PidsLimit": 0,
            "RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 42}
        }));
        merge(&mut host, &req).expect("merge");
        assert_eq!((host.memory, host.cpu_shares, host.cpu_quota), (Some(300 << 20), Some(512), Some(50000)));
        assert_eq!(host.pids_limit, Some(0), "a pids limit given is taken as is, 0 included");
        let p = host.restart_policy.clone().expect("policy");
        assert_eq!((p.name, p.maximum_retry_count), (Some(RestartPolicyNameEnum::ON_FAILURE), Some(42)));
        // An empty policy name (what `docker update --memory` sends) keeps it.
        merge(&mut host, &body(serde_json::json!({"RestartPolicy": {"Name": "", "MaximumRetryCount": 0}})))
            .expect("merge");
        assert_eq!(host.restart_policy.and_then(|p| p.name), Some(RestartPolicyNameEnum::ON_FAILURE));
    }

    #[test]
    fn conflicts_are_dockers() {
        let mut rm = HostConfig { auto_remove: Some(true), ..Default::default() };
        let always = body(serde_json::json!({"RestartPolicy": {"Name": "always"}}));
        assert_eq!(
            merge(&mut rm, &always).unwrap_err(),
            "Restart policy cannot be updated because AutoRemove is enabled for the container"
        );
        assert!(merge(&mut rm, &body(serde_json::json!({"RestartPolicy": {"Name": "no"}}))).is_ok());
        let mut nano = HostConfig { nano_cpus: Some(1_000_000_000), ..Default::default() };
        assert_eq!(
            merge(&mut nano, &body(serde_json::json!({"CpuQuota": 5000}))).unwrap_err(),
            "Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set"
        );
        let mut swapped = HostConfig { memory: Some(64 << 20), memory_swap: Some(128 << 20), ..Default::default() };
        assert!(merge(&mut swapped, &body(serde_json::json!({"Memory": 256 << 20}))).is_err());
        assert!(merge(&mut swapped, &body(serde_json::json!({"Memory": 256 << 20, "MemorySwap": -1}))).is_ok());
    }

    #[test]
    fn cpu_lists() {
        assert_eq!(cpu_list("0-2,4"), Some(vec![0, 1, 2, 4]));
        assert_eq!(cpu_list("3"), Some(vec![3]));
        assert_eq!(cpu_list("2-1"), None);
        assert_eq!(cpu_list("x"), None);
    }
}
