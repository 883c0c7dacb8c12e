//! The spec every container starts from, before any concern of the request
//! is applied: the OCI version, the rootfs, the container's cgroup, private
//! rootfs propagation, an OOM score of 0 and berth's annotation; and the two
//! smallest concerns, the UTS names and a read-only rootfs.
//!
//! oci-spec's builders fill every field left unset with youki's own
//! defaults (hostname "youki", `noNewPrivileges: true`, a 1024 NOFILE
//! rlimit, five capability sets, default mounts and namespaces…), none of
//! which is Docker's: [`base`] clears each of them so that only what a
//! concern sets reaches config.json. Must never read the request beyond
//! the container's id and paths.

use std::collections::HashMap;
use std::path::Path;

use oci_spec::runtime::{
    Linux, LinuxBuilder, LinuxResources, Process, ProcessBuilder, RootBuilder, Spec, SpecBuilder, User,
};

use crate::runtime::RuntimeError;

/// The OCI runtime spec version berth writes (Docker's containerd writes
/// the same).
pub const OCI_VERSION: &str = "1.0.2";

/// The annotation naming the container, for whoever reads a bundle.
pub const ID_ANNOTATION: &str = "io.berth.container.id";

/// The container's cgroup, absolute (no systemd): `/berth/<id>`.
pub fn cgroup_path(id: &str) -> String {
    format!("/berth/{id}")
}

/// The spec of container `id` rooted at `rootfs`, with no process details,
/// mounts, namespaces, limits or security settings yet.
pub fn base(id: &str, rootfs: &Path) -> Result<Spec, RuntimeError> {
    let root = RootBuilder::default().path(rootfs).readonly(false).build().map_err(RuntimeError::spec("root"))?;
    let mut linux = empty_linux()?;
    linux.set_cgroups_path(Some(cgroup_path(id).into())).set_rootfs_propagation(Some("private".into()));
    let mut spec = SpecBuilder::default()
        .version(OCI_VERSION)
        .root(root)
        .mounts(Vec::new())
        .process(empty_process()?)
        .linux(linux)
        .annotations(HashMap::from([(ID_ANNOTATION.to_string(), id.to_string())]))
        .build()
        .map_err(RuntimeError::spec("spec"))?;
    spec.set_hostname(None);
    Ok(spec)
}

/// The spec's process, for a concern to fill in (an empty one if the spec
/// had none, never youki's default process).
pub fn process_mut(spec: &mut Spec) -> Result<&mut Process, RuntimeError> {
    let slot = spec.process_mut();
    if slot.is_none() {
        *slot = Some(empty_process()?);
    }
    // Filled just above: the fallback is never youki's process.
    Ok(slot.get_or_insert_with(Process::default))
}

/// The spec's `linux` object, for a concern to fill in (an empty one if
/// the spec had none, never youki's default).
pub fn linux_mut(spec: &mut Spec) -> Result<&mut Linux, RuntimeError> {
    let slot = spec.linux_mut();
    if slot.is_none() {
        *slot = Some(empty_linux()?);
    }
    // Filled just above: the fallback is never youki's.
    Ok(slot.get_or_insert_with(Linux::default))
}

/// The spec's `linux.resources`, for a concern to fill in.
pub fn resources_mut(spec: &mut Spec) -> Result<&mut LinuxResources, RuntimeError> {
    Ok(linux_mut(spec)?.resources_mut().get_or_insert_with(LinuxResources::default))
}

/// A process with nothing of youki's defaults: root, in "/", no args, no
/// env, no capabilities, no rlimits, no `noNewPrivileges` (see
/// [`super::security`] for why it must be absent rather than false).
fn empty_process() -> Result<Process, RuntimeError> {
    let mut process = ProcessBuilder::default()
        .terminal(false)
        .user(User::default())
        .cwd("/")
        .oom_score_adj(0)
        .build()
        .map_err(RuntimeError::spec("process"))?;
    process.set_args(None).set_env(None).set_capabilities(None).set_rlimits(None).set_no_new_privileges(None);
    Ok(process)
}

/// A `linux` object with nothing of youki's defaults (namespaces, masked
/// and read-only paths): an empty `resources` only.
fn empty_linux() -> Result<Linux, RuntimeError> {
    let mut linux =
        LinuxBuilder::default().resources(LinuxResources::default()).build().map_err(RuntimeError::spec("linux"))?;
    linux.set_namespaces(None).set_masked_paths(None).set_readonly_paths(None);
    Ok(linux)
}

/// The container's hostname and NIS domain name (an empty domain name is
/// written as such, as Docker does).
pub fn with_hostname(spec: &mut Spec, hostname: &str, domainname: &str) {
    spec.set_hostname(Some(hostname.to_string())).set_domainname(Some(domainname.to_string()));
}

/// `--read-only`: the rootfs mounted read-only.
pub fn with_readonly_rootfs(spec: &mut Spec, readonly: bool) {
    if let Some(root) = spec.root_mut() {
        root.set_readonly(Some(readonly));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_carries_none_of_youkis_defaults() {
        let spec = base("abc", Path::new("/r/abc/rootfs")).expect("base");
        assert_eq!(spec.version(), OCI_VERSION);
        assert_eq!(spec.hostname(), &None);
        assert_eq!(spec.domainname(), &None);
        assert_eq!(spec.mounts().as_deref(), Some(&[][..]));
        let root = spec.root().as_ref().expect("root");
        assert_eq!((root.path().as_path(), root.readonly()), (Path::new("/r/abc/rootfs"), Some(false)));
        let p = spec.process().as_ref().expect("process");
        assert_eq!(p.no_new_privileges(), None, "absent, not false: libcontainer acts on its presence");
        assert_eq!((p.args(), p.env(), p.capabilities(), p.rlimits()), (&None, &None, &None, &None));
        assert_eq!((p.user().uid(), p.user().gid(), p.oom_score_adj()), (0, 0, Some(0)));
        let l = spec.linux().as_ref().expect("linux");
        assert_eq!(l.cgroups_path().as_deref(), Some(Path::new("/berth/abc")));
        assert_eq!(l.rootfs_propagation().as_deref(), Some("private"));
        assert_eq!((l.namespaces(), l.masked_paths(), l.readonly_paths()), (&None, &None, &None));
        assert_eq!(l.resources(), &Some(LinuxResources::default()));
        assert_eq!(spec.annotations().as_ref().and_then(|a| a.get(ID_ANNOTATION)).map(String::as_str), Some("abc"));
    }

    #[test]
    fn a_spec_without_process_or_linux_gets_empty_ones() {
        let mut spec = base("abc", Path::new("/r")).expect("base");
        spec.set_process(None).set_linux(None);
        assert_eq!(process_mut(&mut spec).expect("process").no_new_privileges(), None);
        assert_eq!(linux_mut(&mut spec).expect("linux").namespaces(), &None);
        assert_eq!(resources_mut(&mut spec).expect("resources"), &mut LinuxResources::default());
    }

    #[test]
    fn hostname_and_readonly_rootfs() {
        let mut spec = base("abc", Path::new("/r")).expect("base");
        with_hostname(&mut spec, "web", "");
        with_readonly_rootfs(&mut spec, true);
        assert_eq!((spec.hostname().as_deref(), spec.domainname().as_deref()), (Some("web"), Some("")));
        assert_eq!(spec.root().as_ref().and_then(|r| r.readonly()), Some(true));
    }
}
