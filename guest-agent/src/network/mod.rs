//! The engine's networks as Docker's object model: the predefined
//! `bridge`, `host` and `none`, user networks (create, inspect, list,
//! remove, prune) and which containers are in which network (connect,
//! disconnect, endpoints).
//!
//! Owns the records (`<root>/networks/<id>.json`, each written atomically)
//! and the membership, with IPAM's allocations in them (`ipam`). The
//! kernel's side (namespaces, bridges, veths: `kernel/`) and the embedded
//! DNS server (`dns`) are its submodules; this file must never touch the
//! kernel itself; published ports are forwarded by `proxy` (in process
//! mode) or from the user's host over vsock (`host_ports`, in a machine). It knows containers only through the [`Live`] predicate
//! the engine passes to the operations that need it (it must never import
//! `crate::container`): endpoints of containers that are gone are ignored
//! and dropped.

pub mod dns;
pub mod error;
pub mod filters;
pub mod host_ports;
pub mod ipam;
pub mod kernel;
pub mod proxy;
pub mod record;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use bollard_stubs::models::{EndpointSettings, Ipam, IpamConfig, NetworkCreateRequest};

pub use error::NetworkError;
pub use record::{Endpoint, NetworkRecord};

/// The predefined networks: name, driver.
pub const PREDEFINED: [(&str, &str); 3] = [("bridge", "bridge"), ("host", "host"), ("none", "null")];

/// Answers "does this container still exist?" (asked of the engine's
/// containers by the engine, which owns both sides).
pub type Live<'a> = &'a dyn Fn(&str) -> bool;

pub struct Networks {
    dir: PathBuf,
    records: Mutex<BTreeMap<String, NetworkRecord>>,
}

/// A container joining a network.
pub struct Join<'a> {
    pub container_id: &'a str,
    pub container_name: &'a str,
    pub settings: Option<EndpointSettings>,
}

