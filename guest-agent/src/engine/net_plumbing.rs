//! Networks made real: at a container's start the engine gives it its
//! network namespace (a file under `<root>/netns/`, joined by the spec),
//! a veth into each of its networks' bridges with the address IPAM gave
//! it, and, in user networks, the embedded DNS server answering from the
//! network records; at removal all of it goes. `network connect` and
//! `disconnect` of a running container change its links live.
//!
//! The engine's packet filter (masquerade for egress, isolation between
//! networks, `--internal`) follows the records: rewritten whole, when they
//! ask for other rules than the last written, before a start that
//! attaches a container and after a network goes.
//!
//! Owns the order (records first, kernel second) and the DNS servers'
//! tasks; the kernel work itself is `crate::network::kernel`'s. It must
//! never run a binary, and never touch a namespace the engine did not
//! make.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::plumbing::Plumbing;
use super::{Engine, EngineError};
use crate::container::Container;
use crate::network::kernel::firewall::{self, BridgeRules};
use crate::network::kernel::links::{self, EndpointPlan};
use crate::network::kernel::netns;
use crate::network::{Endpoint, NetworkError, NetworkRecord, dns};
use crate::unpoisoned::lock;

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, crate::network::kernel::KernelError> + Send + 'static,
) -> Result<T, EngineError> {
    Ok(tokio::task::spawn_blocking(f).await?.map_err(NetworkError::from)?)
}

/// The packet filter of every bridge network with an address (Docker's
/// option `com.docker.network.bridge.enable_icc` read as it reads it).
fn firewall_rules(nets: &[NetworkRecord]) -> firewall::Rules {
    let bridges = nets
        .iter()
        .filter(|n| n.driver == "bridge")
        .filter_map(|n| {
            let v4 = n.v4()?;
            let icc = n.options.get("com.docker.network.bridge.enable_icc").is_none_or(|v| v != "false");
            Some(BridgeRules {
                bridge: n.bridge_name(),
                subnet: v4.subnet.network(),
                prefix: v4.subnet.len,
                internal: n.internal,
                icc,
            })
        })
        .collect();
    firewall::Rules { bridges }
}

/// The endpoint's links, when it has an address.
fn plan(net: &NetworkRecord, ep: &Endpoint) -> Option<EndpointPlan> {
    let (ip, v4) = (ep.ipv4?, net.v4()?);
    Some(EndpointPlan {
        bridge: net.bridge_name(),
        gateway: v4.gateway,
        prefix: v4.subnet.len,
        mtu: net.mtu(),
        host_if: format!("veth{}", &ep.endpoint_id[..7]),
        ifname: ep.ifname.clone(),
        address: ip,
        mac: ep.mac()?,
        default_route: true,
    })
}

impl Engine {
    /// The engine configures networks in the kernel (bridges, veths,
    /// addresses, DNS) instead of recording them only; its own loopback is
    /// brought up (a new namespace's is down).
    pub fn with_network_plumbing(mut self) -> Result<Self, EngineError> {
        let dir = self.root.join("netns");
        std::fs::create_dir_all(&dir).map_err(|source| EngineError::Root { path: dir.clone(), source })?;
        links::loopback_up(None).map_err(NetworkError::from)?;
        let _ = self.containers.netns_dir.set(dir.clone());
        let networks = self.networks.clone();
        let _ = self
            .containers
            .addresses_of
            .set(Box::new(move |id: &str| networks.attachments(id).into_iter().filter_map(|(_, e)| e.ipv4).collect()));
        self.plumbing = Some(Arc::new(Plumbing::new(dir, None)));
        Ok(self)
    }

    /// In a machine: published ports listen on the user's host, through
    /// the port relay that `network::host_ports` serves (after
    /// [`Self::with_network_plumbing`], before anything shares the plumbing).
    pub fn with_host_ports(mut self, ports: Arc<berth_port_relay::guest::Ports>) -> Self {
        if let Some(p) = self.plumbing.as_mut().and_then(Arc::get_mut) {
            p.host_ports = Some(ports);
        }
        self
    }

