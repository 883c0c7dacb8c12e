//! Docker's masked and read-only paths of /proc and /sys in the spec, for
//! every container but a `--privileged` one.

use oci_spec::runtime::Spec;

use super::base;
use super::defaults::{MASKED_PATHS, READONLY_PATHS};
use crate::runtime::RuntimeError;

pub fn with_masked_paths(spec: &mut Spec, privileged: bool) -> Result<(), RuntimeError> {
    let linux = base::linux_mut(spec)?;
    if privileged {
        linux.set_masked_paths(None).set_readonly_paths(None);
    } else {
        let owned = |paths: &[&str]| paths.iter().map(|p| p.to_string()).collect::<Vec<_>>();
        linux.set_masked_paths(Some(owned(MASKED_PATHS))).set_readonly_paths(Some(owned(READONLY_PATHS)));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dockers_lists_unless_privileged() {
        let mut spec = base::base("c", std::path::Path::new("/r")).expect("base");
        with_masked_paths(&mut spec, false).expect("paths");
        let linux = spec.linux().clone().expect("linux");
        let masked = linux.masked_paths().clone().expect("masked");
        assert!(masked.iter().any(|p| p == "/proc/kcore") && masked.iter().any(|p| p == "/sys/firmware"));
        assert!(linux.readonly_paths().as_ref().is_some_and(|r| r.iter().any(|p| p == "/proc/sys")));
        with_masked_paths(&mut spec, true).expect("privileged");
        let linux = spec.linux().clone().expect("linux");
        assert_eq!((linux.masked_paths(), linux.readonly_paths()), (&None, &None));
    }
}
