//! Published ports (`-p [ip:]hostPort:containerPort[/udp]`, `-P`): while
//! a container runs, a userland proxy listens on each `HostIp:HostPort`
//! of its `PortBindings` (and, with `PublishAllPorts`, on a random port
//! for each `ExposedPorts` entry) and forwards to the container's address;
//! `NetworkSettings.Ports` shows what is bound, as Docker's.
//!
//! Owns which ports are bound for which container (in the engine's
//! plumbing); the forwarding itself is `crate::network::proxy`'s. A port
//! that cannot be bound fails the start with Docker's message and leaves
//! nothing bound.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use bollard_stubs::models::{PortBinding, PortMap};

use super::net_plumbing::Plumbing;
use super::{Engine, EngineError};
use crate::container::Container;
use crate::error_kind::ErrorKind;
use crate::network::Networks;
use crate::network::proxy::{self, Forward, Proto};
use crate::unpoisoned::lock;

/// A running container's published ports.
pub struct Published {
    pub ports: PortMap,
    _forwards: Vec<Forward>,
}

/// `8080/tcp` → (8080, tcp); a missing protocol is tcp.
fn parse_key(key: &str) -> Option<(u16, Proto)> {
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

impl Engine {
    /// Binds the container's published ports (before its start); nothing
    /// when it has none, no address, or they are bound already.
    pub(super) fn publish(&self, c: &Container) -> Result<(), EngineError> {
        match &self.plumbing {
            Some(p) => publish(p, &self.networks, c),
            None => Ok(()),
        }
    }
}

/// [`Engine::publish`] from the parts a background task holds.
pub(super) fn publish(p: &Plumbing, networks: &Networks, c: &Container) -> Result<(), EngineError> {
    if lock(&p.ports).contains_key(&c.id) {
        return Ok(());
    }
    let rec = c.record();
    if rec.host_config.network_mode.as_deref() == Some("host") {
        return Ok(());
    }
    let mut attachments = networks.attachments(&c.id);
    attachments.sort_by(|a, b| a.1.ifname.cmp(&b.1.ifname));
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
    let mut forwards = Vec::new();
    for (key, b) in wanted {
        let (cport, proto) =
            parse_key(&key).ok_or_else(|| EngineError::invalid(format!("invalid port specification: \"{key}\"")))?;
        let at = host_side(&b)?;
        let f = proxy::forward(proto, at, SocketAddr::new(IpAddr::V4(target), cport)).map_err(|e| {
                let detail = match e.kind() {
                    std::io::ErrorKind::AddrInUse => "port is already allocated".to_string(),
                    _ => e.to_string(),
                };
                EngineError::Refused {
                    kind: ErrorKind::Internal,
                    message: format!(
                        "driver failed programming external connectivity on endpoint {} ({}): Bind for {at} failed: {detail}",
                        rec.name,
                        &c.id[..12],
                    ),
                }
            })?;
        let bound = PortBinding { host_ip: Some(at.ip().to_string()), host_port: Some(f.local.port().to_string()) };
        ports.entry(key).or_insert(None).get_or_insert_with(Vec::new).push(bound);
        forwards.push(f);
    }
    lock(&p.ports).insert(c.id.clone(), Published { ports, _forwards: forwards });
    Ok(())
}

impl Engine {
    /// The container stopped or went: its ports are closed.
    pub(super) fn unpublish(&self, container_id: &str) {
        if let Some(p) = &self.plumbing {
            drop(lock(&p.ports).remove(container_id));
        }
    }

    /// The `Ports` of a `docker ps` row: each bound port, and the exposed
    /// ones that are not, as Docker lists them.
    pub(super) fn summary_ports(&self, container_id: &str) -> Option<Vec<bollard_stubs::models::Port>> {
        use bollard_stubs::models::{Port, PortTypeEnum};
        let map = self.published_ports(container_id)?;
        let mut out = Vec::new();
        for (key, bound) in map {
            let Some((private_port, proto)) = parse_key(&key) else { continue };
            let typ = Some(match proto {
                Proto::Tcp => PortTypeEnum::TCP,
                Proto::Udp => PortTypeEnum::UDP,
            });
            match bound {
                None => out.push(Port { ip: None, private_port, public_port: None, typ }),
                Some(list) => out.extend(list.into_iter().map(|b| Port {
                    ip: b.host_ip,
                    private_port,
                    public_port: b.host_port.and_then(|p| p.parse().ok()),
                    typ,
                })),
            }
        }
        out.sort_by_key(|p| (p.private_port, p.public_port));
        Some(out)
    }

    /// `NetworkSettings.Ports` of a running container.
    pub(super) fn published_ports(&self, container_id: &str) -> Option<PortMap> {
        let p = self.plumbing.as_ref()?;
        lock(&p.ports).get(container_id).map(|x| x.ports.clone())
    }
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
