//! Which registry endpoints an operation tries, and in what order: Docker's
//! `registry-mirrors` and `insecure-registries` settings (daemon.json's
//! keys, validated and normalised as moby does) and the fall-through from
//! one endpoint to the next.
//!
//! - Mirrors apply to Docker Hub (`docker.io`) names only, and only to
//!   pulls (and `GET /distribution`): each mirror in order, then the Hub
//!   itself.
//! - An insecure registry (a configured `host[:port]`, or a host in a
//!   configured CIDR or in the loopback ranges `127.0.0.0/8` and `::1/128`,
//!   which Docker always treats as insecure) is tried over HTTPS without
//!   certificate verification, then over plain HTTP — the latter only when
//!   the HTTPS attempt got no HTTP answer at all (a registry that speaks TLS
//!   is never retried in the clear after, say, a 404).
//! - `GET /info`'s `RegistryConfig` reports the settings as moby does.
//!
//! Owns the settings and the order; it must never speak to a registry
//! itself (that is `registry`), nor decide when to move on to the next
//! endpoint (that is `fallback`).

use std::collections::HashMap;
use std::net::IpAddr;

use bollard_stubs::models::{IndexInfo, RegistryServiceConfig};

use super::reference::{DEFAULT_REGISTRY, ImageRef};

/// A setting that moby would refuse at start-up.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SettingsError {
    #[error("invalid mirror: no scheme specified for {0:?}: must use either 'https://' or 'http://'")]
    MirrorNoScheme(String),
    #[error("invalid mirror: unsupported scheme {scheme:?} in {url:?}: must use either 'https://' or 'http://'")]
    MirrorScheme { scheme: String, url: String },
    #[error("invalid mirror: query or fragment at end of the URI {0:?}")]
    MirrorQuery(String),
    #[error("invalid mirror: username/password not allowed in URI {0:?}")]
    MirrorUser(String),
    #[error("invalid mirror: {0:?} is not a valid URI")]
    MirrorUri(String),
    #[error("insecure registry {0} should not contain '://'")]
    InsecureScheme(String),
    #[error("insecure registry {registry} is not valid: {reason}")]
    InsecureInvalid { registry: String, reason: String },
}

/// How one endpoint is reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// HTTPS with the certificate checked against the trusted roots.
    Https,
    /// HTTPS accepting any certificate (an insecure registry).
    HttpsUnverified,
    /// Plain HTTP (an `http://` mirror, or an insecure registry's second try).
    Http,
}

/// One place to try an operation at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// A mirror's `host[:port][/path]`, spoken to instead of the name's
    /// registry; `None` for the name's own registry.
    pub mirror: Option<String>,
    pub transport: Transport,
}

impl Endpoint {
    /// What the logs call it.
    pub fn describe(&self, target: &ImageRef) -> String {
        let scheme = if self.transport == Transport::Http { "http" } else { "https" };
        format!("{scheme}://{}", self.mirror.as_deref().unwrap_or(&target.registry))
    }
}

/// A configured mirror, as moby normalises it (`http://host:5000/`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mirror {
    url: String,
    plain_http: bool,
    /// `host[:port]`, what the insecure settings are matched against.
    host: String,
    /// `host[:port][/path]` without the trailing slash.
    address: String,
}

impl Mirror {
    /// Validates one mirror URL: `http://` or `https://`, a host, an
    /// optional path; no credentials, query or fragment.
    pub fn parse(url: &str) -> Result<Mirror, SettingsError> {
        let Some((scheme, rest)) = url.split_once("://").filter(|(s, _)| !s.is_empty()) else {
            return Err(SettingsError::MirrorNoScheme(url.to_string()));
        };
        let plain_http = match scheme.to_ascii_lowercase().as_str() {
            "http" => true,
            "https" => false,
            _ => return Err(SettingsError::MirrorScheme { scheme: scheme.to_string(), url: url.to_string() }),
        };
        if rest.contains(['?', '#']) {
            return Err(SettingsError::MirrorQuery(url.to_string()));
        }
        let (authority, path) = rest.split_once('/').map_or((rest, ""), |(a, p)| (a, p));
        if let Some((user, _)) = authority.split_once('@') {
            let shown =
                format!("{scheme}://{}:xxxxx@{}", user.split(':').next().unwrap_or(""), &rest[user.len() + 1..]);
            return Err(SettingsError::MirrorUser(shown));
        }
        if authority.is_empty() || check_host_port(authority).is_err() {
            return Err(SettingsError::MirrorUri(url.to_string()));
        }
        let path = path.trim_end_matches('/');
        let address = if path.is_empty() { authority.to_string() } else { format!("{authority}/{path}") };
        Ok(Mirror { url: format!("{}/", url.trim_end_matches('/')), plain_http, host: authority.to_string(), address })
    }
}

