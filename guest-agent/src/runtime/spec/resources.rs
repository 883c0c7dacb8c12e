//! HostConfig's limits as OCI `linux.resources` and `process.rlimits`.

use bollard_stubs::models::HostConfig;
use serde_json::{Value, json};

use super::defaults::ALLOWED_DEVICES;
use crate::runtime::RuntimeError;

/// Docker's CFS period when `--cpus` is given.
const CPU_PERIOD_US: i64 = 100_000;

pub fn resources(hc: &HostConfig) -> Result<Value, RuntimeError> {
    let mut r = json!({});
    if hc.privileged == Some(true) {
        r["devices"] = json!([{ "allow": true, "access": "rwm" }]);
    } else {
        let mut devices = vec![json!({ "allow": false, "access": "rwm" })];
        for (typ, major, minor, access) in ALLOWED_DEVICES {
            let mut d = json!({ "allow": true, "type": typ, "access": access });
            if *major >= 0 {
                d["major"] = json!(major);
            }
            if *minor >= 0 {
                d["minor"] = json!(minor);
            }
            devices.push(d);
        }
        r["devices"] = json!(devices);
    }

    let mut memory = json!({});
    if let Some(limit) = hc.memory.filter(|m| *m > 0) {
        if limit < 6 * 1024 * 1024 {
            return Err(RuntimeError::InvalidRequest("Minimum memory limit allowed is 6MB".into()));
        }
        memory["limit"] = json!(limit);
        // No swap beyond the limit unless asked (-1: unlimited swap).
        match hc.memory_swap {
            Some(-1) => memory["swap"] = json!(-1),
            Some(s) if s > 0 => {
                if s < limit {
                    return Err(RuntimeError::InvalidRequest(
                        "Minimum memoryswap limit should be larger than memory limit".into(),
                    ));
                }
                memory["swap"] = json!(s)
            }
            _ => memory["swap"] = json!(limit),
        }
    }
    if let Some(res) = hc.memory_reservation.filter(|m| *m > 0) {
        memory["reservation"] = json!(res);
    }
    if hc.oom_kill_disable == Some(true) {
        memory["disableOOMKiller"] = json!(true);
    }
    if memory.as_object().is_some_and(|o| !o.is_empty()) {
        r["memory"] = memory;
    }

    let mut cpu = json!({});
    match (hc.nano_cpus.filter(|n| *n > 0), hc.cpu_quota.filter(|q| *q > 0)) {
        (Some(_), Some(_)) => {
            return Err(RuntimeError::InvalidRequest(
                "Conflicting options: Nano CPUs and CPU Quota cannot both be set".into(),
            ));
        }
        (Some(nano), None) => {
            cpu["period"] = json!(CPU_PERIOD_US);
            cpu["quota"] = json!(nano * CPU_PERIOD_US / 1_000_000_000);
        }
        (None, Some(q)) => {
            cpu["quota"] = json!(q);
            cpu["period"] = json!(hc.cpu_period.filter(|p| *p > 0).unwrap_or(CPU_PERIOD_US));
        }
        (None, None) => {
            if let Some(p) = hc.cpu_period.filter(|p| *p > 0) {
                cpu["period"] = json!(p);
            }
        }
    }
    if let Some(s) = hc.cpu_shares.filter(|s| *s > 0) {
        cpu["shares"] = json!(s);
    }
    if let Some(c) = hc.cpuset_cpus.as_deref().filter(|c| !c.is_empty()) {
        cpu["cpus"] = json!(c);
    }
    if cpu.as_object().is_some_and(|o| !o.is_empty()) {
        r["cpu"] = cpu;
    }
    if let Some(p) = hc.pids_limit.filter(|p| *p > 0) {
        r["pids"] = json!({ "limit": p });
    }
    Ok(r)
}

/// The host's hard limit on open files: Docker's containers get 1048576,
/// which this process may not be able to grant.
fn nofile_limit() -> u64 {
    let mut rl = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes into the struct we own; no other effect.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) };
    if rc != 0 { 1024 } else { rl.rlim_max.min(1_048_576) }
}

pub fn rlimits(hc: &HostConfig) -> Result<Vec<Value>, RuntimeError> {
    let mut out: Vec<Value> = Vec::new();
    let nofile = nofile_limit();
    out.push(json!({ "type": "RLIMIT_NOFILE", "hard": nofile, "soft": nofile }));
    for u in hc.ulimits.as_deref().unwrap_or_default() {
        let name = u.name.as_deref().unwrap_or_default();
        let known = [
            "core",
            "cpu",
            "data",
            "fsize",
            "locks",
            "memlock",
            "msgqueue",
            "nice",
            "nofile",
            "nproc",
            "rss",
            "rtprio",
            "rttime",
            "sigpending",
            "stack",
            "as",
        ];
        if !known.contains(&name) {
            return Err(RuntimeError::InvalidRequest(format!("invalid ulimit type: {name}")));
        }
        let (soft, hard) = (u.soft.unwrap_or(0), u.hard.unwrap_or(0));
        if soft > hard {
            return Err(RuntimeError::InvalidRequest(format!(
                "ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}"
            )));
        }
        let typ = format!("RLIMIT_{}", name.to_ascii_uppercase());
        out.retain(|r| r["type"] != json!(typ));
        out.push(json!({ "type": typ, "hard": hard, "soft": soft }));
    }
    Ok(out)
}
