//! An endpoint's links over netlink: the network's Linux bridge with its
//! gateway address, a veth pair whose host end is a port of the bridge and
//! whose other end is moved into the container's namespace and becomes
//! `eth<n>` with Docker's MAC, the address, the MTU and the default route;
//! loopback up in every namespace.
//!
//! It must never run a binary (`ip`, `brctl`): everything is rtnetlink.
//! Every function is blocking (a netlink connection on a thread of its
//! own, in the namespace it works on); call it from a blocking task.

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

use futures_util::TryStreamExt;
use rtnetlink::{Handle, LinkBridge, LinkUnspec, LinkVeth, RouteMessageBuilder};

use super::KernelError;
use super::netns::run_in;

/// One endpoint to make: where it plugs in and what it is inside.
#[derive(Clone, Debug)]
pub struct EndpointPlan {
    pub bridge: String,
    pub gateway: Ipv4Addr,
    pub prefix: u8,
    pub mtu: u32,
    /// The host end's name (`veth` and 7 hex digits of the endpoint id).
    pub host_if: String,
    /// The name inside the container (`eth0`…).
    pub ifname: String,
    pub address: Ipv4Addr,
    pub mac: [u8; 6],
    /// Whether this endpoint carries the container's default route.
    pub default_route: bool,
}

/// A netlink connection on this thread, for the duration of `f`.
pub(super) fn netlink<T, F, Fut>(f: F) -> Result<T, KernelError>
where
    F: FnOnce(Handle) -> Fut,
    Fut: std::future::Future<Output = Result<T, KernelError>>,
{
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .map_err(KernelError::io("a runtime for netlink"))?;
    rt.block_on(async {
        let (conn, handle, _) = rtnetlink::new_connection().map_err(KernelError::io("open a netlink socket"))?;
        tokio::spawn(conn);
        f(handle).await
    })
}

/// The index of the link named `name`, if there is one.
pub(super) async fn index(h: &Handle, name: &str) -> Result<Option<u32>, KernelError> {
    match h.link().get().match_name(name.to_string()).execute().try_next().await {
        Ok(m) => Ok(m.map(|m| m.header.index)),
        Err(rtnetlink::Error::NetlinkError(e)) if e.raw_code() == -libc::ENODEV => Ok(None),
        Err(e) => Err(KernelError::netlink(format!("find link {name}"))(e)),
    }
}

pub(super) async fn up(h: &Handle, idx: u32, what: &str) -> Result<(), KernelError> {
    h.link().set(LinkUnspec::new_with_index(idx).up().build()).execute().await.map_err(KernelError::netlink(what))
}

/// Adds an address, an existing one being no error.
pub(super) async fn add_address(h: &Handle, idx: u32, ip: Ipv4Addr, prefix: u8, what: &str) -> Result<(), KernelError> {
    match h.address().add(idx, IpAddr::V4(ip), prefix).execute().await {
        Ok(()) => Ok(()),
        Err(rtnetlink::Error::NetlinkError(e)) if e.raw_code() == -libc::EEXIST => Ok(()),
        Err(e) => Err(KernelError::netlink(what)(e)),
    }
}

async fn lo_up(h: &Handle) -> Result<(), KernelError> {
    if let Some(lo) = index(h, "lo").await? {
        up(h, lo, "loopback up").await?;
    }
    Ok(())
}

/// Loopback up in the namespace at `netns` (the engine's own when `None`).
pub fn loopback_up(netns: Option<&Path>) -> Result<(), KernelError> {
    run_in(netns, || netlink(|h| async move { lo_up(&h).await }))
}

/// Does the namespace at `netns` have a link named `name`?
pub fn has_link(netns: &Path, name: &str) -> Result<bool, KernelError> {
    let name = name.to_string();
    run_in(Some(netns), move || netlink(|h| async move { Ok(index(&h, &name).await?.is_some()) }))
}

/// Deletes the link `name` in `netns` (the engine's namespace when
/// `None`); a link that is not there is no error.
pub fn delete(netns: Option<&Path>, name: &str) -> Result<(), KernelError> {
    let name = name.to_string();
    run_in(netns, move || {
        netlink(|h| async move {
            if let Some(idx) = index(&h, &name).await? {
                h.link().del(idx).execute().await.map_err(KernelError::netlink(format!("delete link {name}")))?;
            }
            Ok(())
        })
    })
}

