//! The registry client: oci-client (reqwest over rustls, so nothing links
//! OpenSSL and the agent still builds statically), configured per registry.
//!
//! Owns speaking to one endpoint (`endpoints` picks which, in what order):
//! its transport (HTTPS with an optional CA bundle, HTTPS accepting any
//! certificate, or plain HTTP), a mirror's address in place of the name's
//! registry, credentials
//! (anonymous, basic, bearer token; oci-client answers Bearer challenges and
//! falls back to Basic), and turning oci-client's errors into ones a user
//! can act on — a wrong password must read as a 401, not as a transport
//! failure. It must never write to the store: pull and push do that.

use std::path::PathBuf;

use oci_client::client::{Certificate, CertificateEncoding, ClientConfig, ClientProtocol, SizedStream};
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::secrets::RegistryAuth;

use super::digest::Digest;
use super::endpoints::{Endpoint, RegistryConfig, Transport};
use super::manifest;
use super::reference::{ImageRef, ToOci};

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("unauthorized: {registry} refused access to {repository} (HTTP 401): {hint}")]
    Unauthorized { registry: String, repository: String, hint: &'static str },
    #[error("denied: {registry} does not allow this operation on {repository}")]
    Denied { registry: String, repository: String },
    #[error("{what} not found: {reference}")]
    NotFound { what: &'static str, reference: String },
    #[error("{what} of {reference} does not match its digest: {detail}")]
    DigestMismatch { what: &'static str, reference: String, detail: String },
    #[error("registry {registry}: {what}: {source}")]
    Request {
        registry: String,
        what: &'static str,
        #[source]
        source: OciDistributionError,
    },
    #[error("CA bundle {path}: {source}")]
    CaBundle {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("registry {registry} sent an unusable {what}: {reason}")]
    Protocol { registry: String, what: &'static str, reason: String },
}

impl RegistryError {
    /// How a client should read the failure. A refusal keeps its meaning
    /// (401, 403); the API never turns a pull's into a 401 (see the engine).
    pub fn kind(&self) -> crate::error_kind::ErrorKind {
        use crate::error_kind::ErrorKind;
        match self {
            RegistryError::NotFound { .. } => ErrorKind::NotFound,
            RegistryError::Unauthorized { .. } => ErrorKind::Unauthorized,
            RegistryError::Denied { .. } => ErrorKind::Forbidden,
            _ => ErrorKind::Internal,
        }
    }

    /// The request got no HTTP answer at all (refused, reset, a TLS
    /// handshake that failed, a name that does not resolve).
    pub fn is_transport(&self) -> bool {
        matches!(self, RegistryError::Request { source: OciDistributionError::RequestError(e), .. } if e.status().is_none())
    }
}

/// The most a config blob may be.
pub const SMALL_BLOB_LIMIT: usize = 16 << 20;

/// Credentials for one registry, as the API's `X-Registry-Auth` carries them.
#[derive(Clone, Default)]
pub enum Credentials {
    #[default]
    Anonymous,
    Basic {
        username: String,
        password: String,
    },
    /// An identity or registry token (Docker's `identitytoken`/`registrytoken`).
    Token(String),
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::Anonymous => f.write_str("Anonymous"),
            Credentials::Basic { username, .. } => write!(f, "Basic({username}, <redacted>)"),
            Credentials::Token(_) => f.write_str("Token(<redacted>)"),
        }
    }
}

/// One certificate per PEM block: reqwest reads a single certificate from
/// each, and CA bundles hold many.
fn split_pem_bundle(data: &[u8]) -> Vec<Certificate> {
    const END: &str = "-----END CERTIFICATE-----";
    let text = String::from_utf8_lossy(data);
    text.split_inclusive(END)
        .filter(|block| block.contains("-----BEGIN CERTIFICATE-----") && block.ends_with(END))
        .map(|block| Certificate { encoding: CertificateEncoding::Pem, data: block.trim_start().as_bytes().to_vec() })
        .collect()
}

/// A client bound to one endpoint and one set of credentials.
pub struct Registry {
    client: oci_client::Client,
    auth: RegistryAuth,
    /// What errors name: the mirror, or the name's registry.
    registry: String,
    /// A mirror's `host[:port][/path]`, addressed instead of the name's registry.
    mirror: Option<String>,
}

impl Registry {
    pub async fn connect(
        cfg: &RegistryConfig,
        endpoint: &Endpoint,
        target: &ImageRef,
        creds: &Credentials,
    ) -> Result<Self, RegistryError> {
        // reqwest is built without a default crypto provider (that would pull
        // in aws-lc); install ring once per process. Err means already done.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut extra_root_certificates = Vec::new();
        if let Some(path) = &cfg.ca_bundle {
            let data = std::fs::read(path).map_err(|source| RegistryError::CaBundle { path: path.clone(), source })?;
            extra_root_certificates = split_pem_bundle(&data);
        }
        let unverified = endpoint.transport == Transport::HttpsUnverified;
        let config = ClientConfig {
            protocol: if endpoint.transport == Transport::Http { ClientProtocol::Http } else { ClientProtocol::Https },
            accept_invalid_certificates: unverified,
            extra_root_certificates,
            max_concurrent_download: cfg.max_concurrent_downloads.max(1),
            connect_timeout: Some(std::time::Duration::from_secs(30)),
            read_timeout: Some(std::time::Duration::from_secs(120)),
            ..Default::default()
        };
        let registry = endpoint.mirror.clone().unwrap_or_else(|| target.registry.clone());
        let client = oci_client::Client::try_from(config).map_err(|source| RegistryError::Request {
            registry: registry.clone(),
            what: "creating the client",
            source,
        })?;
        let auth = match creds {
            Credentials::Anonymous => RegistryAuth::Anonymous,
            Credentials::Basic { username, password } => RegistryAuth::Basic(username.clone(), password.clone()),
            Credentials::Token(t) => RegistryAuth::Bearer(t.clone()),
        };
        let this = Registry { client, auth, registry, mirror: endpoint.mirror.clone() };
        // oci-client keys credentials by the host it resolves the name to.
        let oci_ref = this.oci(target);
        this.client.store_auth_if_needed(oci_ref.resolve_registry(), &this.auth).await;
        Ok(this)
    }

    /// `r` as oci-client addresses it at this endpoint.
    fn oci(&self, r: &ImageRef) -> oci_client::Reference {
        let mut oci = r.to_oci();
        if let Some(m) = &self.mirror {
            oci.set_mirror_registry(m.clone());
        }
        oci
    }

    /// The raw manifest (index or image) and its verified digest: when the
    /// reference names a digest, oci-client checks the body against it.
    pub async fn fetch_manifest(&self, r: &ImageRef) -> Result<(bytes::Bytes, Digest), RegistryError> {
        let (body, digest) = self
            .client
            .pull_manifest_raw(&self.oci(r), &self.auth, manifest::ACCEPTED)
            .await
            .map_err(|e| self.map(e, r, "manifest"))?;
        let computed = Digest::of(&body);
        if let Some(want) = &r.digest
            && *want != computed
        {
            return Err(RegistryError::DigestMismatch {
                what: "manifest",
                reference: r.to_string(),
                detail: format!("expected {want}, got {computed}"),
            });
        }
        if digest != computed.as_str() {
            tracing::debug!(header = %digest, %computed, "registry reported another manifest digest; using the content's");
        }
        Ok((body, computed))
    }

    /// A blob as a stream; the caller hashes it while storing it.
    pub async fn blob_stream(&self, r: &ImageRef, digest: &Digest) -> Result<SizedStream, RegistryError> {
        self.client.pull_blob_stream(&self.oci(r), digest.as_str()).await.map_err(|e| self.map(e, r, "blob"))
    }

    pub async fn blob_exists(&self, r: &ImageRef, digest: &Digest) -> Result<bool, RegistryError> {
        self.client.blob_exists(&self.oci(r), digest.as_str()).await.map_err(|e| self.map(e, r, "blob"))
    }

    pub async fn push_blob(&self, r: &ImageRef, data: bytes::Bytes, digest: &Digest) -> Result<(), RegistryError> {
        self.client.push_blob(&self.oci(r), data, digest.as_str()).await.map(|_| ()).map_err(|e| self.map(e, r, "blob"))
    }

    /// Pushes manifest bytes unchanged, so the digest the registry stores
    /// is the one the store already knows.
    pub async fn push_manifest(&self, r: &ImageRef, body: bytes::Bytes, media_type: &str) -> Result<(), RegistryError> {
        let ct = media_type.parse().map_err(|_| RegistryError::Protocol {
            registry: self.registry.clone(),
            what: "media type",
            reason: media_type.to_string(),
        })?;
        self.client.push_manifest_raw(&self.oci(r), body, ct).await.map(|_| ()).map_err(|e| self.map(e, r, "manifest"))
    }

    /// Checks credentials the way `docker login` does: through the
    /// registry's token service when it has one (a wrong password fails
    /// there), then with one authenticated request (`/v2/<repo>/tags/list`
    /// of a repository that need not exist: 404 means the credentials were
    /// accepted, 401 that they were not).
    pub async fn check_login(&self, probe: &ImageRef) -> Result<(), RegistryError> {
        let oci = self.oci(probe);
        self.client
            .auth(&oci, &self.auth, oci_client::RegistryOperation::Pull)
            .await
            .map_err(|e| self.map(e, probe, "login"))?;
        match self.client.list_tags(&oci, &self.auth, Some(1), None).await.map_err(|e| self.map(e, probe, "login")) {
            Ok(_) | Err(RegistryError::NotFound { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// A small blob (an image config) in memory, verified; a registry
    /// sending more than [`SMALL_BLOB_LIMIT`] bytes (by its Content-Length,
    /// or by what arrives) is refused before the rest is read.
    pub async fn fetch_small_blob(&self, r: &ImageRef, digest: &Digest) -> Result<Vec<u8>, RegistryError> {
        use futures_util::StreamExt;
        const LIMIT: usize = SMALL_BLOB_LIMIT;
        let mut stream = self.blob_stream(r, digest).await?;
        if stream.content_length.is_some_and(|n| n > LIMIT as u64) {
            return Err(RegistryError::Protocol {
                registry: self.registry.clone(),
                what: "config blob",
                reason: format!("larger than {LIMIT} bytes"),
            });
        }
        let mut out = Vec::new();
        while let Some(chunk) = stream.stream.next().await {
            let chunk = chunk.map_err(|e| RegistryError::DigestMismatch {
                what: "blob",
                reference: r.to_string(),
                detail: e.to_string(),
            })?;
            out.extend_from_slice(&chunk);
            if out.len() > LIMIT {
                return Err(RegistryError::Protocol {
                    registry: self.registry.clone(),
                    what: "config blob",
                    reason: format!("larger than {LIMIT} bytes"),
                });
            }
        }
        let actual = Digest::of(&out);
        if actual != *digest {
            return Err(RegistryError::DigestMismatch {
                what: "blob",
                reference: r.to_string(),
                detail: format!("expected {digest}, got {actual}"),
            });
        }
        Ok(out)
    }

    fn map(&self, e: OciDistributionError, r: &ImageRef, what: &'static str) -> RegistryError {
        let unauthorized = || RegistryError::Unauthorized {
            registry: self.registry.clone(),
            repository: r.repository.clone(),
            hint: "authentication required, or the username or password is wrong",
        };
        let not_found = || RegistryError::NotFound { what, reference: r.to_string() };
        match e {
            OciDistributionError::UnauthorizedError { .. } | OciDistributionError::AuthenticationFailure(_) => {
                unauthorized()
            }
            OciDistributionError::ServerError { code: 401, .. } => unauthorized(),
            OciDistributionError::ServerError { code: 404, .. }
            | OciDistributionError::ImageManifestNotFoundError(_) => not_found(),
            OciDistributionError::RegistryError { ref envelope, .. } => {
                let codes: Vec<&OciErrorCode> = envelope.errors.iter().map(|e| &e.code).collect();
                if codes.iter().any(|c| matches!(c, OciErrorCode::Unauthorized)) {
                    unauthorized()
                } else if codes.iter().any(|c| matches!(c, OciErrorCode::Denied)) {
                    RegistryError::Denied { registry: self.registry.clone(), repository: r.repository.clone() }
                } else if codes.iter().any(|c| {
                    matches!(
                        c,
                        OciErrorCode::ManifestUnknown
                            | OciErrorCode::BlobUnknown
                            | OciErrorCode::NameUnknown
                            | OciErrorCode::NotFound
                    )
                }) {
                    not_found()
                } else {
                    RegistryError::Request { registry: self.registry.clone(), what, source: e }
                }
            }
            OciDistributionError::DigestError(d) => {
                RegistryError::DigestMismatch { what, reference: r.to_string(), detail: d.to_string() }
            }
            other => RegistryError::Request { registry: self.registry.clone(), what, source: other },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_bundles_split_into_one_certificate_each() {
        let bundle = "# comment\n-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n\n-----BEGIN CERTIFICATE-----\nBBBB\n-----END CERTIFICATE-----\ntrailing";
        let certs = split_pem_bundle(bundle.as_bytes());
        assert_eq!(certs.len(), 2);
        assert!(String::from_utf8_lossy(&certs[1].data).starts_with("-----BEGIN CERTIFICATE-----\nBBBB"));
    }

    #[test]
    fn credentials_never_print_secrets() {
        let c = Credentials::Basic { username: "u".into(), password: "hunter2".into() };
        assert!(!format!("{c:?}").contains("hunter2"));
        assert!(!format!("{:?}", Credentials::Token("tok".into())).contains("tok"));
    }
}
