//! `--sysctl`: the request's kernel parameters in `linux.sysctl`, as
//! Docker passes them. Which ones a container may set (namespaced ones
//! only, no `net.*` with the host's network) libcontainer checks when it
//! creates the container, as runc does for Docker.

use bollard_stubs::models::HostConfig;
use oci_spec::runtime::Spec;

use super::base;
use crate::runtime::RuntimeError;

pub fn with_sysctls(spec: &mut Spec, hc: &HostConfig) -> Result<(), RuntimeError> {
    let sysctls = hc.sysctls.clone().filter(|s| !s.is_empty());
    base::linux_mut(spec)?.set_sysctl(sysctls);
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn the_requests_sysctls_and_none_by_default() {
        let mut spec = base::base("c", std::path::Path::new("/r")).expect("base");
        with_sysctls(&mut spec, &HostConfig::default()).expect("sysctls");
        assert_eq!(spec.linux().as_ref().and_then(|l| l.sysctl().clone()), None);
        let asked = HashMap::from([("net.ipv4.ip_forward".to_string(), "1".to_string())]);
        with_sysctls(&mut spec, &HostConfig { sysctls: Some(asked.clone()), ..Default::default() }).expect("sysctls");
        assert_eq!(spec.linux().as_ref().and_then(|l| l.sysctl().clone()), Some(asked));
    }
}
