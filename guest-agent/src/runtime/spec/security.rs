//! `HostConfig.SecurityOpt`: which options this runtime understands
//! (`no-new-privileges`, `seccomp=unconfined`; AppArmor and SELinux labels
//! accepted and ignored, as Docker does on a host without those LSMs), and
//! `process.noNewPrivileges` in the spec.

use bollard_stubs::models::HostConfig;
use oci_spec::runtime::Spec;

use super::base;
use crate::runtime::RuntimeError;

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

    #[test]
    fn understood_ignored_and_refused_options() {
        let o =
            opts(&["no-new-privileges", "seccomp=unconfined", "apparmor=unconfined", "label:disable"]).expect("opts");
        assert_eq!(o, SecurityOpts { no_new_privileges: true, seccomp_unconfined: true });
        assert!(!opts(&["no-new-privileges=false"]).expect("false").no_new_privileges);
        assert!(opts(&["no-new-privileges=maybe"]).is_err());
        assert!(opts(&["seccomp=/some/profile.json"]).is_err());
        assert!(opts(&["bogus"]).is_err());
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
