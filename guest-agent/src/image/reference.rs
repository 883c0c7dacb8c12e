//! Image references as Docker users write them, normalized the way the
//! docker CLI and daemon do: `busybox` is `docker.io/library/busybox:latest`,
//! `localhost:5000/x` stays on `localhost:5000`, `name@sha256:…` pins a
//! manifest.
//!
//! Owns parsing and the two spellings of a reference: the canonical one
//! (store keys, registry requests) and the familiar one (what `docker images`
//! shows). It must never talk to a registry or touch the store.

use std::fmt;

use super::digest::Digest;

pub const DEFAULT_REGISTRY: &str = "docker.io";
const DEFAULT_TAG: &str = "latest";

#[derive(Debug, thiserror::Error)]
pub enum ReferenceError {
    #[error("invalid reference format: {reference:?}: {reason}")]
    Invalid { reference: String, reason: &'static str },
    #[error("invalid reference format: repository name ({reference:?}) must be lowercase")]
    Uppercase { reference: String },
}

impl ReferenceError {
    pub fn kind(&self) -> crate::error_kind::ErrorKind {
        crate::error_kind::ErrorKind::Invalid
    }
}

/// A parsed reference. At least one of `tag` and `digest` is set once
/// parsed; when both are, the digest decides what is pulled (as in Docker).
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct ImageRef {
    /// Registry host with optional port; `docker.io` for Docker Hub.
    pub registry: String,
    /// Path inside the registry, with `library/` for Hub's official images.
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<Digest>,
}

impl ImageRef {
    pub fn parse(s: &str) -> Result<Self, ReferenceError> {
        let invalid = |reason| ReferenceError::Invalid { reference: s.to_string(), reason };
        if s.is_empty() || s.len() > 4096 {
            return Err(invalid("empty or too long"));
        }
        let (rest, digest) = match s.split_once('@') {
            Some((r, d)) => (r, Some(Digest::parse(d).map_err(|_| invalid("bad digest"))?)),
            None => (s, None),
        };
        // A tag is the part after the last ':' that follows the last '/'.
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
            None => (rest, None),
        };
        if let Some(t) = tag
            && !valid_tag(t)
        {
            return Err(invalid("bad tag"));
        }
        let (registry, path) = split_registry(name);
        let registry = if registry == "index.docker.io" { DEFAULT_REGISTRY.to_string() } else { registry };
        if !valid_registry(&registry) {
            return Err(invalid("bad registry host"));
        }
        if path.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(ReferenceError::Uppercase { reference: s.to_string() });
        }
        if path.is_empty() || !path.split('/').all(valid_path_component) {
            return Err(invalid("bad repository path"));
        }
        let repository = if registry == DEFAULT_REGISTRY && !path.contains('/') {
            format!("library/{path}")
        } else {
            path.to_string()
        };
        let tag = match (tag, &digest) {
            (Some(t), _) => Some(t.to_string()),
            (None, None) => Some(DEFAULT_TAG.to_string()),
            (None, Some(_)) => None,
        };
        Ok(ImageRef { registry, repository, tag, digest })
    }

    /// `registry/repository` without tag or digest.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// The name as Docker shows it: Hub's prefixes dropped.
    pub fn familiar_name(&self) -> String {
        if self.registry == DEFAULT_REGISTRY {
            self.repository.strip_prefix("library/").unwrap_or(&self.repository).to_string()
        } else {
            self.name()
        }
    }

    /// The same repository at another digest (how an index entry is fetched).
    pub fn with_digest(&self, digest: Digest) -> ImageRef {
        ImageRef { digest: Some(digest), tag: None, ..self.clone() }
    }

    pub fn with_tag(&self, tag: &str) -> Result<ImageRef, ReferenceError> {
        if !valid_tag(tag) {
            return Err(ReferenceError::Invalid { reference: tag.to_string(), reason: "bad tag" });
        }
        Ok(ImageRef { tag: Some(tag.to_string()), digest: None, ..self.clone() })
    }

    /// The store's key for a tag: `docker.io/library/busybox:latest`.
    pub fn tagged_key(&self) -> Option<String> {
        self.tag.as_ref().map(|t| format!("{}:{t}", self.name()))
    }

    /// The store's key for a repo digest: `docker.io/library/busybox@sha256:…`.
    pub fn digest_key(&self) -> Option<String> {
        self.digest.as_ref().map(|d| format!("{}@{d}", self.name()))
    }

    /// Loopback registries are spoken to over plain HTTP, as Docker does.
    pub fn is_loopback_registry(&self) -> bool {
        let host = match self.registry.strip_prefix('[') {
            Some(v6) => v6.split(']').next().unwrap_or(""),
            None => self.registry.split(':').next().unwrap_or(""),
        };
        host == "localhost" || host == "::1" || host.parse::<std::net::Ipv4Addr>().is_ok_and(|ip| ip.is_loopback())
    }

    /// The reference in oci-client's terms (it maps `docker.io` to the Hub's
    /// API host itself).
    pub fn to_oci(&self) -> oci_client::Reference {
        match (&self.digest, &self.tag) {
            (Some(d), _) => {
                oci_client::Reference::with_digest(self.registry.clone(), self.repository.clone(), d.to_string())
            }
            (None, t) => oci_client::Reference::with_tag(
                self.registry.clone(),
                self.repository.clone(),
                t.clone().unwrap_or_else(|| DEFAULT_TAG.to_string()),
            ),
        }
    }
}

