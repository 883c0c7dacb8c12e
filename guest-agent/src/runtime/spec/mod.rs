//! The OCI runtime spec of one container, with Docker's defaults: what the
//! bundle's `config.json` says. Built as the spec's JSON and checked by
//! parsing it into `oci_spec::runtime::Spec` before it is written, so a
//! field libcontainer would not understand fails here, with context.
//!
//! Must never: touch the filesystem beyond reading the rootfs's user
//! databases (see [`user`]) and the host's limits.

pub mod defaults;
mod input;
mod mounts;
mod resources;
pub mod seccomp;
pub mod user;
mod user_mount;

use std::path::Path;

use bollard_stubs::models::HostConfig;
use serde_json::{Value, json};

use super::process::env_default;
use super::{ResolvedProcess, RuntimeError};
pub use input::SpecInput;
use user::ResolvedUser;
pub use user_mount::UserMount;

/// Options of `HostConfig.SecurityOpt` this runtime understands.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SecurityOpts {
    pub no_new_privileges: bool,
    pub seccomp_unconfined: bool,
}

pub fn security_opts(hc: &HostConfig) -> Result<SecurityOpts, RuntimeError> {
    let mut out = SecurityOpts::default();
    for opt in hc.security_opt.as_deref().unwrap_or_default() {
        let (k, v) = opt.split_once(['=', ':']).unwrap_or((opt.as_str(), "true"));
        match (k, v) {
            ("no-new-privileges", v) => {
                out.no_new_privileges = v
                    .parse::<bool>()
                    .map_err(|_| RuntimeError::InvalidRequest(format!("invalid --security-opt 2: {opt:?}")))?
            }
            ("seccomp", "unconfined") => out.seccomp_unconfined = true,
            ("seccomp", _) => {
                return Err(RuntimeError::InvalidRequest(format!(
                    "security option {opt:?}: only seccomp=unconfined is supported"
                )));
            }
            // AppArmor/SELinux/label options: no such LSM in the VM; Docker
            // ignores them when the host lacks the LSM.
            ("apparmor" | "label", _) => {}
            _ => {
                return Err(RuntimeError::InvalidRequest(format!("invalid --security-opt: {opt:?}")));
            }
        }
    }
    Ok(out)
}

/// The capabilities the container's processes hold.
pub fn capabilities(hc: &HostConfig) -> Result<Vec<String>, RuntimeError> {
    if hc.privileged == Some(true) {
        return Ok(defaults::all_caps());
    }
    let norm = |c: &str| -> Result<String, RuntimeError> {
        let up = c.trim().to_ascii_uppercase();
        let full = if up == "ALL" || up.starts_with("CAP_") { up } else { format!("CAP_{up}") };
        if full != "ALL" && !defaults::ALL_CAPS.contains(&full.as_str()) {
            return Err(RuntimeError::InvalidRequest(format!("unknown capability: {c:?}")));
        }
        Ok(full)
    };
    let add: Vec<String> =
        hc.cap_add.as_deref().unwrap_or_default().iter().map(|c| norm(c)).collect::<Result<_, _>>()?;
    let drop: Vec<String> =
        hc.cap_drop.as_deref().unwrap_or_default().iter().map(|c| norm(c)).collect::<Result<_, _>>()?;
    let mut caps: Vec<String> = if drop.iter().any(|c| c == "ALL") {
        Vec::new()
    } else {
        defaults::DEFAULT_CAPS.iter().map(|c| c.to_string()).filter(|c| !drop.contains(c)).collect()
    };
    if add.iter().any(|c| c == "ALL") {
        caps =
            defaults::all_caps().into_iter().filter(|c| !drop.contains(c) || drop.iter().any(|d| d == "ALL")).collect();
    } else {
        for c in add {
            if !caps.contains(&c) {
                caps.push(c);
            }
        }
    }
    Ok(caps)
}

