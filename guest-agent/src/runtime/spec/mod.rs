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
