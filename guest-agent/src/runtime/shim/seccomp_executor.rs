//! The executor of every container process (the init and `docker exec`'s):
//! loads the container's compiled seccomp filter in the new process just
//! before it execs the command.
//!
//! Why here and not in libcontainer: its tenant builder rebuilds an exec's
//! `linux` section without the profile (an exec would run unconfined), and
//! for the init it compiles the profile with libseccomp inside every new
//! container (see [`super::seccomp_filter`] for what that cost). So the spec
//! libcontainer runs has no `linux.seccomp`, and this executor loads the
//! precompiled program instead.
//!
//! The executor runs after libcontainer has dropped capabilities, and
//! without `no_new_privileges` loading a filter needs CAP_SYS_ADMIN: so the
//! process is given CAP_SYS_ADMIN in its effective and permitted sets only
//! (never the bounding, inheritable or ambient ones, so no execve can keep
//! or regain it), loads the filter here, drops the capability again, and
//! only then execs.
//!
//! Must never: exec the command when the filter failed to load, or leave
//! the borrowed capability in place.

use caps::{CapSet, Capability};
use libcontainer::oci_spec::runtime::Spec;
use libcontainer::workload::{Executor, ExecutorError, ExecutorValidationError};

use super::seccomp_filter::Filter;

/// The capability that a process with dropped capabilities needs to load a
/// seccomp filter without `no_new_privileges`, as the OCI name the process
/// spec uses.
pub const BORROWED_CAPABILITY: &str = "CAP_SYS_ADMIN";

#[derive(Clone)]
pub struct SeccompExecutor {
    /// The container's filter; None when it runs unconfined.
    pub filter: Option<Filter>,
    /// The process holds [`BORROWED_CAPABILITY`] only to load `filter`.
    pub drop_borrowed: bool,
}

impl Executor for SeccompExecutor {
    fn exec(&self, spec: &Spec) -> Result<(), ExecutorError> {
        if let Some(filter) = &self.filter {
            filter.load().map_err(|e| ExecutorError::Other(format!("loading the container's seccomp filter: {e}")))?;
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
