//! The executor of `docker exec`'d processes: loads the container's seccomp
//! profile in the new process just before it execs the command.
//!
//! Why: libcontainer 0.7's tenant builder rebuilds the spec's `linux`
//! section for an exec from namespaces, cgroup path, personality and time
//! offsets only, so an exec'd process would run without the filter its
//! container has (Docker applies the container's profile to execs too).
//! The executor runs after libcontainer has dropped capabilities, and
//! without `no_new_privileges` loading a filter needs CAP_SYS_ADMIN: so the
//! exec's process is given CAP_SYS_ADMIN in its effective and permitted sets
//! only (never the bounding, inheritable or ambient ones, so no execve can
//! keep or regain it), loads the filter here, drops the capability again,
//! and only then execs.
//!
//! Must never: exec the command when the filter failed to load, or leave
//! the borrowed capability in place.

use caps::{CapSet, Capability};
use libcontainer::oci_spec::runtime::{LinuxSeccomp, Spec};
use libcontainer::workload::{Executor, ExecutorError, ExecutorValidationError};

/// The capability that a process with dropped capabilities needs to load a
/// seccomp filter without `no_new_privileges`, as the OCI name the process
/// spec uses.
pub const BORROWED_CAPABILITY: &str = "CAP_SYS_ADMIN";

#[derive(Clone)]
pub struct SeccompExecutor {
    /// The container's profile; None when it runs unconfined.
    pub profile: Option<LinuxSeccomp>,
    /// The process holds [`BORROWED_CAPABILITY`] only to load `profile`.
    pub drop_borrowed: bool,
}

impl Executor for SeccompExecutor {
    fn exec(&self, spec: &Spec) -> Result<(), ExecutorError> {
        if let Some(profile) = &self.profile {
            libcontainer::seccomp::initialize_seccomp(profile)
                .map_err(|e| ExecutorError::Other(format!("loading the container's seccomp profile: {e}")))?;
        }
        if self.drop_borrowed {
            for set in [CapSet::Effective, CapSet::Permitted] {
                caps::drop(None, set, Capability::CAP_SYS_ADMIN)
                    .map_err(|e| ExecutorError::Other(format!("dropping CAP_SYS_ADMIN after seccomp: {e}")))?;
            }
        }
        libcontainer::workload::default::get_executor().exec(spec)
    }

    fn validate(&self, spec: &Spec) -> Result<(), ExecutorValidationError> {
        libcontainer::workload::default::get_executor().validate(spec)
    }
}
