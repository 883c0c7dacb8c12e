//! The state of the engine's kernel side of networks: where the
//! namespace files are, each container's embedded DNS server and its
//! published ports (bound and forwarded while it runs), the packet
//! filter's rules as last written, and the two
//! operations that background tasks run on it without the engine:
//! publishing a container's ports and taking a container's plumbing down.
//!
//! A published port opens one of two ways: the engine's own userland
//! proxy where the engine's host is the user's (process mode), or a
//! listener on the user's host asked of the machine process through the
//! port relay (in a machine, `host_ports`).
//!
//! Owns that state only; when it is made and changed is decided in
//! `net_plumbing.rs` and `net_ports.rs`. It must never reach the engine
//! itself (the tasks that use it hold it alone).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bollard_stubs::models::{PortBinding, PortMap};

use super::error::EngineError;
use crate::container::Container;
use crate::error_kind::ErrorKind;
use crate::network::kernel::{firewall, netns};
use crate::network::proxy::{self, Forward, Proto};
use crate::network::{NetworkError, Networks, dns};
use crate::unpoisoned::lock;
use berth_port_relay::guest::{BindError, Binding, Ports};

/// The engine's kernel side of networks (absent when it only records them).
pub struct Plumbing {
    pub(super) dir: PathBuf,
    /// Container id → its embedded DNS server.
    pub(super) dns: Mutex<HashMap<String, dns::Server>>,
    /// Container id → its published ports, while it runs.
    pub(super) ports: Mutex<HashMap<String, Published>>,
    /// In a machine: the user's host, where published ports listen.
    pub(super) host_ports: Option<Arc<Ports>>,
    /// The packet filter's rules as last written (None: not yet, or the
    /// write failed). Held across computing and writing them, so two
    /// writers cannot leave the older set in the kernel.
    pub(super) firewall: tokio::sync::Mutex<Option<firewall::Rules>>,
}

/// How long a start waits for the machine process to connect its port
/// relay (it connects as soon as the engine listens, so only a container
/// started at boot by its restart policy waits).
const HOST_RELAY_WAIT: Duration = Duration::from_secs(20);

impl Plumbing {
    pub(super) fn new(dir: PathBuf, host_ports: Option<Arc<Ports>>) -> Plumbing {
        Plumbing {
            dir,
            dns: Mutex::new(HashMap::new()),
            ports: Mutex::new(HashMap::new()),
            host_ports,
            firewall: tokio::sync::Mutex::new(None),
        }
    }

    pub(super) async fn unplumb(&self, container_id: &str) {
        drop(lock(&self.ports).remove(container_id));
        drop(lock(&self.dns).remove(container_id));
        let path = self.dir.join(container_id);
        let removed =
            tokio::task::spawn_blocking(move || netns::remove(&path)).await.map(|r| r.map_err(NetworkError::from));
        if let Err(e) = removed {
            tracing::warn!(container = %container_id, error = %e, "removing a container's network namespace");
        }
    }
}

/// A running container's published ports.
pub struct Published {
    pub ports: PortMap,
    _opened: Vec<Opened>,
}

/// One published port, open while it is held (dropped, it closes).
enum Opened {
    Proxy { _forward: Forward },
    Host { _binding: Binding },
}

/// Opens `at` for `target` the plumbing's way; the port that was bound.
async fn open(p: &Plumbing, proto: Proto, at: SocketAddr, target: SocketAddr) -> Result<(u16, Opened), String> {
    match &p.host_ports {
        Some(host) => match host.bind(proto, at, target, HOST_RELAY_WAIT).await {
            Ok(b) => Ok((b.port, Opened::Host { _binding: b })),
            Err(BindError::InUse) => Err("port is already allocated".into()),
            Err(e) => Err(e.to_string()),
        },
        None => match proxy::forward(proto, at, target) {
            Ok(f) => Ok((f.local.port(), Opened::Proxy { _forward: f })),
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => Err("port is already allocated".into()),
            Err(e) => Err(e.to_string()),
        },
    }
}

