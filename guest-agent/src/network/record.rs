//! A network as the engine keeps it on disk (`<root>/networks/<id>.json`),
//! its endpoints (the containers in it), and Docker's JSON view of it.
//!
//! Must never hold an IP address it did not allocate: until the networking
//! issue lands, endpoints have none (containers get loopback only).

use std::collections::{BTreeMap, HashMap};

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
}

impl NetworkRecord {
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
                            mac_address: Some(String::new()),
                            ipv4_address: Some(String::new()),
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
        EndpointSettings {
            ipam_config: req.ipam_config,
            links: req.links,
            driver_opts: req.driver_opts,
            aliases: Some(e.aliases.clone()),
            dns_names: Some(std::iter::once(e.container_name.clone()).chain(e.aliases.iter().cloned()).collect()),
            network_id: Some(self.id.clone()),
            endpoint_id: Some(e.endpoint_id.clone()),
            ..unaddressed_endpoint()
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
