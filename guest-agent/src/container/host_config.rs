//! A create request's `HostConfig` as Docker keeps it: refused when it names
//! what this engine does not have (a runtime, a log driver), namespace modes
//! that name another container stored with that container's ID, and every
//! field Docker fills by default filled the same way — docker-compose
//! compares these fields to decide whether to recreate a container, and
//! clients index them.
//!
//! Owns those rules; it must never apply a setting (the runtime does) nor
//! look a container up itself (the caller resolves names).

use bollard_stubs::models::{HostConfig, HostConfigCgroupnsModeEnum, HostConfigLogConfig, RestartPolicy};

use super::error::ContainerError;

/// The runtime names a create may ask for: Docker's default and berth's own.
pub const RUNTIMES: &[&str] = &["runc", "io.containerd.runc.v2", "berth"];

/// The log drivers this engine has: json-file (read back by `logs`) and none.
pub const LOG_DRIVERS: &[&str] = &["json-file", "none"];

/// Docker's default `host-gateway-ip`: the default bridge's gateway, the
/// engine's own address as every bridged container can route to it.
pub const HOST_GATEWAY_IP: &str = "172.17.0.1";

/// `ExtraHosts` as the container's `/etc/hosts` gets them: the magic value
/// `host-gateway` becomes `gateway` (the engine's `host-gateway-ip`:
/// [`HOST_GATEWAY_IP`] unless a machine's uplink names the user's host);
/// inspect keeps what the client sent, as Docker's does.
pub fn with_host_gateway(mut h: HostConfig, gateway: Option<std::net::Ipv4Addr>) -> HostConfig {
    let ip = gateway.map_or_else(|| HOST_GATEWAY_IP.to_string(), |g| g.to_string());
    if let Some(hosts) = h.extra_hosts.as_mut() {
        for eh in hosts.iter_mut() {
            if let Some((name, "host-gateway")) = eh.split_once([':', '=']) {
                *eh = format!("{name}:{ip}");
            }
        }
    }
    h
}

/// Refuses what the engine cannot honour, with Docker's messages.
pub fn validate(h: &HostConfig) -> Result<(), String> {
    if let Some(rt) = h.runtime.as_deref().filter(|r| !r.is_empty())
        && !RUNTIMES.contains(&rt)
    {
        return Err(format!("unknown or invalid runtime name: {rt}"));
    }
    if let Some(driver) = h.log_config.as_ref().and_then(|l| l.typ.as_deref()).filter(|t| !t.is_empty())
        && !LOG_DRIVERS.contains(&driver)
    {
        return Err(format!("logger: no log driver named '{driver}' is registered"));
    }
    if logs_to_file(h) {
        crate::runtime::log_rotation::LogRotation::from_opts(h.log_config.as_ref().and_then(|l| l.config.as_ref()))?;
    }
    Ok(())
}

/// Whether the container's output is kept in a json-file log: not with the
/// `none` driver, which keeps nothing (Docker starts no log copier then).
pub fn logs_to_file(h: &HostConfig) -> bool {
    h.log_config.as_ref().and_then(|l| l.typ.as_deref()) != Some("none")
}

/// `logs` of a container whose driver keeps nothing: Docker's 501.
pub fn readable_logs(h: &HostConfig) -> Result<(), ContainerError> {
    if logs_to_file(h) {
        Ok(())
    } else {
        Err(ContainerError::NotImplemented("configured logging driver does not support reading".into()))
    }
}

/// `ipc`, `pid` and `network: container:X` name a container by what the
/// user typed; Docker stores its full ID. A container that does not exist is
/// a 404, as Docker's.
pub fn resolve_namespace_modes(
    h: &mut HostConfig,
    id_of: impl Fn(&str) -> Result<String, ContainerError>,
) -> Result<(), ContainerError> {
    for mode in [&mut h.ipc_mode, &mut h.pid_mode, &mut h.network_mode] {
        if let Some(target) = mode.as_deref().and_then(|m| m.strip_prefix("container:")) {
            let id = id_of(target)?;
            *mode = Some(format!("container:{id}"));
        }
    }
    Ok(())
}

