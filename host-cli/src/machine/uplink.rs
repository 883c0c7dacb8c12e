//! A machine's network uplink: passt (unprivileged user-mode networking,
//! Podman's and libkrun's choice) started by the machine process on a UNIX
//! socket that the VMM's virtio-net device connects to. The guest gets a
//! fixed address on passt's side; its gateway is passt's view of the
//! user's host (passt maps it to the host's loopback), and DNS queries to
//! the forwarder address go to the host's resolvers. Containers in the VM
//! reach out through it, masqueraded by the engine's firewall.
//!
//! Owns passt's command line and the `berth.uplink=` word the agent
//! configures the VM from. A host without passt, or one passt cannot use
//! (no route out), gets a machine without an uplink and a line in
//! machine.log saying so: the machine itself does not depend on it.

use std::process::{Child, Command};

use berth_vmm::config::NetConfig;

use super::layout::Layout;

/// The guest's side, slirp's addresses (what QEMU's and passt's users
/// know): the VM, the host as its gateway, the DNS forwarder.
const GUEST: &str = "10.0.2.15";
const PREFIX: u8 = 24;
const GATEWAY: &str = "10.0.2.2";
const DNS: &str = "10.0.2.3";
/// A fixed, locally administered MAC for the VM's interface.
const MAC: &str = "02:42:0a:00:02:0f";

/// passt, running for the machine's life.
pub struct Uplink {
    pub net: NetConfig,
    /// The agent's `berth.uplink=` word.
    pub cmdline_word: String,
    _passt: Child,
}

/// Starts passt, or says why the machine goes without an uplink.
pub fn start(layout: &Layout) -> Result<Uplink, String> {
    let socket = layout.dir.join("passt.sock");
    // SAFETY: geteuid/getegid only read the process's credentials.
    let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
    let mut cmd = Command::new("passt");
    cmd.args(["--foreground", "--one-off", "--ipv4-only", "--quiet", "--socket"])
        .arg(&socket)
        .args(["--address", GUEST, "--netmask", &PREFIX.to_string(), "--gateway", GATEWAY, "--dns-forward", DNS])
        // As root passt otherwise becomes nobody before it binds its
        // socket, which then fails in the machine's private directory
        // (while passt still says it is bound).
        .arg(format!("--runas={uid}:{gid}"));
    let passt = super::daemon::start(cmd, &socket, &layout.dir.join("passt.log"))
        .map_err(|why| format!("passt did not start ({why}); it is Debian's passt package"))?;
    Ok(Uplink {
        net: NetConfig::Passt { socket, mac: Some(MAC.into()) },
        cmdline_word: format!("berth.uplink={GUEST}/{PREFIX},{GATEWAY},{DNS}"),
        _passt: passt,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real passt (Debian's, which `.ci/install-deps` installs) listens
    /// on the machine's socket, and the word names the guest's side.
    #[test]
    fn passt_listens_for_the_vmm() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout { dir: dir.path().to_path_buf() };
        let up = start(&layout).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(up.cmdline_word, "berth.uplink=10.0.2.15/24,10.0.2.2,10.0.2.3");
        let NetConfig::Passt { socket, .. } = &up.net else { panic!("not passt: {:?}", up.net) };
        std::os::unix::net::UnixStream::connect(socket).expect("passt accepts the VMM");
    }
}
