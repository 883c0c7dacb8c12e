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

use bollard_stubs::models::PortMap;

use super::plumbing::{parse_key, publish};
use super::{Engine, EngineError};
use crate::container::Container;
use crate::network::proxy::Proto;
use crate::unpoisoned::lock;

impl Engine {
    /// Binds the container's published ports (before its start); nothing
    /// when it has none, no address, or they are bound already.
    pub(super) async fn publish(&self, c: &Container) -> Result<(), EngineError> {
        match &self.plumbing {
            Some(p) => publish(p, &self.networks, c).await,
            None => Ok(()),
        }
    }
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