/// `8080/tcp` → (8080, tcp); a missing protocol is tcp.
pub(super) fn parse_key(key: &str) -> Option<(u16, Proto)> {
    let (port, proto) = key.split_once('/').unwrap_or((key, "tcp"));
    Some((port.parse().ok()?, Proto::parse(proto)?))
}

/// A binding's host side: its address (all of IPv4 when empty) and port
/// (0, any free one, when empty).
fn host_side(b: &PortBinding) -> Result<SocketAddr, EngineError> {
    let ip = match b.host_ip.as_deref().unwrap_or_default() {
        "" => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        s => s.parse().map_err(|_| EngineError::invalid(format!("invalid IP address: {s}")))?,
    };
    let port = match b.host_port.as_deref().unwrap_or_default() {
        "" => 0,
        s => {
            let first = s.split_once('-').map_or(s, |(a, _)| a);
            first.parse().map_err(|_| EngineError::invalid(format!("invalid hostPort: {s}")))?
        }
    };
    Ok(SocketAddr::new(ip, port))
}

/// [`Engine::publish`] from the parts a background task holds.
pub(super) async fn publish(p: &Plumbing, networks: &Networks, c: &Container) -> Result<(), EngineError> {
    if lock(&p.ports).contains_key(&c.id) {
        return Ok(());
    }
    let rec = c.record();
    if rec.host_config.network_mode.as_deref() == Some("host") {
        return Ok(());
    }
    let attachments = networks.attachments(&c.id);
    let Some(target) = attachments.iter().find_map(|(_, e)| e.ipv4) else { return Ok(()) };
    let mut wanted: Vec<(String, PortBinding)> = Vec::new();
    let bindings = rec.host_config.port_bindings.clone().unwrap_or_default();
    for (key, list) in &bindings {
        for b in list.iter().flatten() {
            wanted.push((key.clone(), b.clone()));
        }
    }
    let mut ports: PortMap = HashMap::new();
    for key in rec.config.exposed_ports.iter().flatten() {
        if rec.host_config.publish_all_ports == Some(true) && !bindings.contains_key(key) {
            wanted.push((key.clone(), PortBinding::default()));
        } else {
            ports.entry(key.clone()).or_insert(None);
        }
    }
    let mut opened = Vec::new();
    for (key, b) in wanted {
        let (cport, proto) =
            parse_key(&key).ok_or_else(|| EngineError::invalid(format!("invalid port specification: \"{key}\"")))?;
        let at = host_side(&b)?;
        let (port, o) = open(p, proto, at, SocketAddr::new(IpAddr::V4(target), cport)).await.map_err(|detail| {
            EngineError::Refused {
                kind: ErrorKind::Internal,
                message: format!(
                    "driver failed programming external connectivity on endpoint {} ({}): Bind for {at} failed: {detail}",
                    rec.name,
                    &c.id[..12],
                ),
            }
        })?;
        let bound = PortBinding { host_ip: Some(at.ip().to_string()), host_port: Some(port.to_string()) };
        ports.entry(key).or_insert(None).get_or_insert_with(Vec::new).push(bound);
        opened.push(o);
    }
    // Two publishes of one container may overlap now that opening waits
    // (a start and its start event): the first one's ports stay.
    lock(&p.ports).entry(c.id.clone()).or_insert(Published { ports, _opened: opened });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_keys_and_host_sides_as_docker_writes_them() {
        assert_eq!(parse_key("8080/tcp"), Some((8080, Proto::Tcp)));
        assert_eq!(parse_key("53/udp"), Some((53, Proto::Udp)));
        assert_eq!(parse_key("80"), Some((80, Proto::Tcp)));
        assert_eq!(parse_key("80/sctp"), None);
        let b = |ip: &str, port: &str| PortBinding { host_ip: Some(ip.into()), host_port: Some(port.into()) };
        assert_eq!(host_side(&b("127.0.0.1", "18080")).expect("ok"), "127.0.0.1:18080".parse().expect("addr"));
        assert_eq!(host_side(&b("", "")).expect("ok"), "0.0.0.0:0".parse().expect("addr"));
        assert!(host_side(&b("nope", "1")).is_err());
    }
}
