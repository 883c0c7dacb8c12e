//! The OCI runtime spec of one container, with Docker's defaults: what the
//! bundle's `config.json` says, built as oci-spec's typed `Spec` in steps,
//! as containerd's `SpecOpts`: [`base::base`] gives a spec with nothing of
//! the request in it, then one function per concern, each in the module of
//! that concern, takes `&mut Spec` and its typed inputs (process, user,
//! capabilities, rlimits, mounts, namespaces, devices, resources,
//! masked/read-only paths, security options, seccomp, sysctls, hostname,
//! read-only rootfs). The runtime serialises the result once.
//!
//! Must never: touch the filesystem beyond reading the rootfs's user
//! databases (see [`user`]), the host's /dev for `--privileged` (see
//! [`devices`]), checking bind sources, and the host's limits.

mod base;
mod capabilities;
pub mod defaults;
mod devices;
mod input;
mod mounts;
mod namespaces;
mod paths;
mod process;
pub(super) mod resources;
mod rlimits;
pub mod seccomp;
mod seccomp_profile;
mod security;
mod sysctls;
pub mod user;
mod user_mount;

use oci_spec::runtime::Spec;

use super::RuntimeError;
pub use base::cgroup_path;
pub use input::SpecInput;
pub use security::security_opts;
pub use user_mount::UserMount;

/// The container's spec: the base, then every concern of the request.
pub fn build(input: &SpecInput<'_>) -> Result<Spec, RuntimeError> {
    let hc = input.host_config;
    let privileged = hc.privileged == Some(true);
    let host_network = hc.network_mode.as_deref() == Some("host");
    let sec = security::security_opts(hc)?;
    let caps = capabilities::capabilities(hc)?;

    let mut spec = base::base(input.id, input.rootfs)?;
    base::with_hostname(&mut spec, input.hostname, input.domainname);
    base::with_readonly_rootfs(&mut spec, hc.readonly_rootfs == Some(true));
    process::with_process(
        &mut spec,
        &process::ProcessInput {
            process: input.process,
            hostname: input.hostname,
            home: &input.user.home,
            tty: input.tty,
            console_size: hc.console_size.as_deref(),
        },
    )?;
    user::with_user(&mut spec, input.user)?;
    capabilities::with_capabilities(&mut spec, &caps)?;
    rlimits::with_rlimits(&mut spec, hc)?;
    security::with_no_new_privileges(&mut spec, &sec)?;
    mounts::with_mounts(&mut spec, input, host_network, privileged)?;
    namespaces::with_namespaces(&mut spec, host_network, input.netns)?;
    devices::with_devices(&mut spec, privileged)?;
    resources::with_resources(&mut spec, hc)?;
    paths::with_masked_paths(&mut spec, privileged)?;
    seccomp::with_seccomp(&mut spec, &sec, &caps, privileged, cgroup_v2())?;
    sysctls::with_sysctls(&mut spec, hc)?;
    Ok(spec)
}

