//! The container's namespaces: new pid, ipc, uts, mount and cgroup
//! namespaces always, and a new network namespace unless it shares the
//! host's (`--network host`). Never a user namespace (Docker's default).

use oci_spec::runtime::{LinuxNamespaceBuilder, LinuxNamespaceType, Spec};

use super::base;
use crate::runtime::RuntimeError;

pub fn with_namespaces(spec: &mut Spec, host_network: bool) -> Result<(), RuntimeError> {
    use LinuxNamespaceType::*;
    let mut types = vec![Pid, Ipc, Uts, Mount, Cgroup];
    if !host_network {
        types.push(Network);
    }
    let namespaces = types
        .into_iter()
        .map(|t| LinuxNamespaceBuilder::default().typ(t).build().map_err(RuntimeError::spec("linux.namespaces")))
        .collect::<Result<Vec<_>, _>>()?;
    base::linux_mut(spec)?.set_namespaces(Some(namespaces));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn types(host_network: bool) -> Vec<LinuxNamespaceType> {
        let mut spec = base::base("c", std::path::Path::new("/r")).expect("base");
        with_namespaces(&mut spec, host_network).expect("namespaces");
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
}