/// The spec as JSON, checked against oci-spec's types.
pub fn build(input: &SpecInput<'_>) -> Result<Value, RuntimeError> {
    let hc = input.host_config;
    let privileged = hc.privileged == Some(true);
    let sec = security_opts(hc)?;
    let caps = capabilities(hc)?;

    let mut env = input.process.env.clone();
    env_default(&mut env, "HOSTNAME", input.hostname);
    env_default(&mut env, "HOME", &input.user.home);
    if input.tty {
        env_default(&mut env, "TERM", "xterm");
    }
    let mut args = vec![input.process.path.clone()];
    args.extend(input.process.args.iter().cloned());

    let mut process = json!({
        "terminal": input.tty,
        "user": {
            "uid": input.user.uid,
            "gid": input.user.gid,
            "additionalGids": input.user.additional_gids,
        },
        "args": args,
        "env": env,
        "cwd": input.process.cwd,
        "capabilities": {
            "bounding": caps, "effective": caps, "permitted": caps,
        },
        "rlimits": resources::rlimits(hc)?,
        "oomScoreAdj": 0,
    });
    // Only when set: libcontainer 0.7 loads the seccomp filter after
    // dropping capabilities whenever the field is present, even as false,
    // and without no_new_privs that load fails (EACCES).
    if sec.no_new_privileges {
        process["noNewPrivileges"] = json!(true);
    }
    if let Some(size) = hc.console_size.as_ref().filter(|s| s.len() == 2 && input.tty) {
        process["consoleSize"] = json!({ "height": size[0], "width": size[1] });
    }

    let host_network = hc.network_mode.as_deref() == Some("host");
    let mut namespaces = vec![
        json!({"type": "pid"}),
        json!({"type": "ipc"}),
        json!({"type": "uts"}),
        json!({"type": "mount"}),
        json!({"type": "cgroup"}),
    ];
    if !host_network {
        namespaces.push(json!({"type": "network"}));
    }

    let mut linux = json!({
        "namespaces": namespaces,
        "cgroupsPath": cgroup_path(input.id),
        "resources": resources::resources(hc)?,
        "rootfsPropagation": "private",
    });
    if !privileged {
        linux["maskedPaths"] = json!(defaults::MASKED_PATHS);
        linux["readonlyPaths"] = json!(defaults::READONLY_PATHS);
        let v2 = cgroup_v2();
        if !sec.seccomp_unconfined {
            linux["seccomp"] = seccomp::default_profile(&caps, v2);
        } else if v2 {
            // No device cgroup on v2: even "unconfined" keeps the one rule
            // that stops it from making device nodes (its /dev is a tmpfs
            // where a node would open).
            linux["seccomp"] = seccomp::device_node_guard();
        }
    } else {
        linux["devices"] = json!(mounts::host_devices());
    }

    let spec = json!({
        "ociVersion": "1.0.2",
        "process": process,
        "root": { "path": input.rootfs, "readonly": hc.readonly_rootfs == Some(true) },
        "hostname": input.hostname,
        "domainname": input.domainname,
        "mounts": mounts::mounts(input, host_network, privileged)?,
        "linux": linux,
        "annotations": { "io.berth.container.id": input.id },
    });
    let _checked: oci_spec::runtime::Spec = serde_json::from_value(spec.clone())
        .map_err(|e| RuntimeError::InvalidRequest(format!("the container's OCI spec is invalid: {e}")))?;
    Ok(spec)
}

/// Is /sys/fs/cgroup the unified (v2) hierarchy? As libcgroups decides it:
/// by the filesystem type of the mount.
pub fn cgroup_v2() -> bool {
    nix::sys::statfs::statfs("/sys/fs/cgroup")
        .is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC)
}

/// The container's cgroup, absolute (no systemd): `/berth/<id>`.
pub fn cgroup_path(id: &str) -> String {
    format!("/berth/{id}")
}

#[cfg(test)]
mod capture_tmp {
    use super::*;
    use bollard_stubs::models::{HostConfig, ResourcesUlimits};

    fn input_for(name: &str, hc: HostConfig, user: ResolvedUser, tty: bool) -> Value {
        let dir = std::path::PathBuf::from("/run/berth/c/0123456789ab");
        let rootfs = dir.join("rootfs");
        let process = ResolvedProcess {
            path: "/bin/sh".into(),
            args: vec!["-c".into(), "true".into()],
            env: vec!["PATH=/usr/bin:/bin".into()],
            cwd: "/".into(),
            user: String::new(),
        };
        let mounts = UserMount::from_host_config(&hc).expect("mounts");
        let v = build(&SpecInput {
            id: "0123456789ab",
            rootfs: &rootfs,
            dir: &dir,
            process: &process,
            user: &user,
            hostname: "0123456789ab",
            domainname: "",
            tty,
            host_config: &hc,
            user_mounts: &mounts,
        })
        .expect(name);
        v
    }

