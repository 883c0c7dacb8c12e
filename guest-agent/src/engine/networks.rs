//! Networks as the engine serves them, and the one owner of the container ↔
//! network relationship: which networks a container joins at create, the
//! check at start, the endpoints dropped at removal, and the
//! `NetworkSettings.Networks` of a container's views.
//!
//! Owns those cross-resource rules; the records themselves are
//! `crate::network`'s, which never learns about containers except through
//! the liveness predicate passed from here. It must never speak HTTP.

use std::collections::HashMap;

use bollard_stubs::models::{
    ContainerCreateBody, EndpointSettings, Network, NetworkConnectRequest, NetworkCreateRequest, NetworkCreateResponse,
    NetworkDisconnectRequest, NetworkPruneResponse,
};

use super::{Engine, EngineError};
use crate::container::Container;
use crate::container::filters::{Filters, prune_until};
use crate::network::{Join, NetworkError, NetworkRecord, filters};

/// A network a container will join, with the endpoint settings it asked for.
pub type PlannedJoin = (String, Option<EndpointSettings>);

/// Docker refuses to move a container that shares a namespace (host, none,
/// another container's) into a network, and to put one into host or none.
fn shares_namespace(mode: &str) -> bool {
    matches!(mode, "host" | "none") || mode.starts_with("container:")
}

/// The network of a `NetworkMode`: empty and `default` mean `bridge`.
fn mode_network(mode: Option<&str>) -> String {
    match mode.unwrap_or_default() {
        "" | "default" => "bridge".to_string(),
        m => m.to_string(),
    }
}

impl Engine {
    fn live_endpoints(&self, rec: &NetworkRecord) -> usize {
        rec.endpoints.keys().filter(|c| self.container_exists(c)).count()
    }

    /// `GET /networks`.
    pub fn list_networks(&self, f: &Filters) -> Result<Vec<Network>, EngineError> {
        filters::validate(f).map_err(EngineError::invalid)?;
        let live = |id: &str| self.container_exists(id);
        Ok(self
            .networks
            .list()
            .into_iter()
            .filter(|r| filters::matches(f, r, self.live_endpoints(r)))
            .map(|r| r.model(true, &live))
            .collect())
    }

    /// `GET /networks/{id}`.
    pub fn network_view(&self, key: &str) -> Result<Network, EngineError> {
        let rec = self.networks.find(key)?;
        Ok(rec.model(true, &|id| self.container_exists(id)))
    }

    /// `POST /networks/create`. `CheckDuplicate` (docker-compose 1.29 sends
    /// it) is what Docker does anyway since API 1.44: a taken name is a 409.
    pub fn create_network(&self, req: NetworkCreateRequest) -> Result<NetworkCreateResponse, EngineError> {
        let rec = self.networks.create(req)?;
        self.containers.events.publish(
            bollard_stubs::models::EventMessageTypeEnum::NETWORK,
            "create",
            &rec.id,
            HashMap::from([("name".to_string(), rec.name.clone()), ("type".to_string(), rec.driver.clone())]),
        );
        Ok(NetworkCreateResponse { id: rec.id, warning: String::new() })
    }

    /// `DELETE /networks/{id}`: a user network without live endpoints.
    pub async fn remove_network(&self, key: &str) -> Result<(), EngineError> {
        let rec = self.networks.remove(key, &|id| self.container_exists(id))?;
        self.unplumb_network(&rec).await;
        self.containers.events.publish(
            bollard_stubs::models::EventMessageTypeEnum::NETWORK,
            "destroy",
            &rec.id,
            HashMap::from([("name".to_string(), rec.name), ("type".to_string(), rec.driver)]),
        );
        Ok(())
    }

