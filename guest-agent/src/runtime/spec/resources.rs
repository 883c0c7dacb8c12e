//! HostConfig's memory, CPU and pids limits as the spec's
//! `linux.resources`, checked as Docker checks them. The device cgroup is
//! [`super::devices`]'s.

use bollard_stubs::models::HostConfig;
use oci_spec::runtime::{LinuxCpu, LinuxMemory, LinuxPidsBuilder, Spec};

use super::base;
use crate::runtime::RuntimeError;

/// Docker's CFS period when `--cpus` is given.
const CPU_PERIOD_US: u64 = 100_000;

/// Docker's smallest memory limit.
const MIN_MEMORY: i64 = 6 * 1024 * 1024;

/// `--memory`, `--memory-swap`, `--memory-reservation`, `--oom-kill-disable`;
/// None when none is set (no `memory` object at all).
pub fn memory(hc: &HostConfig) -> Result<Option<LinuxMemory>, RuntimeError> {
    let mut memory = LinuxMemory::default();
    if let Some(limit) = hc.memory.filter(|m| *m > 0) {
        if limit < MIN_MEMORY {
            return Err(RuntimeError::InvalidRequest("Minimum memory limit allowed is 6MB".into()));
        }
        // No swap beyond the limit unless asked (-1: unlimited swap).
        let swap = match hc.memory_swap {
            Some(-1) => -1,
            Some(s) if s > 0 => {
                if s < limit {
                    return Err(RuntimeError::InvalidRequest(
                        "Minimum memoryswap limit should be larger than memory limit".into(),
                    ));
                }
                s
            }
            _ => limit,
        };
        memory.set_limit(Some(limit)).set_swap(Some(swap));
    }
    if let Some(res) = hc.memory_reservation.filter(|m| *m > 0) {
        memory.set_reservation(Some(res));
    }
    if hc.oom_kill_disable == Some(true) {
        memory.set_disable_oom_killer(Some(true));
    }
    Ok((memory != LinuxMemory::default()).then_some(memory))
}

/// `--cpus` (or `--cpu-quota`/`--cpu-period`), `--cpu-shares`,
/// `--cpuset-cpus`, `--cpuset-mems`; None when none is set.
pub fn cpu(hc: &HostConfig) -> Result<Option<LinuxCpu>, RuntimeError> {
    let mut cpu = LinuxCpu::default();
    let period = hc.cpu_period.filter(|p| *p > 0).map(|p| p as u64);
    match (hc.nano_cpus.filter(|n| *n > 0), hc.cpu_quota.filter(|q| *q > 0)) {
        (Some(_), Some(_)) => {
            return Err(RuntimeError::InvalidRequest(
                "Conflicting options: Nano CPUs and CPU Quota cannot both be set".into(),
            ));
        }
        (Some(nano), None) => {
            cpu.set_period(Some(CPU_PERIOD_US)).set_quota(Some(nano * CPU_PERIOD_US as i64 / 1_000_000_000));
        }
        (None, Some(q)) => {
            cpu.set_quota(Some(q)).set_period(Some(period.unwrap_or(CPU_PERIOD_US)));
        }
        (None, None) => {
            cpu.set_period(period);
        }
    }
    if let Some(s) = hc.cpu_shares.filter(|s| *s > 0) {
        cpu.set_shares(Some(s as u64));
    }
    if let Some(c) = hc.cpuset_cpus.as_deref().filter(|c| !c.is_empty()) {
        cpu.set_cpus(Some(c.to_string()));
    }
    if let Some(m) = hc.cpuset_mems.as_deref().filter(|m| !m.is_empty()) {
        cpu.set_mems(Some(m.to_string()));
    }
    Ok((cpu != LinuxCpu::default()).then_some(cpu))
}

/// Memory, CPU and pids limits in `linux.resources`.
pub fn with_resources(spec: &mut Spec, hc: &HostConfig) -> Result<(), RuntimeError> {
    let (memory, cpu) = (memory(hc)?, cpu(hc)?);
    let pids = match hc.pids_limit.filter(|p| *p > 0) {
        Some(p) => {
            Some(LinuxPidsBuilder::default().limit(p).build().map_err(RuntimeError::spec("linux.resources.pids"))?)
        }
        None => None,
    };
    let resources = base::resources_mut(spec)?;
    resources.set_memory(memory).set_cpu(cpu).set_pids(pids);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_asked_nothing_set() {
        let mut spec = base::base("c", std::path::Path::new("/r")).expect("base");
        with_resources(&mut spec, &HostConfig::default()).expect("resources");
        let r = spec.linux().as_ref().and_then(|l| l.resources().clone()).expect("resources");
        assert_eq!((r.memory(), r.cpu(), r.pids()), (&None, &None, &None));
    }

    #[test]
    fn memory_limits_and_dockers_swap_rule() {
        let hc = HostConfig {
            memory: Some(64 << 20),
            memory_reservation: Some(32 << 20),
            oom_kill_disable: Some(true),
            ..Default::default()
        };
        let m = memory(&hc).expect("memory").expect("set");
        assert_eq!(
            (m.limit(), m.swap(), m.reservation(), m.disable_oom_killer()),
            (Some(64 << 20), Some(64 << 20), Some(32 << 20), Some(true))
        );
        let unlimited_swap = HostConfig { memory: Some(64 << 20), memory_swap: Some(-1), ..Default::default() };
        assert_eq!(memory(&unlimited_swap).expect("memory").and_then(|m| m.swap()), Some(-1));
        let too_small = HostConfig { memory: Some(1 << 20), ..Default::default() };
        assert_eq!(memory(&too_small).expect_err("small").to_string(), "Minimum memory limit allowed is 6MB");
        let swap_below = HostConfig { memory: Some(64 << 20), memory_swap: Some(32 << 20), ..Default::default() };
        assert!(memory(&swap_below).is_err());
    }

    #[test]
    fn cpus_quota_shares_and_cpuset() {
        let nano = HostConfig {
            nano_cpus: Some(1_500_000_000),
            cpu_shares: Some(512),
            cpuset_cpus: Some("0".into()),
            ..Default::default()
        };
        let c = cpu(&nano).expect("cpu").expect("set");
        assert_eq!(
            (c.period(), c.quota(), c.shares(), c.cpus().as_deref()),
            (Some(100_000), Some(150_000), Some(512), Some("0"))
        );
        let quota = HostConfig { cpu_quota: Some(50_000), cpu_period: Some(200_000), ..Default::default() };
        let c = cpu(&quota).expect("cpu").expect("set");
        assert_eq!((c.period(), c.quota()), (Some(200_000), Some(50_000)));
        let both = HostConfig { cpu_quota: Some(50_000), nano_cpus: Some(1), ..Default::default() };
        assert!(cpu(&both).is_err());
    }

    #[test]
    fn pids_limit() {
        let mut spec = base::base("c", std::path::Path::new("/r")).expect("base");
        with_resources(&mut spec, &HostConfig { pids_limit: Some(50), ..Default::default() }).expect("resources");
        let r = spec.linux().as_ref().and_then(|l| l.resources().clone()).expect("resources");
        assert_eq!(r.pids().map(|p| p.limit()), Some(50));
    }
}