impl Networks {
    /// Loads `<root>/networks/`, creating the predefined networks the first
    /// time. A record that cannot be read is skipped with a warning (and
    /// left on disk for a human), never fatal.
    pub fn open(root: &Path) -> Result<Self, NetworkError> {
        let dir = root.join("networks");
        std::fs::create_dir_all(&dir).map_err(NetworkError::io("create", &dir))?;
        let mut records = BTreeMap::new();
        for entry in std::fs::read_dir(&dir).map_err(NetworkError::io("read", &dir))?.flatten() {
            let path = entry.path();
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let rec: Option<NetworkRecord> = std::fs::read(&path).ok().and_then(|b| serde_json::from_slice(&b).ok());
            match rec {
                Some(r) if path.file_stem().is_some_and(|s| s == r.id.as_str()) => {
                    records.insert(r.id.clone(), r);
                }
                _ => tracing::warn!(path = %path.display(), "unreadable network record skipped"),
            }
        }
        let nets = Networks { dir, records: Mutex::new(records) };
        for (name, driver) in PREDEFINED {
            if nets.find(name).is_err() {
                let mut rec = new_record(name, driver, HashMap::new());
                rec.predefined = true;
                if name == "bridge" {
                    rec.options = HashMap::from([
                        ("com.docker.network.bridge.default_bridge".into(), "true".into()),
                        ("com.docker.network.bridge.name".into(), "berth0".into()),
                    ]);
                }
                nets.save(&rec)?;
                nets.lock().insert(rec.id.clone(), rec);
            }
        }
        // The default bridge's addressing (also for records written before
        // networks had addresses).
        let mut bridge = nets.find("bridge")?;
        if bridge.v4().is_none() {
            let subnet =
                ipam::Subnet::parse(ipam::DEFAULT_BRIDGE).ok_or_else(|| NetworkError::Invalid("pool".into()))?;
            bridge.ipam.config = Some(vec![IpamConfig {
                subnet: Some(subnet.to_string()),
                gateway: Some(subnet.first_host().to_string()),
                ..Default::default()
            }]);
            nets.save(&bridge)?;
            nets.lock().insert(bridge.id.clone(), bridge);
        }
        Ok(nets)
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, NetworkRecord>> {
        self.records.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn save(&self, rec: &NetworkRecord) -> Result<(), NetworkError> {
        let path = self.dir.join(format!("{}.json", rec.id));
        let bytes = serde_json::to_vec_pretty(rec).map_err(|e| NetworkError::io("encode", &path)(e.into()))?;
        crate::durable::write_atomic(&path, &bytes).map_err(NetworkError::io("write", &path))
    }

    /// Docker's lookup order: full id, then exact name, then id prefix.
    pub fn find(&self, key: &str) -> Result<NetworkRecord, NetworkError> {
        let recs = self.lock();
        resolve(&recs, key).map(|id| recs[&id].clone())
    }

    pub fn list(&self) -> Vec<NetworkRecord> {
        self.lock().values().cloned().collect()
    }

    pub fn create(&self, req: NetworkCreateRequest) -> Result<NetworkRecord, NetworkError> {
        let name = req.name.trim().to_string();
        if name.is_empty() {
            return Err(NetworkError::Invalid("network name cannot be empty".into()));
        }
        if !valid_name(&name) {
            return Err(NetworkError::Invalid(format!(
                "invalid network name {name:?}: only [a-zA-Z0-9_][a-zA-Z0-9_.-] are allowed"
            )));
        }
        let driver = req.driver.clone().filter(|d| !d.is_empty()).unwrap_or_else(|| "bridge".into());
        match driver.as_str() {
            "bridge" => {}
            "host" | "null" => {
                return Err(NetworkError::Forbidden(format!("only one instance of \"{driver}\" network is allowed")));
            }
            other => return Err(NetworkError::NotFound(format!("plugin \"{other}\" (driver)"))),
        }
        if let Some(scope) = req.scope.as_deref().filter(|s| !s.is_empty() && *s != "local") {
            return Err(NetworkError::Invalid(format!("scope {scope:?} is not supported: only \"local\"")));
        }
        if req.ingress == Some(true) || req.config_only == Some(true) {
            return Err(NetworkError::Invalid("ingress and config-only networks are swarm features".into()));
        }
        let ipam = req.ipam.clone().unwrap_or_default();
        validate_ipam(&ipam)?;
        let mut recs = self.lock();
        if recs.values().any(|r| r.name == name) {
            return Err(NetworkError::NameTaken(name));
        }
        let config = assign_subnets(ipam.config.clone().unwrap_or_default(), &recs)?;
        let mut rec = new_record(&name, &driver, req.labels.clone().unwrap_or_default());
        rec.internal = req.internal.unwrap_or(false);
        rec.attachable = req.attachable.unwrap_or(false);
        rec.enable_ipv6 = req.enable_ipv6.unwrap_or(false);
        rec.options = req.options.clone().unwrap_or_default();
        rec.ipam = Ipam {
            driver: Some(ipam.driver.clone().filter(|d| !d.is_empty()).unwrap_or_else(|| "default".into())),
            config: Some(config),
            options: Some(ipam.options.clone().unwrap_or_default()),
        };
        self.save(&rec)?;
        recs.insert(rec.id.clone(), rec.clone());
        tracing::info!(id = %rec.id, name = %rec.name, "network created");
        Ok(rec)
    }

    /// Removes a user network with no live endpoints.
    pub fn remove(&self, key: &str, alive: Live<'_>) -> Result<NetworkRecord, NetworkError> {
        let mut recs = self.lock();
        let id = resolve(&recs, key)?;
        let rec = &recs[&id];
        if rec.predefined {
            return Err(NetworkError::Predefined(rec.name.clone()));
        }
        let live: Vec<&str> =
            rec.endpoints.iter().filter(|(cid, _)| alive(cid)).map(|(_, e)| e.container_name.as_str()).collect();
        if !live.is_empty() {
            return Err(NetworkError::InUse { name: rec.name.clone(), id: id.clone(), containers: live.join(", ") });
        }
        let path = self.dir.join(format!("{id}.json"));
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(NetworkError::io("remove", &path)(e)),
        }
        let rec = recs.remove(&id).ok_or_else(|| NetworkError::NotFound(key.to_string()))?;
        tracing::info!(id = %rec.id, name = %rec.name, "network removed");
        Ok(rec)
    }

    /// Removes the user networks with no live endpoints that `keep` does not
    /// keep: their records.
    pub fn prune(
        &self,
        keep: &dyn Fn(&NetworkRecord) -> bool,
        alive: Live<'_>,
    ) -> Result<Vec<NetworkRecord>, NetworkError> {
        let candidates: Vec<NetworkRecord> = self
            .list()
            .into_iter()
            .filter(|r| !r.predefined && !keep(r) && !r.endpoints.keys().any(|c| alive(c)))
            .collect();
        let mut gone = Vec::new();
        for r in candidates {
            match self.remove(&r.id, alive) {
                Ok(r) => gone.push(r),
                Err(NetworkError::NotFound(_) | NetworkError::InUse { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(gone)
    }

    /// Puts a container in a network (at create, or `network connect`).
    pub fn connect(&self, key: &str, join: Join<'_>, alive: Live<'_>) -> Result<NetworkRecord, NetworkError> {
        let mut recs = self.lock();
        let id = resolve(&recs, key)?;
        let Some(rec) = recs.get(&id) else {
            return Err(NetworkError::NotFound(key.to_string()));
        };
        if let Some(e) = rec.endpoints.get(join.container_id)
            && alive(join.container_id)
        {
            return Err(NetworkError::Forbidden(format!(
                "endpoint with name {} already exists in network {}",
                e.container_name, rec.name
            )));
        }
        let mut aliases: Vec<String> = join.settings.as_ref().and_then(|s| s.aliases.clone()).unwrap_or_default();
        aliases.dedup();
        let wanted = join.settings.as_ref().and_then(|s| s.ipam_config.as_ref()).and_then(|c| c.ipv4_address.clone());
        let ipv4 = match rec.driver.as_str() {
            "bridge" => Some(allocate(rec, join.container_id, wanted.as_deref().filter(|w| !w.is_empty()), alive)?),
            _ => None,
        };
        let endpoint = Endpoint {
            container_name: join.container_name.trim_start_matches('/').to_string(),
            endpoint_id: random_id(),
            aliases,
            requested: join.settings,
            ipv4,
            ifname: String::new(),
        };
        let taken: BTreeSet<String> = recs
            .values()
            .filter(|r| r.id != id)
            .filter_map(|r| r.endpoints.get(join.container_id).map(|e| e.ifname.clone()))
            .collect();
        let endpoint = Endpoint {
            ifname: (0..).map(|n| format!("eth{n}")).find(|n| !taken.contains(n)).unwrap_or_default(),
            ..endpoint
        };
        let Some(rec) = recs.get_mut(&id) else {
            return Err(NetworkError::NotFound(key.to_string()));
        };
        let mut updated = rec.clone();
        updated.endpoints.retain(|c, _| alive(c) || c == join.container_id);
        updated.endpoints.insert(join.container_id.to_string(), endpoint);
        self.save(&updated)?;
        *rec = updated.clone();
        Ok(updated)
    }

    /// Takes a container out of a network.
    pub fn disconnect(&self, key: &str, container_id: &str) -> Result<(), NetworkError> {
        let mut recs = self.lock();
        let id = resolve(&recs, key)?;
        let Some(rec) = recs.get_mut(&id) else {
            return Err(NetworkError::NotFound(key.to_string()));
        };
        if !rec.endpoints.contains_key(container_id) {
            return Err(NetworkError::Forbidden(format!(
                "container {container_id} is not connected to network {}",
                rec.name
            )));
        }
        let mut updated = rec.clone();
        updated.endpoints.remove(container_id);
        self.save(&updated)?;
        *rec = updated;
        Ok(())
    }

    /// Takes a removed container out of every network (best effort: an
    /// endpoint left behind is ignored anyway once its container is gone).
    pub fn forget_container(&self, container_id: &str) {
        let ids: Vec<String> =
            self.lock().values().filter(|r| r.endpoints.contains_key(container_id)).map(|r| r.id.clone()).collect();
        for id in ids {
            if let Err(e) = self.disconnect(&id, container_id) {
                tracing::debug!(network = %id, error = %e, "dropping a removed container's endpoint");
            }
        }
    }

    /// The container's networks: name → its endpoint as the container's
    /// inspect shows it.
    pub fn endpoints_of(&self, container_id: &str) -> HashMap<String, EndpointSettings> {
        self.lock()
            .values()
            .filter_map(|r| r.endpoints.get(container_id).map(|e| (r.name.clone(), r.endpoint_settings(e))))
            .collect()
    }
}

impl Networks {
    /// The embedded DNS's answer for `name` asked by container `asker`: the
    /// addresses of the endpoints in the asker's user networks that are
    /// named so (container name, alias, or id prefix of 12 or more), of the
    /// containers `alive` says run.
    pub fn lookup(&self, asker: &str, name: &str, alive: Live<'_>) -> Vec<Ipv4Addr> {
        let name = name.trim_end_matches('.');
        let mut out = Vec::new();
        for r in self.lock().values().filter(|r| r.has_dns() && r.endpoints.contains_key(asker)) {
            for (cid, e) in &r.endpoints {
                let named = e.dns_names().iter().any(|n| n.eq_ignore_ascii_case(name))
                    || (name.len() >= 12 && cid.starts_with(&name.to_ascii_lowercase()));
                if let Some(ip) = e.ipv4.filter(|ip| named && alive(cid) && !out.contains(ip)) {
                    out.push(ip);
                }
            }
        }
        out
    }

    /// The container's endpoints with the network each is in, in the
    /// order of their interfaces (eth0 first: its address is the
    /// container's primary one).
    pub fn attachments(&self, container_id: &str) -> Vec<(NetworkRecord, Endpoint)> {
        let mut v: Vec<_> = self
            .lock()
            .values()
            .filter_map(|r| r.endpoints.get(container_id).map(|e| (r.clone(), e.clone())))
            .collect();
        v.sort_by(|a, b| a.1.ifname.cmp(&b.1.ifname));
        v
    }
}

/// Checks the requested IPv4 pools against the other networks' and fills
/// in what Docker does: a subnet from the default pools when none is
/// given, the gateway (the subnet's first host), ranges inside their
/// subnet.
fn assign_subnets(
    mut config: Vec<IpamConfig>,
    recs: &BTreeMap<String, NetworkRecord>,
) -> Result<Vec<IpamConfig>, NetworkError> {
    let taken: Vec<ipam::Subnet> = recs.values().filter_map(|r| r.v4().map(|v| v.subnet)).collect();
    let v4 = |c: &IpamConfig| c.subnet.as_deref().and_then(ipam::Subnet::parse);
    if !config.iter().any(|c| v4(c).is_some()) {
        let subnet = ipam::next_subnet(&taken)
            .ok_or_else(|| NetworkError::Forbidden("all predefined address pools have been fully subnetted".into()))?;
        config.insert(0, IpamConfig { subnet: Some(subnet.to_string()), ..Default::default() });
    }
    for c in config.iter_mut() {
        let Some(subnet) = v4(c) else { continue };
        if taken.iter().any(|t| t.overlaps(&subnet)) {
            return Err(NetworkError::Forbidden(
                "invalid pool request: Pool overlaps with other one on this address space".into(),
            ));
        }
        if let Some(r) = c.ip_range.as_deref().filter(|r| !r.is_empty()) {
            let range = ipam::Subnet::parse(r).filter(|r| subnet.contains(r.network()) && r.len >= subnet.len);
            if range.is_none() {
                return Err(NetworkError::Invalid(format!(
                    "invalid pool request: ip-range {r} is not within subnet {subnet}"
                )));
            }
        }
        match c.gateway.as_deref().filter(|g| !g.is_empty()) {
            Some(g) => {
                let gw: Ipv4Addr =
                    g.parse().map_err(|_| NetworkError::Invalid(format!("invalid gateway address {g}")))?;
                if !subnet.contains(gw) {
                    return Err(NetworkError::Invalid(format!(
                        "invalid pool request: gateway {gw} is not within subnet {subnet}"
                    )));
                }
            }
            None => c.gateway = Some(subnet.first_host().to_string()),
        }
    }
    Ok(config)
}

/// An address for `container` in `rec`: the one asked for (inside the
/// subnet or range, not taken), else the lowest free one.
fn allocate(
    rec: &NetworkRecord,
    container: &str,
    wanted: Option<&str>,
    alive: Live<'_>,
) -> Result<Ipv4Addr, NetworkError> {
    let v4 = rec.v4().ok_or_else(|| NetworkError::Invalid(format!("network {} has no IPv4 subnet", rec.name)))?;
    let used: BTreeSet<Ipv4Addr> =
        rec.endpoints.iter().filter(|(c, _)| *c != container && alive(c)).filter_map(|(_, e)| e.ipv4).collect();
    match wanted {
        Some(w) => {
            let ip: Ipv4Addr = w.parse().map_err(|_| NetworkError::Invalid(format!("invalid IPv4 address: {w}")))?;
            let pool = v4.range.unwrap_or(v4.subnet);
            if !pool.contains(ip) {
                return Err(NetworkError::Invalid(format!(
                    "invalid config for network {}: invalid endpoint settings:\nno configured subnet or ip-range contain the IP address {ip}",
                    rec.name
                )));
            }
            if !ipam::usable(&v4.subnet, v4.gateway, &used, ip) {
                return Err(NetworkError::Forbidden(format!("Address already in use: {ip}")));
            }
            Ok(ip)
        }
        None => ipam::allocate(&v4.subnet, v4.range.as_ref(), v4.gateway, &used).ok_or_else(|| {
            NetworkError::Forbidden(format!(
                "no available IPv4 addresses on this network's address pools: {} ({})",
                rec.name, rec.id
            ))
        }),
    }
}

fn resolve(recs: &BTreeMap<String, NetworkRecord>, key: &str) -> Result<String, NetworkError> {
    if key.is_empty() {
        return Err(NetworkError::NotFound(key.to_string()));
    }
    if recs.contains_key(key) {
        return Ok(key.to_string());
    }
    if let Some(r) = recs.values().find(|r| r.name == key) {
        return Ok(r.id.clone());
    }
    let hits: Vec<&String> = recs.keys().filter(|id| id.starts_with(key)).collect();
    match hits.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(NetworkError::NotFound(key.to_string())),
        many => Err(NetworkError::Ambiguous { network: key.to_string(), count: many.len() }),
    }
}

fn new_record(name: &str, driver: &str, labels: HashMap<String, String>) -> NetworkRecord {
    NetworkRecord {
        id: random_id(),
        name: name.to_string(),
        driver: driver.to_string(),
        scope: "local".into(),
        created: docker_vocab::time::now_string(),
        internal: false,
        attachable: false,
        ingress: false,
        enable_ipv6: false,
        ipam: Ipam { driver: Some("default".into()), config: Some(Vec::new()), options: Some(HashMap::new()) },
        options: HashMap::new(),
        labels,
        predefined: false,
        endpoints: BTreeMap::new(),
    }
}

/// Docker's rule for names: `[a-zA-Z0-9][a-zA-Z0-9_.-]*`.
/// Docker applies no name pattern to networks (only to containers and
/// volumes), and compose derives names like `_x_default` from a directory:
/// a leading `_` is fine; a leading `-` would read as a CLI flag.
fn valid_name(name: &str) -> bool {
    let mut b = name.bytes();
    b.next().is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_')
        && b.all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

/// The IPAM shape: subnets, ranges and gateways must parse (no address is
/// handed out yet, but a bad one must be refused now, as Docker does).
fn validate_ipam(ipam: &Ipam) -> Result<(), NetworkError> {
    if let Some(d) = ipam.driver.as_deref().filter(|d| !d.is_empty() && *d != "default") {
        return Err(NetworkError::NotFound(format!("plugin \"{d}\" (IPAM driver)")));
    }
    for c in ipam.config.iter().flatten() {
        for cidr in [c.subnet.as_deref(), c.ip_range.as_deref()].into_iter().flatten().filter(|s| !s.is_empty()) {
            parse_cidr(cidr).ok_or_else(|| NetworkError::Invalid(format!("invalid CIDR address: {cidr}")))?;
        }
        if let Some(gw) = c.gateway.as_deref().filter(|s| !s.is_empty()) {
            gw.parse::<std::net::IpAddr>()
                .map_err(|_| NetworkError::Invalid(format!("invalid gateway address {gw}")))?;
        }
    }
    Ok(())
}

fn parse_cidr(s: &str) -> Option<(std::net::IpAddr, u8)> {
    let (addr, len) = s.split_once('/')?;
    let addr: std::net::IpAddr = addr.parse().ok()?;
    let len: u8 = len.parse().ok()?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    (len <= max).then_some((addr, len))
}

fn random_id() -> String {
    let mut b = [0u8; 32];
    if let Err(e) = getrandom_fill(&mut b) {
        tracing::warn!(error = %e, "no randomness for a network id; using the clock");
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
        b[..16].copy_from_slice(&t.to_le_bytes());
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn getrandom_fill(b: &mut [u8]) -> std::io::Result<()> {
    use std::io::Read;
    std::fs::File::open("/dev/urandom")?.read_exact(b)
}

#[cfg(test)]
mod tests;