/// Canonical form: `registry/repository[:tag][@digest]`.
impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.name())?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

/// The first component is a registry host when it looks like one (has a dot
/// or a port, or is `localhost`); otherwise the name is on Docker Hub.
fn split_registry(name: &str) -> (String, &str) {
    match name.split_once('/') {
        Some((first, rest)) if first.contains('.') || first.contains(':') || first == "localhost" => {
            (first.to_string(), rest)
        }
        _ => (DEFAULT_REGISTRY.to_string(), name),
    }
}

fn valid_registry(host: &str) -> bool {
    !host.is_empty()
        && host.bytes().all(|b| b.is_ascii_alphanumeric() || b".-:[]_".contains(&b))
        && !host.starts_with(['.', '-', ':'])
}

/// `[a-z0-9]+` separated by `.`, `_`, `__` or runs of `-`.
fn valid_path_component(c: &str) -> bool {
    let bytes = c.as_bytes();
    if bytes.is_empty() || !bytes[0].is_ascii_alphanumeric() || !bytes[bytes.len() - 1].is_ascii_alphanumeric() {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b.is_ascii_lowercase() || b.is_ascii_digit() {
            i += 1;
            continue;
        }
        let sep_len = match b {
            b'.' => 1,
            b'_' if bytes.get(i + 1) == Some(&b'_') => 2,
            b'_' => 1,
            b'-' => bytes[i..].iter().take_while(|&&x| x == b'-').count(),
            _ => return false,
        };
        i += sep_len;
        if !bytes.get(i).is_some_and(|x| x.is_ascii_alphanumeric()) {
            return false;
        }
    }
    true
}

/// `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
fn valid_tag(t: &str) -> bool {
    let b = t.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter().all(|c| c.is_ascii_alphanumeric() || b"_.-".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> ImageRef {
        ImageRef::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn short_names_go_to_docker_hub_library() {
        assert_eq!(p("busybox").to_string(), "docker.io/library/busybox:latest");
        assert_eq!(p("busybox").familiar_name(), "busybox");
        assert_eq!(p("user/app:1.2").to_string(), "docker.io/user/app:1.2");
        assert_eq!(p("index.docker.io/library/alpine").to_string(), "docker.io/library/alpine:latest");
    }

    #[test]
    fn hosts_with_port_dot_or_localhost_are_registries() {
        let r = p("localhost:5000/x");
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str(), r.tag.as_deref()),
            ("localhost:5000", "x", Some("latest"))
        );
        assert_eq!(r.familiar_name(), "localhost:5000/x");
        assert_eq!(p("localhost/x:t").registry, "localhost");
        assert_eq!(p("quay.io/a/b/c:v1").repository, "a/b/c");
        assert!(p("127.0.0.1:5000/x").is_loopback_registry());
        assert!(p("[::1]:5000/x").is_loopback_registry());
        assert!(!p("quay.io/x").is_loopback_registry());
        assert!(!p("busybox").is_loopback_registry());
    }

    #[test]
    fn digests_pin_and_drop_the_default_tag() {
        let d = format!("sha256:{}", "0123456789abcdef".repeat(4));
        let r = p(&format!("busybox@{d}"));
        assert_eq!(r.tag, None);
        assert_eq!(r.digest.as_ref().map(|d| d.to_string()), Some(d.clone()));
        assert_eq!(r.digest_key(), Some(format!("docker.io/library/busybox@{d}")));
        let both = p(&format!("localhost:5000/x:v1@{d}"));
        assert_eq!(both.tag.as_deref(), Some("v1"));
        assert_eq!(both.to_string(), format!("localhost:5000/x:v1@{d}"));
    }

    #[test]
    fn malformed_references_are_rejected() {
        for bad in ["", "Busybox", "a//b", "a/-b", "x:", "x:-bad", "x@sha256:abc", "a b", ":tag", "x/..", "-x"] {
            assert!(ImageRef::parse(bad).is_err(), "{bad:?} should be rejected");
        }
        assert!(matches!(ImageRef::parse("Busybox"), Err(ReferenceError::Uppercase { .. })));
        assert!(ImageRef::parse("a__b/c-d.e---f").is_ok());
    }
}
