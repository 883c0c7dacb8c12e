//! The host folders a berth machine shares into its VM over virtio-fs:
//! which they are (one `berth.share=TAG,ro|rw,GUEST,HOST` word per share on
//! the kernel command line, paths percent-encoded), mounting each at its
//! guest path at boot, and the rule a bind mount in a machine follows.
//!
//! The rule is Docker Desktop's: `docker run -v /path:...` names a path of
//! the user's host, so in a machine its source must lie in a shared folder
//! (by default the user's home, at the same path); a path no share covers
//! is refused with the way to share it, instead of silently binding an
//! empty directory of the VM. The VM's own kernel and runtime paths
//! (`/proc`, `/sys`, `/dev`, `/run`, `/lib/modules`) stay bindable, as in
//! Docker Desktop. Owns only that: it never mounts anything into a
//! container, and in process mode (no shares on the command line) it is
//! not consulted.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use nix::mount::{MsFlags, mount};

/// Paths of the VM itself that a bind may name in a machine.
const VM_PATHS: &[&str] = &["/proc", "/sys", "/dev", "/run", "/var/run", "/lib/modules"];

/// One shared folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostShare {
    /// The virtio-fs tag the device announces.
    pub tag: String,
    pub read_only: bool,
    /// Where it is mounted in the VM (the host path, by default).
    pub guest: PathBuf,
    /// The folder on the user's host, for messages.
    pub host: PathBuf,
    /// Why mounting failed, if it did.
    pub failed: Option<String>,
}

/// A machine's shares; empty in process mode.
#[derive(Debug, Clone, Default)]
pub struct HostShares {
    shares: Vec<HostShare>,
    /// True when the engine runs in a machine: binds are checked.
    in_machine: bool,
}

/// Why a bind source cannot be used in this machine.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BindError {
    #[error(
        "bind source path {path} is not in a folder this machine shares from the host{shared}; \
         share it with `berth machine create --mount {path}` (a new machine; or --mount a folder above it)"
    )]
    NotShared { path: String, shared: String },
    #[error("bind source path {path} is in the host folder {host}, which the machine could not mount: {why}")]
    Unmounted { path: String, host: String, why: String },
    #[error(
        "bind source path {path} is in the host folder {host}, which is not answering (its virtiofsd \
         stopped): restart the machine with `berth machine stop` and `berth machine start`"
    )]
    Gone { path: String, host: String },
}

impl HostShares {
    /// The shares a machine's command line names; `in_machine` says whether
    /// the engine runs in one (binds are only checked there).
    pub fn from_cmdline(cmdline: &str, in_machine: bool) -> Self {
        let shares = cmdline.split_whitespace().filter_map(|w| w.strip_prefix("berth.share=")).filter_map(parse_word);
        HostShares { shares: shares.collect(), in_machine }
    }

    /// Mounts every share at its guest path (creating it), shallowest
    /// first so that a nested share lands on top of its parent; a failure
    /// is recorded on the share and printed, and the boot goes on.
    pub fn mount_all(&mut self) {
        self.shares.sort_by_key(|s| s.guest.components().count());
        for s in &mut self.shares {
            if let Err(e) = mount_one(s) {
                println!("berth-agent: host folder {} not mounted on {}: {e}", s.host.display(), s.guest.display());
                s.failed = Some(e.to_string());
            } else {
                println!("berth-agent: host folder {} on {}", s.host.display(), s.guest.display());
            }
        }
    }

    /// Checks a bind's source path in a machine (see the module's rule).
    pub fn check_bind(&self, path: &str) -> Result<(), BindError> {
        if !self.in_machine {
            return Ok(());
        }
        let p = Path::new(path);
        let covering = self.shares.iter().filter(|s| p.starts_with(&s.guest)).max_by_key(|s| s.guest.as_os_str().len());
        let Some(share) = covering else {
            if VM_PATHS.iter().any(|v| p.starts_with(v)) {
                return Ok(());
            }
            let list: Vec<String> = self.shares.iter().map(|s| s.guest.display().to_string()).collect();
            let shared = if list.is_empty() { " (it shares none)".into() } else { format!(" ({})", list.join(", ")) };
            return Err(BindError::NotShared { path: path.into(), shared });
        };
        let host = share.host.display().to_string();
        if let Some(why) = &share.failed {
            return Err(BindError::Unmounted { path: path.into(), host, why: why.clone() });
        }
        // A share whose daemon died answers every request with EIO;
        // STATFS is never answered from the guest's caches.
        match nix::sys::statfs::statfs(&share.guest) {
            Err(nix::Error::EIO | nix::Error::ENOTCONN) => Err(BindError::Gone { path: path.into(), host }),
            _ => Ok(()),
        }
    }
}