/// An IP network of `insecure-registries` (`10.0.0.0/8`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    fn parse(s: &str) -> Option<Cidr> {
        let (ip, prefix) = s.split_once('/')?;
        let ip: IpAddr = ip.parse().ok()?;
        let prefix: u8 = prefix.parse().ok()?;
        let bits = if ip.is_ipv4() { 32 } else { 128 };
        if prefix > bits {
            return None;
        }
        let network = match ip {
            IpAddr::V4(v4) => IpAddr::V4(std::net::Ipv4Addr::from(u32::from(v4) & mask32(prefix))),
            IpAddr::V6(v6) => IpAddr::V6(std::net::Ipv6Addr::from(u128::from(v6) & mask128(prefix))),
        };
        Some(Cidr { network, prefix })
    }

    fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => u32::from(a) & mask32(self.prefix) == u32::from(n),
            (IpAddr::V6(n), IpAddr::V6(a)) => u128::from(a) & mask128(self.prefix) == u128::from(n),
            (IpAddr::V4(_), IpAddr::V6(a)) => a.to_ipv4_mapped().is_some_and(|a| self.contains(IpAddr::V4(a))),
            (IpAddr::V6(_), IpAddr::V4(_)) => false,
        }
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

fn mask32(prefix: u8) -> u32 {
    if prefix == 0 { 0 } else { u32::MAX << (32 - u32::from(prefix)) }
}

fn mask128(prefix: u8) -> u128 {
    if prefix == 0 { 0 } else { u128::MAX << (128 - u32::from(prefix)) }
}

/// Docker always treats loopback registries as insecure.
const DEFAULT_INSECURE_CIDRS: [&str; 2] = ["::1/128", "127.0.0.0/8"];

/// Engine-wide registry settings.
#[derive(Clone, Debug)]
pub struct RegistryConfig {
    /// Docker Hub mirrors, tried in order before the Hub.
    mirrors: Vec<Mirror>,
    /// Insecure `host[:port]` names, as configured.
    insecure_hosts: Vec<String>,
    /// Insecure networks: the configured ones, then the loopback ranges.
    insecure_cidrs: Vec<Cidr>,
    /// PEM certificates trusted in addition to the platform's roots.
    pub ca_bundle: Option<std::path::PathBuf>,
    /// Layers downloaded at once (Docker's default is 3).
    pub max_concurrent_downloads: usize,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        RegistryConfig::new(&[], &[]).unwrap_or_else(|_| unreachable!("the defaults are valid"))
    }
}

impl RegistryConfig {
    /// From daemon.json's `registry-mirrors` and `insecure-registries`
    /// (duplicates dropped; an invalid entry refuses the whole set).
    pub fn new(mirrors: &[String], insecure: &[String]) -> Result<Self, SettingsError> {
        let mut ms: Vec<Mirror> = Vec::new();
        for m in mirrors {
            let m = Mirror::parse(m)?;
            if !ms.iter().any(|x| x.url == m.url) {
                ms.push(m);
            }
        }
        let mut hosts: Vec<String> = Vec::new();
        let mut cidrs: Vec<Cidr> = Vec::new();
        for r in insecure.iter().map(String::as_str).chain(DEFAULT_INSECURE_CIDRS) {
            let r = normalise_index_name(r);
            if r.starts_with('-') || r.ends_with('-') {
                return Err(SettingsError::InsecureInvalid {
                    registry: r.to_string(),
                    reason: "cannot begin or end with a hyphen".into(),
                });
            }
            let lower = r.to_ascii_lowercase();
            // moby drops a scheme (with a warning) rather than refusing it.
            let r = if lower.starts_with("http://") {
                &r[7..]
            } else if lower.starts_with("https://") {
                &r[8..]
            } else if r.contains("://") {
                return Err(SettingsError::InsecureScheme(r.to_string()));
            } else {
                r
            };
            if let Some(c) = Cidr::parse(r) {
                if !cidrs.contains(&c) {
                    cidrs.push(c);
                }
                continue;
            }
            check_host_port(r).map_err(|reason| SettingsError::InsecureInvalid { registry: r.to_string(), reason })?;
            if !hosts.iter().any(|h| h == r) {
                hosts.push(r.to_string());
            }
        }
        Ok(RegistryConfig {
            mirrors: ms,
            insecure_hosts: hosts,
            insecure_cidrs: cidrs,
            ca_bundle: None,
            max_concurrent_downloads: 3,
        })
    }

