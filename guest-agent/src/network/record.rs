//! A network as the engine keeps it on disk (`<root>/networks/<id>.json`),
//! its endpoints (the containers in it), and Docker's JSON view of it.
//!
//! Must never hold an IP address it did not allocate: an endpoint's address
//! comes from `super::ipam` under the records' lock.

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;

use bollard_stubs::models::{EndpointSettings, Ipam, Network, NetworkContainer};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct NetworkRecord {
    pub id: String,
    pub name: String,
    pub driver: String,
    pub scope: String,
    pub created: String,
    pub internal: bool,
    pub attachable: bool,
    pub ingress: bool,
    pub enable_ipv6: bool,
    pub ipam: Ipam,
    pub options: HashMap<String, String>,
    pub labels: HashMap<String, String>,
    /// `bridge`, `host` and `none`: made by the engine, never removed.
    pub predefined: bool,
    /// Container id → its endpoint in this network.
    pub endpoints: BTreeMap<String, Endpoint>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Endpoint {
    /// The container's name when it joined (without the slash).
    pub container_name: String,
    pub endpoint_id: String,
    /// Names the container is known by in this network (DNS by name comes
    /// with the networking issue).
    pub aliases: Vec<String>,
    /// What the client asked for (IPAMConfig, Links, DriverOpts…), kept as
    /// given so inspect shows it back.
    pub requested: Option<EndpointSettings>,
    /// The IPv4 address IPAM gave it (none in `host` and `none`).
    #[serde(default)]
    pub ipv4: Option<Ipv4Addr>,
    /// Its interface in the container (`eth0`, `eth1`…).
    #[serde(default)]
    pub ifname: String,
}

/// A network's IPv4 addressing: its subnet, gateway and `--ip-range`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct V4 {
    pub subnet: super::ipam::Subnet,
    pub gateway: Ipv4Addr,
    pub range: Option<super::ipam::Subnet>,
}

impl Endpoint {
    /// Docker's MAC address of the endpoint, from its address.
    pub fn mac(&self) -> Option<[u8; 6]> {
        self.ipv4.map(super::ipam::mac_of)
    }

    /// The names it answers to in the network's DNS: its container's name
    /// and its aliases.
    pub fn dns_names(&self) -> Vec<String> {
        std::iter::once(self.container_name.clone()).chain(self.aliases.iter().cloned()).collect()
    }
}

impl NetworkRecord {
    /// The first IPv4 entry of the network's IPAM config.
    pub fn v4(&self) -> Option<V4> {
        use super::ipam::Subnet;
        self.ipam.config.iter().flatten().find_map(|c| {
            let subnet = Subnet::parse(c.subnet.as_deref()?)?;
            let gateway = c.gateway.as_deref().and_then(|g| g.parse().ok()).unwrap_or_else(|| subnet.first_host());
            let range = c.ip_range.as_deref().and_then(Subnet::parse);
            Some(V4 { subnet, gateway, range })
        })
    }

    /// The Linux bridge of a bridge network: `-o com.docker.network.bridge.name`,
    /// else `br-` and the id's first 12 characters, as Docker names it.
    pub fn bridge_name(&self) -> String {
        match self.options.get("com.docker.network.bridge.name") {
            Some(n) if !n.is_empty() => n.clone(),
            _ => format!("br-{}", &self.id[..12.min(self.id.len())]),
        }
    }

    /// `-o com.docker.network.driver.mtu`, else 1500.
    pub fn mtu(&self) -> u32 {
        self.options.get("com.docker.network.driver.mtu").and_then(|m| m.parse().ok()).unwrap_or(1500)
    }

    /// Containers in it resolve each other by name (every user network;
    /// the default `bridge` resolves by IP only).
    pub fn has_dns(&self) -> bool {
        !self.predefined && self.driver == "bridge"
    }

    /// `GET /networks/{id}` and the rows of `GET /networks`; `containers`
    /// only with the endpoints that still have a container.
    pub fn model(&self, with_containers: bool, exists: &dyn Fn(&str) -> bool) -> Network {
        let containers = with_containers.then(|| {
            self.endpoints
                .iter()
                .filter(|(id, _)| exists(id))
                .map(|(id, e)| {
                    (
                        id.clone(),
                        NetworkContainer {
                            name: Some(e.container_name.clone()),
                            endpoint_id: Some(e.endpoint_id.clone()),
                            mac_address: Some(e.mac().map(super::ipam::mac_string).unwrap_or_default()),
                            ipv4_address: Some(match (e.ipv4, self.v4()) {
                                (Some(ip), Some(v4)) => format!("{ip}/{}", v4.subnet.len),
                                _ => String::new(),
                            }),
                            ipv6_address: Some(String::new()),
                        },
                    )
                })
                .collect()
        });
        Network {
            name: Some(self.name.clone()),
            id: Some(self.id.clone()),
            created: Some(self.created.clone()),
            scope: Some(self.scope.clone()),
            driver: Some(self.driver.clone()),
            enable_ipv4: Some(true),
            enable_ipv6: Some(self.enable_ipv6),
            ipam: Some(self.ipam.clone()),
            internal: Some(self.internal),
            attachable: Some(self.attachable),
            ingress: Some(self.ingress),
            config_from: Some(bollard_stubs::models::ConfigReference { network: Some(String::new()) }),
            config_only: Some(false),
            containers: Some(containers.unwrap_or_default()),
            options: Some(self.options.clone()),
            labels: Some(self.labels.clone()),
            peers: None,
        }
    }

    /// The container's view of its endpoint: `NetworkSettings.Networks[name]`.
    pub fn endpoint_settings(&self, e: &Endpoint) -> EndpointSettings {
        let req = e.requested.clone().unwrap_or_default();
        let addressed = e.ipv4.zip(self.v4()).map(|(ip, v4)| EndpointSettings {
            ip_address: Some(ip.to_string()),
            ip_prefix_len: Some(i64::from(v4.subnet.len)),
            gateway: Some(v4.gateway.to_string()),
            mac_address: e.mac().map(super::ipam::mac_string),
            ..unaddressed_endpoint()
        });
        EndpointSettings {
            ipam_config: req.ipam_config,
            links: req.links,
            driver_opts: req.driver_opts,
            aliases: Some(e.aliases.clone()),
            dns_names: Some(e.dns_names()),
            network_id: Some(self.id.clone()),
            endpoint_id: Some(e.endpoint_id.clone()),
            ..addressed.unwrap_or_else(unaddressed_endpoint)
        }
    }
}

/// An endpoint without addresses (loopback-only containers): Docker fills
/// these fields with empty values, and clients index them.
pub fn unaddressed_endpoint() -> EndpointSettings {
    EndpointSettings {
        gateway: Some(String::new()),
        ip_address: Some(String::new()),
        ip_prefix_len: Some(0),
        ipv6_gateway: Some(String::new()),
        global_ipv6_address: Some(String::new()),
        global_ipv6_prefix_len: Some(0),
        mac_address: Some(String::new()),
        ..Default::default()
    }
}
