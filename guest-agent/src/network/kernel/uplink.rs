//! A machine's way out to the user's host and beyond: the VM's virtio-net
//! interface (served on the host by passt, unprivileged), configured at
//! boot from `berth.uplink=ADDRESS/PREFIX,GATEWAY,DNS` on the kernel
//! command line: address, link up, default route, and the VM's
//! `/etc/resolv.conf` naming passt's DNS forwarder (which the embedded DNS
//! and containers without one then use). Containers' traffic leaves by it
//! masqueraded (the engine's firewall); the gateway is passt's view of the
//! user's host, which `host-gateway` then names.
//!
//! Owns only the VM's own namespace's uplink; it never touches a
//! container's namespace or runs a binary. Blocking: call it from init.

use std::net::Ipv4Addr;

use futures_util::TryStreamExt;
use rtnetlink::RouteMessageBuilder;

use super::KernelError;
use super::links::{add_address, index, netlink, up};

/// The uplink the host set up for this VM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uplink {
    pub address: Ipv4Addr,
    pub prefix: u8,
    pub gateway: Ipv4Addr,
    pub dns: Ipv4Addr,
}

impl Uplink {
    /// The `berth.uplink=` word of a command line, if it has a valid one.
    pub fn from_cmdline(cmdline: &str) -> Option<Uplink> {
        let word = cmdline.split_whitespace().find_map(|w| w.strip_prefix("berth.uplink="))?;
        let mut parts = word.split(',');
        let (cidr, gateway, dns) = (parts.next()?, parts.next()?, parts.next()?);
        let (address, prefix) = cidr.split_once('/')?;
        let prefix: u8 = prefix.parse().ok().filter(|p| (1..=30).contains(p))?;
        Some(Uplink { address: address.parse().ok()?, prefix, gateway: gateway.parse().ok()?, dns: dns.parse().ok()? })
    }

    /// Configures the first interface other than `lo` (the VM has only
    /// its virtio-net device when init runs): address, up, default route;
    /// returns its name.
    pub fn configure(&self) -> Result<String, KernelError> {
        let me = self.clone();
        let name = netlink(|h| async move {
            let mut links = h.link().get().execute();
            let mut found = None;
            while let Some(m) = links.try_next().await.map_err(KernelError::netlink("list links"))? {
                let name = m.attributes.iter().find_map(|a| match a {
                    rtnetlink::packet_route::link::LinkAttribute::IfName(n) => Some(n.clone()),
                    _ => None,
                });
                if let Some(n) = name.filter(|n| n != "lo") {
                    found = Some(n);
                    break;
                }
            }
            let name = found.ok_or_else(|| {
                KernelError::io("the uplink")(std::io::Error::other("the VM has no network interface"))
            })?;
            let idx = index(&h, &name).await?.ok_or_else(|| {
                KernelError::io(format!("link {name}"))(std::io::Error::other("gone while configured"))
            })?;
            add_address(&h, idx, me.address, me.prefix, &format!("address of {name}")).await?;
            up(&h, idx, &format!("{name} up")).await?;
            let route = RouteMessageBuilder::<Ipv4Addr>::new().gateway(me.gateway).output_interface(idx).build();
            match h.route().add(route).execute().await {
                Ok(()) => {}
                Err(rtnetlink::Error::NetlinkError(e)) if e.raw_code() == -libc::EEXIST => {}
                Err(e) => return Err(KernelError::netlink("the uplink's default route")(e)),
            }
            Ok(name)
        })?;
        Ok(name)
    }

    /// The VM's `/etc/resolv.conf`: passt's DNS forwarder. The initramfs
    /// has no `/etc`; it is made here.
    pub fn write_resolv_conf(&self) -> Result<(), KernelError> {
        std::fs::create_dir_all("/etc").map_err(KernelError::io("create /etc"))?;
        let resolv = format!("# berth: the uplink's DNS forwarder (passt, on the host)\nnameserver {}\n", self.dns);
        std::fs::write("/etc/resolv.conf", resolv).map_err(KernelError::io("write /etc/resolv.conf"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_names_the_uplink() {
        let u = Uplink::from_cmdline("quiet berth.uplink=10.0.2.15/24,10.0.2.2,10.0.2.3 x").unwrap();
        assert_eq!(
            u,
            Uplink {
                address: Ipv4Addr::new(10, 0, 2, 15),
                prefix: 24,
                gateway: Ipv4Addr::new(10, 0, 2, 2),
                dns: Ipv4Addr::new(10, 0, 2, 3)
            }
        );
        assert_eq!(Uplink::from_cmdline("quiet"), None);
        assert_eq!(Uplink::from_cmdline("berth.uplink=10.0.2.15,10.0.2.2,10.0.2.3"), None);
        assert_eq!(Uplink::from_cmdline("berth.uplink=10.0.2.15/33,10.0.2.2,10.0.2.3"), None);
        assert_eq!(Uplink::from_cmdline("berth.uplink=10.0.2.15/24,x,10.0.2.3"), None);
    }
}