    /// Where a pull (or a look at `/distribution`) of `target` is tried.
    pub async fn pull_endpoints(&self, target: &ImageRef) -> Vec<Endpoint> {
        let mut out = Vec::new();
        if target.registry == DEFAULT_REGISTRY {
            for m in &self.mirrors {
                let transport = if m.plain_http {
                    Transport::Http
                } else if self.is_insecure(&m.host).await {
                    Transport::HttpsUnverified
                } else {
                    Transport::Https
                };
                out.push(Endpoint { mirror: Some(m.address.clone()), transport });
            }
        }
        out.extend(self.push_endpoints(target).await);
        out
    }

    /// Where a push (or a login) to `target`'s registry is tried: never a
    /// mirror.
    pub async fn push_endpoints(&self, target: &ImageRef) -> Vec<Endpoint> {
        if target.registry != DEFAULT_REGISTRY && self.is_insecure(&target.registry).await {
            vec![
                Endpoint { mirror: None, transport: Transport::HttpsUnverified },
                Endpoint { mirror: None, transport: Transport::Http },
            ]
        } else {
            vec![Endpoint { mirror: None, transport: Transport::Https }]
        }
    }

    /// moby's `isSecureIndex`, inverted: a configured name, or a host whose
    /// address (literal, or resolved) lies in an insecure network.
    async fn is_insecure(&self, host_port: &str) -> bool {
        if self.insecure_hosts.iter().any(|h| h == host_port) {
            return true;
        }
        let host = split_host(host_port);
        let addrs: Vec<IpAddr> = match host.parse::<IpAddr>() {
            Ok(ip) => vec![ip],
            Err(_) => match tokio::net::lookup_host((host, 0)).await {
                Ok(addrs) => addrs.map(|a| a.ip()).collect(),
                Err(e) => {
                    tracing::debug!(%host, error = %e, "cannot resolve a registry's host; treating it as secure");
                    Vec::new()
                }
            },
        };
        addrs.iter().any(|ip| self.insecure_cidrs.iter().any(|c| c.contains(*ip)))
    }

    /// `GET /info`'s `RegistryConfig`, as moby reports it.
    pub fn service_config(&self) -> RegistryServiceConfig {
        let mirrors: Vec<String> = self.mirrors.iter().map(|m| m.url.clone()).collect();
        let mut index_configs: HashMap<String, IndexInfo> = self
            .insecure_hosts
            .iter()
            .map(|h| {
                let info = IndexInfo {
                    name: Some(h.clone()),
                    mirrors: Some(Vec::new()),
                    secure: Some(false),
                    official: Some(false),
                };
                (h.clone(), info)
            })
            .collect();
        index_configs.insert(
            DEFAULT_REGISTRY.to_string(),
            IndexInfo {
                name: Some(DEFAULT_REGISTRY.to_string()),
                mirrors: Some(mirrors.clone()),
                secure: Some(true),
                official: Some(true),
            },
        );
        RegistryServiceConfig {
            insecure_registry_cidrs: Some(self.insecure_cidrs.iter().map(Cidr::to_string).collect()),
            index_configs: Some(index_configs),
            mirrors: Some(mirrors),
        }
    }
}

fn normalise_index_name(s: &str) -> &str {
    if s == "index.docker.io" { DEFAULT_REGISTRY } else { s }
}