    /// `POST /networks/prune`: `until` and `label`/`label!`.
    pub async fn prune_networks(&self, f: &Filters) -> Result<NetworkPruneResponse, EngineError> {
        let until = prune_until(f).map_err(EngineError::invalid)?;
        let keep = |r: &NetworkRecord| {
            let too_new = until.is_some_and(|u| crate::container::clock::parse(&r.created).is_some_and(|c| c >= u));
            too_new || !f.match_labels(&r.labels)
        };
        let deleted = self.networks.prune(&keep, &|id| self.container_exists(id))?;
        for rec in &deleted {
            self.unplumb_network(rec).await;
        }
        let deleted = deleted.into_iter().map(|r| r.name).collect();
        Ok(NetworkPruneResponse { networks_deleted: Some(deleted) })
    }

    /// `POST /networks/{id}/connect`.
    pub async fn connect_network(&self, key: &str, req: NetworkConnectRequest) -> Result<(), EngineError> {
        let container =
            req.container.filter(|c| !c.is_empty()).ok_or_else(|| EngineError::invalid("no container given"))?;
        let net = self.networks.find(key)?;
        let c = self.containers.get(&container)?;
        let rec = c.record();
        let mode = rec.host_config.network_mode.clone().unwrap_or_default();
        if shares_namespace(&mode) || matches!(net.name.as_str(), "host" | "none") {
            return Err(EngineError::invalid(format!(
                "container sharing network namespace with another container or host cannot be connected to any other network ({mode} → {})",
                net.name
            )));
        }
        let join = Join { container_id: &rec.id, container_name: &rec.name, settings: req.endpoint_config };
        self.networks.connect(&net.id, join, &|id| self.container_exists(id))?;
        self.plumb_if_running(&c).await
    }

    /// `POST /networks/{id}/disconnect`; a removed container can still be
    /// disconnected by its full id with `Force`.
    pub async fn disconnect_network(&self, key: &str, req: NetworkDisconnectRequest) -> Result<(), EngineError> {
        let container =
            req.container.filter(|c| !c.is_empty()).ok_or_else(|| EngineError::invalid("no container given"))?;
        let net = self.networks.find(key)?;
        let cid = match self.containers.get(&container) {
            Ok(c) => c.record().id,
            Err(e) if req.force == Some(true) => {
                tracing::debug!(error = %e, "disconnecting a container that is gone");
                container
            }
            Err(e) => return Err(e.into()),
        };
        let ifname = net.endpoints.get(&cid).map(|e| e.ifname.clone()).unwrap_or_default();
        self.networks.disconnect(&net.id, &cid)?;
        if !ifname.is_empty() {
            self.unplumb_endpoint(&cid, &ifname).await?;
        }
        Ok(())
    }

    /// The networks a create request puts the container in (its
    /// `HostConfig.NetworkMode`, default `bridge`, and every
    /// `NetworkingConfig.EndpointsConfig` entry). As Docker, a network that
    /// does not exist does not fail the create (a 404 there would make the
    /// docker CLI try to pull the image): `start` reports it.
    pub(super) fn planned_joins(&self, body: &ContainerCreateBody) -> Result<Vec<PlannedJoin>, EngineError> {
        let mode = mode_network(body.host_config.as_ref().and_then(|h| h.network_mode.as_deref()));
        let mut endpoints =
            body.networking_config.as_ref().and_then(|n| n.endpoints_config.clone()).unwrap_or_default();
        let mut out = Vec::new();
        if !mode.starts_with("container:") {
            // The docker CLI names the default network `default` in both places.
            let settings = endpoints.remove(&mode).or_else(|| endpoints.remove("default"));
            if let Ok(net) = self.networks.find(&mode) {
                let settings = settings.or_else(|| endpoints.remove(&net.id));
                out.push((net.id, settings));
            }
        }
        let mut rest: Vec<_> = endpoints.into_iter().collect();
        rest.sort_by(|a, b| a.0.cmp(&b.0));
        for (name, settings) in rest {
            if shares_namespace(&mode) {
                return Err(EngineError::invalid(format!(
                    "container sharing network namespace with another container or host cannot be connected to any other network ({name})"
                )));
            }
            match self.networks.find(&name) {
                Ok(net) if !out.iter().any(|(id, _)| *id == net.id) => out.push((net.id, Some(settings))),
                Ok(_) => {}
                Err(e) => {
                    tracing::debug!(network = %name, error = %e, "endpoint config for a network that does not exist")
                }
            }
        }
        Ok(out)
    }