/// The bridge with the gateway's address, up; made when missing.
async fn ensure_bridge(h: &Handle, p: &EndpointPlan) -> Result<u32, KernelError> {
    let idx = match index(h, &p.bridge).await? {
        Some(i) => i,
        None => {
            let msg = LinkBridge::new(&p.bridge).mtu(p.mtu).build();
            match h.link().add(msg).execute().await {
                Ok(()) => {}
                Err(rtnetlink::Error::NetlinkError(e)) if e.raw_code() == -libc::EEXIST => {}
                Err(e) => return Err(KernelError::netlink(format!("create bridge {}", p.bridge))(e)),
            }
            index(h, &p.bridge).await?.ok_or_else(|| {
                KernelError::io(format!("bridge {}", p.bridge))(std::io::Error::other("gone after its creation"))
            })?
        }
    };
    add_address(h, idx, p.gateway, p.prefix, &format!("address of bridge {}", p.bridge)).await?;
    up(h, idx, &format!("bridge {} up", p.bridge)).await?;
    Ok(idx)
}

/// Makes the endpoint unless the container's namespace already has its
/// interface (a container started again, an engine restarted).
pub fn attach(netns: &Path, p: &EndpointPlan) -> Result<(), KernelError> {
    loopback_up(Some(netns))?;
    if has_link(netns, &p.ifname)? {
        return Ok(());
    }
    // The peer's name while it crosses over: unique per endpoint, and not
    // one a container uses.
    let peer = format!("bp{}", &p.host_if[4..]);
    let ns_file = std::fs::File::open(netns).map_err(KernelError::io(format!("open {}", netns.display())))?;
    let (plan, crossing) = (p.clone(), peer.clone());
    run_in(None, move || {
        let peer = crossing;
        netlink(|h| async move {
            use std::os::fd::AsRawFd;
            let br = ensure_bridge(&h, &plan).await?;
            if let Some(stale) = index(&h, &plan.host_if).await? {
                h.link().del(stale).execute().await.map_err(KernelError::netlink("delete a stale veth"))?;
            }
            let veth = LinkVeth::new(&plan.host_if, &peer).mtu(plan.mtu).build();
            h.link()
                .add(veth)
                .execute()
                .await
                .map_err(KernelError::netlink(format!("create veth {}", plan.host_if)))?;
            let host = index(&h, &plan.host_if).await?.ok_or_else(|| {
                KernelError::io(format!("veth {}", plan.host_if))(std::io::Error::other("gone after its creation"))
            })?;
            let inner = index(&h, &peer).await?.ok_or_else(|| {
                KernelError::io(format!("veth {peer}"))(std::io::Error::other("gone after its creation"))
            })?;
            let set_host = LinkUnspec::new_with_index(host).controller(br).up().build();
            h.link().set(set_host).execute().await.map_err(KernelError::netlink("veth into the bridge"))?;
            let moved = LinkUnspec::new_with_index(inner).setns_by_fd(ns_file.as_raw_fd()).build();
            h.link().set(moved).execute().await.map_err(KernelError::netlink("veth into the container's namespace"))?;
            Ok(())
        })
    })?;
    let plan = p.clone();
    run_in(Some(netns), move || {
        netlink(|h| async move {
            let idx = index(&h, &peer).await?.ok_or_else(|| {
                KernelError::io(format!("veth {peer}"))(std::io::Error::other("not in the container's namespace"))
            })?;
            let set = LinkUnspec::new_with_index(idx)
                .name(plan.ifname.clone())
                .address(plan.mac.to_vec())
                .mtu(plan.mtu)
                .build();
            h.link().set(set).execute().await.map_err(KernelError::netlink(format!("name {}", plan.ifname)))?;
            add_address(&h, idx, plan.address, plan.prefix, &format!("address of {}", plan.ifname)).await?;
            up(&h, idx, &format!("{} up", plan.ifname)).await?;
            if plan.default_route {
                let route = RouteMessageBuilder::<Ipv4Addr>::new().gateway(plan.gateway).output_interface(idx).build();
                match h.route().add(route).execute().await {
                    Ok(()) => {}
                    Err(rtnetlink::Error::NetlinkError(e)) if e.raw_code() == -libc::EEXIST => {}
                    Err(e) => return Err(KernelError::netlink("default route")(e)),
                }
            }
            Ok(())
        })
    })
}