    fn netns_file(&self, container_id: &str) -> Option<PathBuf> {
        self.plumbing.as_ref().map(|p| p.dir.join(container_id))
    }

    /// Before a start: the container's namespace, its endpoints' links and
    /// its DNS server (each made only if missing).
    pub(super) async fn plumb(&self, c: &Container) -> Result<(), EngineError> {
        let Some(path) = self.netns_file(&c.id) else { return Ok(()) };
        let rec = c.record();
        match rec.host_config.network_mode.as_deref().unwrap_or_default() {
            "host" => return Ok(()),
            m if m.starts_with("container:") => {
                let other = &m["container:".len()..];
                return match self.netns_file(other).is_some_and(|p| netns::exists(&p)) {
                    true => Ok(()),
                    false => Err(EngineError::conflict(format!(
                        "cannot join network namespace of a non running container: {other}"
                    ))),
                };
            }
            _ => {}
        }
        let attachments = self.networks.attachments(&c.id);
        let with_dns = attachments.iter().any(|(n, _)| n.has_dns());
        let plans: Vec<EndpointPlan> = attachments.iter().filter_map(|(n, e)| plan(n, e)).collect();
        if !plans.is_empty() {
            self.apply_firewall().await;
        }
        let ns = path.clone();
        blocking(move || {
            netns::create(&ns)?;
            links::loopback_up(Some(&ns))?;
            for p in &plans {
                links::attach(&ns, p)?;
            }
            Ok(())
        })
        .await?;
        if with_dns {
            self.ensure_dns(&c.id, &path)?;
        }
        Ok(())
    }

    fn ensure_dns(&self, container_id: &str, path: &Path) -> Result<(), EngineError> {
        let Some(p) = &self.plumbing else { return Ok(()) };
        let mut servers = lock(&p.dns);
        if servers.get(container_id).is_some_and(|t| !t.is_finished()) {
            return Ok(());
        }
        let (networks, containers, asker) = (self.networks.clone(), self.containers.clone(), container_id.to_string());
        let resolve: dns::Resolve = Arc::new(move |name: &str| {
            let running = |id: &str| containers.get(id).is_ok_and(|c| c.is_running());
            networks.lookup(&asker, name, &running)
        });
        let task = dns::serve(path, resolve, dns::upstream_servers()).map_err(NetworkError::from)?;
        servers.insert(container_id.to_string(), task);
        Ok(())
    }

    /// A connect to a running container: its new link now.
    pub(super) async fn plumb_if_running(&self, c: &Container) -> Result<(), EngineError> {
        match c.is_running() {
            true => self.plumb(c).await,
            false => Ok(()),
        }
    }

    /// A disconnect: the endpoint's interface leaves the container.
    pub(super) async fn unplumb_endpoint(&self, container_id: &str, ifname: &str) -> Result<(), EngineError> {
        let Some(path) = self.netns_file(container_id).filter(|p| netns::exists(p)) else { return Ok(()) };
        let ifname = ifname.to_string();
        blocking(move || links::delete(Some(&path), &ifname)).await
    }

    /// A removed container: its DNS server and namespace go (its veths with
    /// it).
    pub(super) async fn unplumb(&self, container_id: &str) {
        if let Some(p) = &self.plumbing {
            p.unplumb(container_id).await;
        }
    }