    #[test]
    fn capture() {
        let root = ResolvedUser { uid: 0, gid: 0, additional_gids: vec![], home: "/root".into() };
        let out = std::path::Path::new("/tmp/spec-golden");
        std::fs::create_dir_all(out).unwrap();
        let bind_src = out.join("bindsrc");
        std::fs::create_dir_all(&bind_src).unwrap();
        let cases: Vec<(&str, HostConfig, ResolvedUser, bool)> = vec![
            ("defaults", HostConfig::default(), root.clone(), false),
            ("privileged", HostConfig { privileged: Some(true), ..Default::default() }, root.clone(), false),
            (
                "readonly_tmpfs_binds",
                HostConfig {
                    readonly_rootfs: Some(true),
                    binds: Some(vec![format!("{}:/data:ro", bind_src.display()), format!("{}:/etc/hosts", bind_src.display())]),
                    tmpfs: Some([("/run".to_string(), "size=1m,exec".to_string()), ("/scratch".to_string(), String::new())].into()),
                    ..Default::default()
                },
                root.clone(),
                false,
            ),
            (
                "limits",
                HostConfig {
                    memory: Some(64 << 20),
                    memory_reservation: Some(32 << 20),
                    nano_cpus: Some(1_500_000_000),
                    cpu_shares: Some(512),
                    cpuset_cpus: Some("0".into()),
                    pids_limit: Some(50),
                    oom_kill_disable: Some(true),
                    shm_size: Some(1 << 20),
                    ..Default::default()
                },
                root.clone(),
                false,
            ),
            (
                "limits_quota_swap",
                HostConfig { memory: Some(64 << 20), memory_swap: Some(-1), cpu_quota: Some(50000), cpu_period: Some(200000), ..Default::default() },
                root.clone(),
                false,
            ),
            (
                "caps",
                HostConfig {
                    cap_add: Some(vec!["NET_ADMIN".into(), "sys_ptrace".into()]),
                    cap_drop: Some(vec!["MKNOD".into(), "CAP_NET_RAW".into()]),
                    ..Default::default()
                },
                root.clone(),
                false,
            ),
            ("caps_all", HostConfig { cap_add: Some(vec!["ALL".into()]), cap_drop: Some(vec!["CHOWN".into()]), ..Default::default() }, root.clone(), false),
            ("caps_drop_all", HostConfig { cap_drop: Some(vec!["ALL".into()]), cap_add: Some(vec!["KILL".into()]), ..Default::default() }, root.clone(), false),
            (
                "user_1000",
                HostConfig::default(),
                ResolvedUser { uid: 1000, gid: 1000, additional_gids: vec![10, 20], home: "/".into() },
                true,
            ),
            (
                "unconfined_nnp_host_net",
                HostConfig {
                    security_opt: Some(vec!["seccomp=unconfined".into(), "no-new-privileges".into()]),
                    network_mode: Some("host".into()),
                    console_size: Some(vec![30, 100]),
                    ..Default::default()
                },
                root.clone(),
                true,
            ),
            (
                "ulimits",
                HostConfig {
                    ulimits: Some(vec![
                        ResourcesUlimits { name: Some("nofile".into()), soft: Some(1024), hard: Some(2048) },
                        ResourcesUlimits { name: Some("nproc".into()), soft: Some(100), hard: Some(100) },
                    ]),
                    ..Default::default()
                },
                root.clone(),
                false,
            ),
            (
                "sysctls",
                HostConfig {
                    sysctls: Some([("net.ipv4.ip_forward".to_string(), "1".to_string()), ("kernel.shmmax".to_string(), "1000000".to_string())].into()),
                    ..Default::default()
                },
                root.clone(),
                false,
            ),
        ];
        let caps: Vec<String> = defaults::DEFAULT_CAPS.iter().map(|c| c.to_string()).collect();
        std::fs::write(out.join("seccomp_v2.json"), serde_json::to_vec_pretty(&seccomp::default_profile(&caps, true)).unwrap()).unwrap();
        std::fs::write(out.join("seccomp_sysadmin.json"), serde_json::to_vec_pretty(&seccomp::default_profile(&defaults::all_caps(), false)).unwrap()).unwrap();
        std::fs::write(out.join("seccomp_guard.json"), serde_json::to_vec_pretty(&seccomp::device_node_guard()).unwrap()).unwrap();
        for (name, hc, user, tty) in cases {
            let v = input_for(name, hc, user, tty);
            std::fs::write(out.join(format!("{name}.json")), serde_json::to_vec_pretty(&v).unwrap()).unwrap();
        }
    }
}