/// Is /sys/fs/cgroup the unified (v2) hierarchy? As libcgroups decides it:
/// by the filesystem type of the mount.
pub fn cgroup_v2() -> bool {
    nix::sys::statfs::statfs("/sys/fs/cgroup")
        .is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC)
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use bollard_stubs::models::HostConfig;
    use oci_spec::runtime::{Capability, LinuxNamespaceType, LinuxSeccompAction};
    use serde_json::Value;

    use super::user::ResolvedUser;
    use super::*;
    use crate::runtime::ResolvedProcess;

    /// The spec of a `sh -c true` container created with `hc`, and its
    /// config.json as libcontainer reads it.
    fn built(hc: &HostConfig) -> (Spec, Value) {
        let dir = PathBuf::from("/state/c1");
        let rootfs = dir.join("rootfs");
        let process = ResolvedProcess {
            path: "/bin/sh".into(),
            args: vec!["-c".into(), "true".into()],
            env: vec!["PATH=/bin".into()],
            cwd: "/".into(),
            user: "1000:1000".into(),
        };
        let user = ResolvedUser { uid: 1000, gid: 1000, additional_gids: vec![], home: "/".into() };
        let mounts = UserMount::all(&[], hc).expect("mounts");
        let input = SpecInput {
            id: "c1",
            rootfs: &rootfs,
            dir: &dir,
            process: &process,
            user: &user,
            hostname: "c1",
            domainname: "",
            tty: false,
            host_config: hc,
            user_mounts: &mounts,
            netns: None,
        };
        let spec = build(&input).expect("spec");
        let json = serde_json::to_value(&spec).expect("encode");
        (spec, json)
    }

    fn has_null(v: &Value) -> bool {
        match v {
            Value::Null => true,
            Value::Array(a) => a.iter().any(has_null),
            Value::Object(o) => o.values().any(has_null),
            _ => false,
        }
    }

    /// The JSON that today's config.json had (captured from the
    /// `json!`-template builder before the typed one replaced it) in the
    /// fields that matter most; capability sets compared as sets.
    #[test]
    fn a_default_container_is_dockers() {
        let (spec, json) = built(&HostConfig::default());
        assert!(!has_null(&json), "no field is written as null: {json}");
        assert_eq!(json["ociVersion"], "1.0.2");
        assert_eq!(json["root"], serde_json::json!({"path": "/state/c1/rootfs", "readonly": false}));
        assert_eq!((json["hostname"].as_str(), json["domainname"].as_str()), (Some("c1"), Some("")));
        assert_eq!(json["annotations"], serde_json::json!({"io.berth.container.id": "c1"}));
        let p = &json["process"];
        assert_eq!(p["user"], serde_json::json!({"uid": 1000, "gid": 1000, "additionalGids": []}));
        assert_eq!(p["args"], serde_json::json!(["/bin/sh", "-c", "true"]));
        assert_eq!(p["env"], serde_json::json!(["PATH=/bin", "HOSTNAME=c1", "HOME=/"]));
        assert_eq!((p["terminal"].as_bool(), p["oomScoreAdj"].as_i64()), (Some(false), Some(0)));
        assert!(p.get("noNewPrivileges").is_none() && p.get("consoleSize").is_none());
        let caps = p["capabilities"].as_object().expect("capabilities");
        assert_eq!(caps.keys().collect::<Vec<_>>(), ["bounding", "effective", "permitted"]);
        let set = spec.process().as_ref().and_then(|p| p.capabilities().clone()).and_then(|c| c.bounding().clone());
        assert_eq!(set, Some(defaults::DEFAULT_CAPS.iter().copied().collect()));
        assert_eq!(p["rlimits"].as_array().map(Vec::len), Some(1));
        let l = &json["linux"];
        assert_eq!((l["cgroupsPath"].as_str(), l["rootfsPropagation"].as_str()), (Some("/berth/c1"), Some("private")));
        assert_eq!(
            l["resources"].as_object().map(|r| r.keys().map(String::as_str).collect::<Vec<_>>()),
            Some(vec!["devices"])
        );
        assert_eq!(l["maskedPaths"].as_array().map(Vec::len), Some(defaults::MASKED_PATHS.len()));
        assert_eq!(l["seccomp"]["defaultAction"], "SCMP_ACT_ERRNO");
        assert!(l.get("devices").is_none() && l.get("sysctl").is_none());
        let linux = spec.linux().as_ref().expect("linux");
        assert_eq!(linux.namespaces().as_ref().map(Vec::len), Some(6));
        let dsts: Vec<_> =
            json["mounts"].as_array().expect("mounts").iter().filter_map(|m| m["destination"].as_str()).collect();
        assert_eq!(
            dsts,
            [
                "/proc",
                "/dev",
                "/dev/pts",
                "/sys",
                "/sys/fs/cgroup",
                "/dev/mqueue",
                "/dev/shm",
                "/etc/resolv.conf",
                "/etc/hostname",
                "/etc/hosts"
            ]
        );
        // What libcontainer reads back is what was built.
        let back: Spec = serde_json::from_value(json).expect("decode");
        assert_eq!(back, spec);
    }

    #[test]
    fn privileged_read_only_host_network_and_limits() {
        let hc = HostConfig {
            privileged: Some(true),
            readonly_rootfs: Some(true),
            network_mode: Some("host".into()),
            memory: Some(64 << 20),
            pids_limit: Some(50),
            security_opt: Some(vec!["no-new-privileges".into()]),
            ..Default::default()
        };
        let (spec, json) = built(&hc);
        assert!(!has_null(&json), "{json}");
        assert_eq!(json["root"]["readonly"], true);
        assert_eq!(json["process"]["noNewPrivileges"], true);
        let linux = spec.linux().as_ref().expect("linux");
        assert_eq!((linux.seccomp(), linux.masked_paths(), linux.readonly_paths()), (&None, &None, &None));
        assert!(linux.devices().as_ref().is_some_and(|d| !d.is_empty()), "the host's nodes");
        assert!(
            !linux.namespaces().as_deref().unwrap_or_default().iter().any(|n| n.typ() == LinuxNamespaceType::Network)
        );
        let r = linux.resources().as_ref().expect("resources");
        assert_eq!((r.memory().and_then(|m| m.limit()), r.pids().map(|p| p.limit())), (Some(64 << 20), Some(50)));
        let caps = spec.process().as_ref().and_then(|p| p.capabilities().clone()).and_then(|c| c.effective().clone());
        assert!(caps.is_some_and(|c| c.contains(&Capability::SysAdmin)));
        assert_eq!(json["mounts"][3]["type"], "bind", "/sys of the host's network");
    }

    #[test]
    fn cap_add_reaches_the_seccomp_profile() {
        let hc = HostConfig { cap_add: Some(vec!["SYS_ADMIN".into()]), ..Default::default() };
        let (spec, _) = built(&hc);
        let seccomp = spec.linux().as_ref().and_then(|l| l.seccomp().clone()).expect("seccomp");
        assert_eq!(seccomp.default_action(), LinuxSeccompAction::ScmpActErrno);
        let allowed = seccomp.syscalls().as_ref().map(|s| s[0].names().clone()).unwrap_or_default();
        assert!(allowed.iter().any(|n| n == "mount"), "CAP_SYS_ADMIN opens mount(2)");
    }

    #[test]
    fn invalid_requests_fail_before_any_spec() {
        let bad_cap = HostConfig { cap_add: Some(vec!["NOPE".into()]), ..Default::default() };
        let dir = Path::new("/state/c1");
        let process =
            ResolvedProcess { path: "true".into(), args: vec![], env: vec![], cwd: "/".into(), user: String::new() };
        let user = ResolvedUser { uid: 0, gid: 0, additional_gids: vec![], home: "/root".into() };
        let input = SpecInput {
            id: "c1",
            rootfs: dir,
            dir,
            process: &process,
            user: &user,
            hostname: "c1",
            domainname: "",
            tty: false,
            host_config: &bad_cap,
            user_mounts: &[],
            netns: None,
        };
        assert_eq!(build(&input).expect_err("bad cap").to_string(), "unknown capability: \"NOPE\"");
    }
}