/// The host of `host[:port]` (brackets of an IPv6 address removed).
fn split_host(host_port: &str) -> &str {
    if let Some(v6) = host_port.strip_prefix('[') {
        return v6.split(']').next().unwrap_or("");
    }
    match host_port.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') && p.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host_port,
    }
}

/// moby's `validateHostPort`: a domain name (or an IP address) and an
/// optional port of at most 65535.
fn check_host_port(s: &str) -> Result<(), String> {
    let (host, port) = if let Some(v6) = s.strip_prefix('[') {
        let (h, rest) = v6.split_once(']').ok_or_else(|| format!("invalid host {s:?}"))?;
        h.parse::<std::net::Ipv6Addr>().map_err(|_| format!("invalid host {h:?}"))?;
        (h, rest.strip_prefix(':'))
    } else if s.parse::<std::net::Ipv6Addr>().is_ok() {
        (s, None)
    } else {
        match s.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }
    };
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if !s.starts_with('[') && host.parse::<IpAddr>().is_err() && !host.split('.').all(label_ok) {
        return Err(format!("invalid host {host:?}"));
    }
    if let Some(p) = port {
        match p.parse::<u32>() {
            Ok(v) if v <= 65535 => {}
            Ok(_) => return Err(format!("invalid port {p:?}")),
            Err(_) => return Err(format!("invalid port {p:?}")),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(mirrors: &[&str], insecure: &[&str]) -> RegistryConfig {
        let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        RegistryConfig::new(&s(mirrors), &s(insecure)).expect("valid settings")
    }

    fn r(s: &str) -> ImageRef {
        ImageRef::parse(s).expect("reference")
    }

    #[test]
    fn mirrors_are_validated_and_normalised_as_moby_does() {
        let m = Mirror::parse("http://127.0.0.1:5000").unwrap();
        assert_eq!(
            (m.url.as_str(), m.plain_http, m.address.as_str()),
            ("http://127.0.0.1:5000/", true, "127.0.0.1:5000")
        );
        let m = Mirror::parse("https://mirror.example/prefix/").unwrap();
        assert_eq!(
            (m.url.as_str(), m.plain_http, m.address.as_str()),
            ("https://mirror.example/prefix/", false, "mirror.example/prefix")
        );
        assert_eq!(m.host, "mirror.example");
        let bad = |s: &str| Mirror::parse(s).unwrap_err().to_string();
        assert_eq!(
            bad("mirror.example:5000"),
            "invalid mirror: no scheme specified for \"mirror.example:5000\": must use either 'https://' or 'http://'"
        );
        assert!(bad("ftp://mirror.example").contains("unsupported scheme \"ftp\""));
        assert!(bad("http://mirror.example/?q=1").contains("query or fragment"));
        assert!(bad("https://mirror.example#frag").contains("query or fragment"));
        let user = bad("https://me:secret@mirror.example/");
        assert!(user.contains("username/password not allowed") && !user.contains("secret"), "{user}");
        assert!(bad("http://").contains("not a valid URI"));
        assert!(bad("http://bad host/").contains("not a valid URI"));
    }

    #[test]
    fn insecure_registries_split_into_names_and_networks() {
        let c = cfg(&[], &["myreg:5000", "http://other.example", "10.1.2.3/8", "myreg:5000", "index.docker.io"]);
        assert_eq!(c.insecure_hosts, ["myreg:5000", "other.example", "docker.io"]);
        let cidrs: Vec<String> = c.insecure_cidrs.iter().map(Cidr::to_string).collect();
        assert_eq!(cidrs, ["10.0.0.0/8", "::1/128", "127.0.0.0/8"]);
        let err = |v: &str| RegistryConfig::new(&[], &[v.to_string()]).unwrap_err().to_string();
        assert_eq!(err("ftp://x"), "insecure registry ftp://x should not contain '://'");
        assert!(err("bad host:5000").contains("invalid host"), "{}", err("bad host:5000"));
        assert!(err("myreg:99999").contains("invalid port"));
        assert!(err("-myreg").contains("hyphen"));
    }

    #[test]
    fn invalid_mirror_refuses_the_settings() {
        let e = RegistryConfig::new(&["nope".into()], &[]).unwrap_err();
        assert!(matches!(e, SettingsError::MirrorNoScheme(_)));
    }

    #[tokio::test]
    async fn hub_names_try_each_mirror_in_order_then_the_hub() {
        let c = cfg(&["http://127.0.0.1:5001", "https://127.0.0.1:5002/", "https://mirror.invalid"], &[]);
        let eps = c.pull_endpoints(&r("busybox")).await;
        let got: Vec<(Option<&str>, Transport)> = eps.iter().map(|e| (e.mirror.as_deref(), e.transport)).collect();
        assert_eq!(
            got,
            [
                (Some("127.0.0.1:5001"), Transport::Http),
                // A loopback mirror over HTTPS is insecure: its certificate goes unchecked.
                (Some("127.0.0.1:5002"), Transport::HttpsUnverified),
                (Some("mirror.invalid"), Transport::Https),
                (None, Transport::Https),
            ]
        );
        // No mirror for pushes, and none for other registries.
        assert_eq!(c.push_endpoints(&r("busybox")).await, [Endpoint { mirror: None, transport: Transport::Https }]);
        assert_eq!(c.pull_endpoints(&r("quay.invalid/x/y")).await.len(), 1);
    }

    #[tokio::test]
    async fn insecure_registries_try_unverified_tls_then_plain_http() {
        let c = cfg(&["http://127.0.0.1:5001"], &["myreg.invalid:5000", "192.0.2.0/24"]);
        let both = [
            Endpoint { mirror: None, transport: Transport::HttpsUnverified },
            Endpoint { mirror: None, transport: Transport::Http },
        ];
        assert_eq!(c.pull_endpoints(&r("myreg.invalid:5000/app")).await, both);
        assert_eq!(c.pull_endpoints(&r("192.0.2.7:443/app")).await, both);
        assert_eq!(c.push_endpoints(&r("127.0.0.1:5000/app")).await, both, "loopback is insecure by default");
        assert_eq!(c.push_endpoints(&r("[::1]:5000/app")).await, both);
        let secure = c.pull_endpoints(&r("myreg.invalid:5001/app")).await;
        assert_eq!(secure, [Endpoint { mirror: None, transport: Transport::Https }], "the port is part of the name");
    }

    #[test]
    fn info_reports_the_settings_as_moby_does() {
        let c = cfg(&["http://127.0.0.1:5001/"], &["myreg:5000", "10.0.0.0/8"]);
        let s = serde_json::to_value(c.service_config()).unwrap();
        assert_eq!(s["Mirrors"], serde_json::json!(["http://127.0.0.1:5001/"]));
        assert_eq!(s["InsecureRegistryCIDRs"], serde_json::json!(["10.0.0.0/8", "::1/128", "127.0.0.0/8"]));
        assert_eq!(
            s["IndexConfigs"]["docker.io"],
            serde_json::json!({"Name": "docker.io", "Mirrors": ["http://127.0.0.1:5001/"], "Secure": true, "Official": true})
        );
        assert_eq!(
            s["IndexConfigs"]["myreg:5000"],
            serde_json::json!({"Name": "myreg:5000", "Mirrors": [], "Secure": false, "Official": false})
        );
        let d = serde_json::to_value(RegistryConfig::default().service_config()).unwrap();
        assert_eq!(d["Mirrors"], serde_json::json!([]));
        assert_eq!(d["IndexConfigs"].as_object().unwrap().len(), 1);
    }

    #[test]
    fn networks_contain_their_addresses() {
        let c = Cidr::parse("10.1.2.3/8").unwrap();
        assert!(c.contains("10.200.0.1".parse().unwrap()));
        assert!(!c.contains("11.0.0.1".parse().unwrap()));
        assert!(c.contains("::ffff:10.0.0.1".parse().unwrap()));
        assert!(Cidr::parse("::1/128").unwrap().contains("::1".parse().unwrap()));
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains("8.8.8.8".parse().unwrap()));
        assert_eq!(Cidr::parse("10.0.0.0/33"), None);
        assert_eq!(split_host("[::1]:5000"), "::1");
        assert_eq!(split_host("host:5000"), "host");
        assert_eq!(split_host("::1"), "::1");
    }
}