fn mount_one(s: &HostShare) -> std::io::Result<()> {
    match std::fs::create_dir_all(&s.guest) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    let mut flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
    if s.read_only {
        flags |= MsFlags::MS_RDONLY;
    }
    mount(Some(s.tag.as_str()), &s.guest, Some("virtiofs"), flags, None::<&str>).map_err(std::io::Error::from)
}

/// `TAG,ro|rw,GUEST,HOST`; None for a malformed word (printed).
fn parse_word(w: &str) -> Option<HostShare> {
    let mut parts = w.splitn(4, ',');
    let (tag, mode, guest, host) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let read_only = match mode {
        "ro" => true,
        "rw" => false,
        _ => return None,
    };
    let guest = PathBuf::from(percent_decode(guest)?);
    let host = PathBuf::from(percent_decode(host)?);
    let ok = !tag.is_empty() && guest.is_absolute() && guest != Path::new("/");
    if !ok {
        println!("berth-agent: ignoring a malformed share on the command line: {w}");
        return None;
    }
    Some(HostShare { tag: tag.into(), read_only, guest, host, failed: None })
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shares(cmdline: &str) -> HostShares {
        HostShares::from_cmdline(cmdline, true)
    }

    #[test]
    fn shares_are_read_from_the_command_line() {
        let s =
            shares("quiet berth.share=berth0,rw,/home/u,/home/u berth.share=berth1,ro,/My%20Data,/Users/u/My%20Data x");
        assert_eq!(s.shares.len(), 2);
        assert_eq!(s.shares[1].guest, PathBuf::from("/My Data"));
        assert_eq!(s.shares[1].host, PathBuf::from("/Users/u/My Data"));
        assert!(s.shares[1].read_only);
        // Malformed words are dropped, the rest kept.
        let s =
            shares("berth.share=a,rx,/x,/x berth.share=b,rw,relative,/x berth.share=c,rw,/,/ berth.share=d,rw,/%zz,/x");
        assert!(s.shares.is_empty());
    }

    #[test]
    fn binds_in_a_machine_must_lie_in_a_share() {
        let s = shares("berth.share=berth0,rw,/home/u,/home/u");
        assert_eq!(s.check_bind("/home/u/src"), Ok(()));
        assert_eq!(s.check_bind("/home/u"), Ok(()));
        assert_eq!(s.check_bind("/proc/sys"), Ok(()));
        assert_eq!(s.check_bind("/run/berth"), Ok(()));
        let e = s.check_bind("/srv/data").unwrap_err().to_string();
        assert!(e.contains("not in a folder this machine shares from the host (/home/u)"), "{e}");
        assert!(e.contains("berth machine create --mount /srv/data"), "{e}");
        // /home/uu is not under /home/u.
        assert!(matches!(s.check_bind("/home/uu"), Err(BindError::NotShared { .. })));
        let none = shares("quiet");
        assert!(none.check_bind("/x").unwrap_err().to_string().contains("(it shares none)"));
        // Process mode: nothing is checked.
        assert_eq!(HostShares::from_cmdline("", false).check_bind("/srv/data"), Ok(()));
    }

    #[test]
    fn a_share_that_failed_to_mount_says_so() {
        let mut s = shares("berth.share=berth0,rw,/home/u,/Users/u");
        s.shares[0].failed = Some("No such device".into());
        let e = s.check_bind("/home/u/x").unwrap_err().to_string();
        assert!(e.contains("host folder /Users/u, which the machine could not mount: No such device"), "{e}");
    }
}
