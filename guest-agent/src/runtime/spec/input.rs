//! What a container's spec is built from, gathered by the runtime before
//! it builds: the resolved process and user, the parsed user mounts, the
//! request's HostConfig and the paths of the container.

use std::path::Path;

use bollard_stubs::models::HostConfig;

use super::user::ResolvedUser;
use super::user_mount::UserMount;
use crate::runtime::ResolvedProcess;

/// What the spec is built from, besides the request's HostConfig.
pub struct SpecInput<'a> {
    pub id: &'a str,
    /// The merged rootfs, absolute.
    pub rootfs: &'a Path,
    /// The container's runtime directory (hosts, hostname, resolv.conf).
    pub dir: &'a Path,
    pub process: &'a ResolvedProcess,
    pub user: &'a ResolvedUser,
    pub hostname: &'a str,
    pub domainname: &'a str,
    pub tty: bool,
    pub host_config: &'a HostConfig,
    /// Bind and tmpfs mounts from Binds/Mounts/Tmpfs, already parsed.
    pub user_mounts: &'a [UserMount],
    /// The network namespace to join (a file), else a new one.
    pub netns: Option<&'a Path>,
}
