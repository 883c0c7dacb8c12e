//! `HostConfig.SecurityOpt` read as moby's parseSecurityOpt reads it:
//! `no-new-privileges[=|:bool]`, `seccomp=unconfined|builtin|<profile JSON>`
//! (the docker CLI sends a profile file's content), and `label=…`,
//! `apparmor=…` and a bare `disable`, accepted and ignored as Docker does on
//! a host without SELinux or AppArmor (the VM has neither LSM). `key:value`
//! is the deprecated spelling of `key=value`. Anything else is refused with
//! Docker's message. Also `process.noNewPrivileges` in the spec.

use bollard_stubs::models::HostConfig;
use oci_spec::runtime::Spec;

use super::base;
use super::seccomp_profile::DockerProfile;
use crate::runtime::RuntimeError;

/// Which seccomp filter the container asked for.
#[derive(Debug, Default, PartialEq)]
pub enum SeccompChoice {
    /// Docker's default profile (`seccomp=builtin`, or nothing said).
    #[default]
    Default,
    /// `seccomp=unconfined`.
    Unconfined,
    /// A profile in Docker's JSON format.
    Custom(Box<DockerProfile>),
}

/// Options of `HostConfig.SecurityOpt` this runtime acts on.
#[derive(Debug, Default, PartialEq)]
pub struct SecurityOpts {
    pub no_new_privileges: bool,
    pub seccomp: SeccompChoice,
}

pub fn security_opts(hc: &HostConfig) -> Result<SecurityOpts, RuntimeError> {
    let mut out = SecurityOpts::default();
    for opt in hc.security_opt.as_deref().unwrap_or_default() {
        if opt == "no-new-privileges" {
            out.no_new_privileges = true;
            continue;
        }
        if opt == "disable" {
            // SELinux labelling off: there is no labelling here to turn off.
            continue;
        }
        // `=` wins even when the value holds a `:` (a JSON profile does).
        let split = if opt.contains('=') { opt.split_once('=') } else { opt.split_once(':') };
        let Some((key, value)) = split else {
            return Err(RuntimeError::InvalidRequest(format!("invalid --security-opt 1: {opt:?}")));
        };
        match key {
            "label" | "apparmor" => {}
            "seccomp" => {
                out.seccomp = match value {
                    "unconfined" => SeccompChoice::Unconfined,
                    "" | "builtin" => SeccompChoice::Default,
                    json => SeccompChoice::Custom(Box::new(DockerProfile::parse(json)?)),
                }
            }
            "no-new-privileges" => {
                out.no_new_privileges = go_bool(value)
                    .ok_or_else(|| RuntimeError::InvalidRequest(format!("invalid --security-opt 2: {opt:?}")))?;
            }
            _ => return Err(RuntimeError::InvalidRequest(format!("invalid --security-opt 2: {opt:?}"))),
        }
    }
    Ok(out)
}

/// Go's strconv.ParseBool, which moby uses for `no-new-privileges=`.
fn go_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// `process.noNewPrivileges`, only when asked for: libcontainer 0.7 loads
/// the seccomp filter after dropping capabilities whenever the field is
/// present, even as false, and without no_new_privs that load fails
/// (EACCES).
pub fn with_no_new_privileges(spec: &mut Spec, opts: &SecurityOpts) -> Result<(), RuntimeError> {
    let process = base::process_mut(spec)?;
    process.set_no_new_privileges(opts.no_new_privileges.then_some(true));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(list: &[&str]) -> Result<SecurityOpts, RuntimeError> {
        security_opts(&HostConfig {
            security_opt: Some(list.iter().map(|s| s.to_string()).collect()),
            ..Default::default()
        })
    }

    fn refusal(list: &[&str]) -> String {
        match opts(list) {
            Err(RuntimeError::InvalidRequest(m)) => m,
            other => panic!("{list:?}: {other:?}"),
        }
    }

    #[test]
    fn the_forms_docker_accepts() {
        let o =
            opts(&["no-new-privileges", "seccomp=unconfined", "apparmor=unconfined", "label=disable"]).expect("opts");
        assert_eq!(o, SecurityOpts { no_new_privileges: true, seccomp: SeccompChoice::Unconfined });
        // The deprecated colon forms, and labels of any kind.
        let o =
            opts(&["no-new-privileges:true", "label:disable", "label=type:svirt_apache_t", "disable"]).expect("colon");
        assert!(o.no_new_privileges);
        assert_eq!(o.seccomp, SeccompChoice::Default);
        assert!(!opts(&["no-new-privileges=false"]).expect("false").no_new_privileges);
        assert!(opts(&["no-new-privileges=1"]).expect("1").no_new_privileges);
        assert_eq!(opts(&["seccomp=builtin"]).expect("builtin").seccomp, SeccompChoice::Default);
        // A profile as the docker CLI sends it: the file's JSON, compacted.
        let o = opts(&[r#"seccomp={"defaultAction":"SCMP_ACT_ALLOW","syscalls":[]}"#]).expect("profile");
        assert!(matches!(o.seccomp, SeccompChoice::Custom(_)));
    }

    #[test]
    fn the_forms_docker_refuses_with_its_messages() {
        assert_eq!(refusal(&["bogus"]), r#"invalid --security-opt 1: "bogus""#);
        assert_eq!(refusal(&["foo=bar"]), r#"invalid --security-opt 2: "foo=bar""#);
        assert_eq!(refusal(&["no-new-privileges=maybe"]), r#"invalid --security-opt 2: "no-new-privileges=maybe""#);
        assert!(refusal(&["seccomp=/some/profile.json"]).starts_with("Decoding seccomp profile failed: "));
    }

    #[test]
    fn no_new_privileges_is_absent_unless_asked() {
        let mut spec = base::base("c", std::path::Path::new("/r")).expect("base");
        with_no_new_privileges(&mut spec, &SecurityOpts::default()).expect("nnp");
        assert_eq!(spec.process().as_ref().and_then(|p| p.no_new_privileges()), None);
        with_no_new_privileges(&mut spec, &SecurityOpts { no_new_privileges: true, ..Default::default() })
            .expect("nnp");
        assert_eq!(spec.process().as_ref().and_then(|p| p.no_new_privileges()), Some(true));
    }
}
