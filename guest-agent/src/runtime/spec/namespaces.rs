//! The container's namespaces: new pid, ipc, uts, mount and cgroup
//! namespaces always, and a network namespace unless it shares the host's
//! (`--network host`): the one the engine made and configured when given
//! (a file), else a new one. Never a user namespace (Docker's default).

use std::path::Path;

use oci_spec::runtime::{LinuxNamespaceBuilder, LinuxNamespaceType, Spec};

use super::base;
use crate::runtime::RuntimeError;

pub fn with_namespaces(spec: &mut Spec, host_network: bool, netns: Option<&Path>) -> Result<(), RuntimeError> {
    use LinuxNamespaceType::*;
    let mut types = vec![Pid, Ipc, Uts, Mount, Cgroup];
    if !host_network {
        types.push(Network);
    }
    let namespaces = types
        .into_iter()
        .map(|t| {
            let mut b = LinuxNamespaceBuilder::default().typ(t);
            if let (Network, Some(p)) = (t, netns) {
                b = b.path(p.to_path_buf());
            }
            b.build().map_err(RuntimeError::spec("linux.namespaces"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    base::linux_mut(spec)?.set_namespaces(Some(namespaces));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn types(host_network: bool) -> Vec<LinuxNamespaceType> {
        let mut spec = base::base("c", std::path::Path::new("/r")).expect("base");
        with_namespaces(&mut spec, host_network, None).expect("namespaces");
        let ns = spec.linux().as_ref().and_then(|l| l.namespaces().clone()).expect("namespaces");
        assert!(ns.iter().all(|n| n.path().is_none()), "all new, none joined");
        ns.iter().map(|n| n.typ()).collect()
    }

    #[test]
    fn a_network_namespace_unless_the_hosts() {
        use LinuxNamespaceType::*;
        assert_eq!(types(false), vec![Pid, Ipc, Uts, Mount, Cgroup, Network]);
        assert_eq!(types(true), vec![Pid, Ipc, Uts, Mount, Cgroup]);
    }

    #[test]
    fn the_engines_network_namespace_is_joined_by_path() {
        let mut spec = base::base("c", std::path::Path::new("/r")).expect("base");
        with_namespaces(&mut spec, false, Some(Path::new("/e/netns/c"))).expect("namespaces");
        let ns = spec.linux().as_ref().and_then(|l| l.namespaces().clone()).expect("namespaces");
        let net = ns.iter().find(|n| n.typ() == LinuxNamespaceType::Network).expect("network");
        assert_eq!(net.path().as_deref(), Some(Path::new("/e/netns/c")));
    }
}