    /// What the container domain does on its own follows its events: a
    /// container it removes (`--rm`) leaves its networks, one that exits
    /// closes its published ports, one a restart policy starts again
    /// opens them again.
    pub(super) fn follow_removals(&self) {
        let Some(p) = self.plumbing.clone() else { return };
        let (networks, containers) = (self.networks.clone(), self.containers.clone());
        let (_, mut events) = self.containers.events.subscribe(None);
        tokio::spawn(async move {
            loop {
                match events.recv().await {
                    Ok(e) if e.typ() == "container" && e.action() == "destroy" => {
                        networks.forget_container(e.actor_id());
                        p.unplumb(e.actor_id()).await;
                    }
                    Ok(e) if e.typ() == "container" && e.action() == "die" => {
                        drop(lock(&p.ports).remove(e.actor_id()));
                    }
                    Ok(e) if e.typ() == "container" && e.action() == "start" => {
                        if let Ok(c) = containers.get(e.actor_id())
                            && let Err(err) = super::plumbing::publish(&p, &networks, &c).await
                        {
                            tracing::warn!(container = %c.id, error = %err, "publishing the ports of a restarted container");
                        }
                    }
                    Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                }
            }
        });
    }

    /// A removed network: its bridge and its rules go.
    pub(super) async fn unplumb_network(&self, rec: &NetworkRecord) {
        if self.plumbing.is_none() || rec.driver != "bridge" {
            return;
        }
        let bridge = rec.bridge_name();
        if let Err(e) = blocking(move || links::delete(None, &bridge)).await {
            tracing::warn!(network = %rec.name, error = %e, "removing a network's bridge");
        }
        self.apply_firewall().await;
    }

    /// The engine's nftables table made to match the network records (a
    /// whole replacement, so the first one is also the clean-up after a
    /// crash), unless it already does. A kernel without nftables leaves
    /// containers without egress or isolation between networks, which the
    /// log says; they still start.
    pub(super) async fn apply_firewall(&self) {
        let Some(p) = &self.plumbing else { return };
        let mut written = p.firewall.lock().await;
        let rules = firewall_rules(&self.networks.list());
        if written.as_ref() == Some(&rules) {
            return;
        }
        let wanted = rules.clone();
        match blocking(move || firewall::apply(&wanted)).await {
            Ok(()) => *written = Some(rules),
            Err(e) => {
                *written = None;
                tracing::warn!(error = %e, "the packet filter (egress, isolation between networks) is not in place");
            }
        }
    }

    /// After an engine restart, before the container domain recovers: the
    /// namespace, links and DNS server of every container that had one,
    /// running or not. After a reboot of the machine (or the host) the
    /// namespace files on the data disk are no longer mounted, and a
    /// container its restart policy starts again at boot joins its file
    /// without passing through `start_container`; a stopped one keeps its
    /// namespace until removal, as while the engine runs. Namespaces of
    /// containers that are gone are removed.
    pub(super) async fn restore_plumbing(&self) {
        let Some(p) = &self.plumbing else { return };
        let Ok(entries) = std::fs::read_dir(&p.dir) else { return };
        for e in entries.flatten() {
            let id = e.file_name().to_string_lossy().into_owned();
            match self.containers.get(&id) {
                Ok(c) => {
                    if let Err(e) = self.plumb(&c).await {
                        tracing::warn!(container = %id, error = %e, "re-establishing a container's network");
                    }
                }
                Err(_) => self.unplumb(&id).await,
            }
        }
    }

    /// After the container domain recovered: the published ports of the
    /// containers that run, each on a task of its own (in a machine they
    /// wait for the host's port relay, which must not hold up recovery).
    pub(super) fn restore_ports(&self) {
        let Some(p) = &self.plumbing else { return };
        let Ok(entries) = std::fs::read_dir(&p.dir) else { return };
        for e in entries.flatten() {
            let id = e.file_name().to_string_lossy().into_owned();
            let Ok(c) = self.containers.get(&id) else { continue };
            if !c.is_running() {
                continue;
            }
            let (p, networks) = (p.clone(), self.networks.clone());
            tokio::spawn(async move {
                if let Err(e) = super::plumbing::publish(&p, &networks, &c).await {
                    tracing::warn!(container = %c.id, error = %e, "publishing a running container's ports again");
                }
            });
        }
    }
}