/// What Docker ≥ 17.06 fills in when the request leaves it out.
pub fn fill_defaults(h: &mut HostConfig) {
    h.network_mode.get_or_insert_with(|| "bridge".into());
    h.auto_remove.get_or_insert(false);
    h.privileged.get_or_insert(false);
    h.readonly_rootfs.get_or_insert(false);
    h.publish_all_ports.get_or_insert(false);
    h.binds.get_or_insert_with(Vec::new);
    h.cap_add.get_or_insert_with(Vec::new);
    h.cap_drop.get_or_insert_with(Vec::new);
    // `Dns` stays null when unset; its companions are lists.
    h.dns_options.get_or_insert_with(Vec::new);
    h.dns_search.get_or_insert_with(Vec::new);
    h.extra_hosts.get_or_insert_with(Vec::new);
    h.security_opt.get_or_insert_with(Vec::new);
    h.memory.get_or_insert(0);
    h.memory_swap.get_or_insert(0);
    h.memory_reservation.get_or_insert(0);
    h.nano_cpus.get_or_insert(0);
    h.cpu_shares.get_or_insert(0);
    h.cpu_period.get_or_insert(0);
    h.cpu_quota.get_or_insert(0);
    h.cpu_realtime_period.get_or_insert(0);
    h.cpu_realtime_runtime.get_or_insert(0);
    h.cpuset_cpus.get_or_insert_with(String::new);
    h.cpuset_mems.get_or_insert_with(String::new);
    h.blkio_weight.get_or_insert(0);
    h.shm_size.get_or_insert(64 * 1024 * 1024);
    if h.ipc_mode.as_deref().is_none_or(str::is_empty) {
        h.ipc_mode = Some("shareable".into());
    }
    h.pid_mode.get_or_insert_with(String::new);
    h.userns_mode.get_or_insert_with(String::new);
    h.cgroupns_mode.get_or_insert(HostConfigCgroupnsModeEnum::PRIVATE);
    if h.runtime.as_deref().is_none_or(str::is_empty) {
        h.runtime = Some("runc".into());
    }
    h.restart_policy.get_or_insert(RestartPolicy {
        name: Some(bollard_stubs::models::RestartPolicyNameEnum::NO),
        maximum_retry_count: Some(0),
    });
    let log = h.log_config.get_or_insert(HostConfigLogConfig { typ: None, config: None });
    if log.typ.as_deref().is_none_or(str::is_empty) {
        log.typ = Some("json-file".into());
    }
    log.config.get_or_insert_with(Default::default);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_gateway_names_the_default_bridges_gateway() {
        let h = HostConfig {
            extra_hosts: Some(vec!["x:host-gateway".into(), "y=host-gateway".into(), "z:10.0.0.1".into()]),
            ..Default::default()
        };
        let hosts = with_host_gateway(h.clone(), None).extra_hosts.unwrap();
        assert_eq!(hosts, ["x:172.17.0.1", "y:172.17.0.1", "z:10.0.0.1"]);
        // A machine's uplink gateway: the user's host.
        let hosts = with_host_gateway(h, Some(std::net::Ipv4Addr::new(10, 0, 2, 2))).extra_hosts.unwrap();
        assert_eq!(hosts, ["x:10.0.2.2", "y:10.0.2.2", "z:10.0.0.1"]);
    }

    #[test]
    fn defaults_are_dockers() {
        let mut h = HostConfig::default();
        fill_defaults(&mut h);
        let v = serde_json::to_value(&h).unwrap();
        assert_eq!(v["IpcMode"], "shareable");
        assert_eq!(v["PidMode"], "");
        assert_eq!(v["UsernsMode"], "");
        assert!(v.get("Dns").is_none_or(|d| d.is_null()), "{v}");
        assert_eq!(v["LogConfig"]["Type"], "json-file");
        assert_eq!(v["Runtime"], "runc");
        assert_eq!(v["CpuRealtimeRuntime"], 0);
        assert_eq!(v["CpusetCpus"], "");
        // What the request gave is kept.
        let mut h = HostConfig {
            ipc_mode: Some("private".into()),
            cpu_realtime_runtime: Some(950),
            dns: Some(vec!["10.0.0.53".into()]),
            ..Default::default()
        };
        fill_defaults(&mut h);
        assert_eq!(h.ipc_mode.as_deref(), Some("private"));
        assert_eq!(h.cpu_realtime_runtime, Some(950));
        assert_eq!(h.dns.as_deref(), Some(&["10.0.0.53".to_string()][..]));
    }

    #[test]
    fn unknown_runtimes_and_log_drivers_are_refused() {
        let rt = HostConfig { runtime: Some("kata".into()), ..Default::default() };
        assert_eq!(validate(&rt).unwrap_err(), "unknown or invalid runtime name: kata");
        let log = HostConfig {
            log_config: Some(HostConfigLogConfig { typ: Some("syslog".into()), config: None }),
            ..Default::default()
        };
        assert_eq!(validate(&log).unwrap_err(), "logger: no log driver named 'syslog' is registered");
        for ok in ["runc", "berth", ""] {
            assert!(validate(&HostConfig { runtime: Some(ok.into()), ..Default::default() }).is_ok(), "{ok}");
        }
        let none = HostConfig {
            log_config: Some(HostConfigLogConfig { typ: Some("none".into()), config: None }),
            ..Default::default()
        };
        assert!(validate(&none).is_ok());
    }

    #[test]
    fn the_none_log_driver_keeps_no_file_and_cannot_be_read() {
        let with = |typ: Option<&str>| HostConfig {
            log_config: Some(HostConfigLogConfig { typ: typ.map(String::from), config: None }),
            ..Default::default()
        };
        assert!(logs_to_file(&HostConfig::default()) && logs_to_file(&with(Some("json-file"))));
        assert!(!logs_to_file(&with(Some("none"))));
        assert!(readable_logs(&with(None)).is_ok());
        let e = readable_logs(&with(Some("none"))).unwrap_err();
        assert_eq!(e.kind(), crate::error_kind::ErrorKind::NotImplemented);
        assert_eq!(e.to_string(), "configured logging driver does not support reading");
    }

    #[test]
    fn container_namespace_modes_are_stored_with_the_full_id() {
        let mut h =
            HostConfig { ipc_mode: Some("container:web".into()), pid_mode: Some("host".into()), ..Default::default() };
        resolve_namespace_modes(&mut h, |k| {
            if k == "web" { Ok("f".repeat(64)) } else { Err(ContainerError::NotFound(k.into())) }
        })
        .unwrap();
        assert_eq!(h.ipc_mode, Some(format!("container:{}", "f".repeat(64))));
        assert_eq!(h.pid_mode.as_deref(), Some("host"));
        let mut h = HostConfig { pid_mode: Some("container:gone".into()), ..Default::default() };
        let e = resolve_namespace_modes(&mut h, |k| Err(ContainerError::NotFound(k.into()))).unwrap_err();
        assert!(matches!(e, ContainerError::NotFound(_)));
    }
}