    /// Puts a just-created container in its planned networks.
    pub(super) fn join_all(&self, c: &Container, joins: Vec<PlannedJoin>) -> Result<(), EngineError> {
        let rec = c.record();
        for (net, settings) in joins {
            let join = Join { container_id: &rec.id, container_name: &rec.name, settings };
            self.networks.connect(&net, join, &|id| self.container_exists(id))?;
        }
        Ok(())
    }

    /// Before a start: the network of the container's `NetworkMode` must
    /// exist (Docker's 404 otherwise), and the container joins it if it is
    /// not in it yet (it was created before the network, or before networks
    /// were recorded).
    pub(super) fn ensure_joined(&self, c: &Container) -> Result<(), EngineError> {
        let rec = c.record();
        let mode = mode_network(rec.host_config.network_mode.as_deref());
        if mode.starts_with("container:") {
            return Ok(());
        }
        let net = self.networks.find(&mode).map_err(|e| match e {
            NetworkError::NotFound(_) => EngineError::not_found(format!("network {mode} not found")),
            e => e.into(),
        })?;
        if !net.endpoints.contains_key(&rec.id) {
            let join = Join { container_id: &rec.id, container_name: &rec.name, settings: None };
            self.networks.connect(&net.id, join, &|id| self.container_exists(id))?;
        }
        Ok(())
    }

    /// A removed container leaves every network.
    pub(super) fn forget_endpoints(&self, container_id: &str) {
        self.networks.forget_container(container_id);
    }

    /// `NetworkSettings.Networks` of a container's views, from its endpoints;
    /// a container created before networks were recorded shows its
    /// `NetworkMode`'s network without an endpoint.
    pub(super) fn fill_container_networks(
        &self,
        c: &Container,
        networks: &mut Option<HashMap<String, EndpointSettings>>,
    ) {
        let mut eps = self.networks.endpoints_of(&c.id);
        if eps.is_empty() {
            let name = mode_network(c.record().host_config.network_mode.as_deref());
            let unjoined = EndpointSettings {
                network_id: Some(String::new()),
                endpoint_id: Some(String::new()),
                ..crate::network::record::unaddressed_endpoint()
            };
            eps = HashMap::from([(name, unjoined)]);
        }
        *networks = Some(eps);
    }

    /// The top level of `NetworkSettings` as Docker fills it: the default
    /// bridge's endpoint (IPAddress, Gateway, MacAddress, IPPrefixLen), and
    /// the namespace file as `SandboxKey` while the container runs.
    pub(super) fn fill_sandbox(&self, c: &Container, ns: &mut bollard_stubs::models::NetworkSettings) {
        if let Some(b) = ns.networks.as_ref().and_then(|n| n.get("bridge")) {
            ns.ip_address = b.ip_address.clone();
            ns.gateway = b.gateway.clone();
            ns.mac_address = b.mac_address.clone();
            ns.ip_prefix_len = b.ip_prefix_len;
        }
        if c.is_running()
            && let Some(path) = self.containers.netns_path(&c.record())
        {
            ns.sandbox_key = Some(path.display().to_string());
        }
        if self.plumbing.is_some() {
            ns.ports = Some(self.published_ports(&c.id).unwrap_or_default());
        }
    }

    /// Is the container in the network named (or id-prefixed) by `v`? (The
    /// `network` filter of `GET /containers/json`.)
    pub(super) fn in_network(&self, v: &str, container_id: &str) -> bool {
        self.networks.endpoints_of(container_id).iter().any(|(name, ep)| {
            name == v || (!v.is_empty() && ep.network_id.as_deref().is_some_and(|id| id.starts_with(v)))
        })
    }
}
