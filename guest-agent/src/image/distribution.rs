//! What a registry holds for a name, without pulling it
//! (`GET /distribution/{name}/json`): the descriptor of what the name
//! resolves to and the platforms it offers (an index's entries, or an
//! image's config).
//!
//! Owns reading that from the registry into Docker's model. It must never
//! write to the store.

use bollard_stubs::models::{DistributionInspect, OciDescriptor, OciPlatform};
use serde_json::Value;

use super::endpoints::{Endpoint, RegistryConfig};
use super::fallback::{self, AttemptError};
use super::manifest::{self, Fetched, ManifestError};
use super::reference::ImageRef;
use super::registry::{Credentials, Registry, RegistryError};

#[derive(Debug, thiserror::Error)]
pub enum DistributionError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error("{reference}: {source}")]
    Manifest {
        reference: String,
        #[source]
        source: ManifestError,
    },
}

impl AttemptError for DistributionError {
    fn registry_error(&self) -> Option<&RegistryError> {
        match self {
            DistributionError::Registry(e) => Some(e),
            DistributionError::Manifest { .. } => None,
        }
    }
}

impl DistributionError {
    /// A registry's refusal or 404 keeps its meaning; a manifest the engine
    /// cannot read is a failure of the engine's request (500, as Docker).
    pub fn kind(&self) -> crate::error_kind::ErrorKind {
        match self {
            DistributionError::Registry(e) => e.kind(),
            DistributionError::Manifest { .. } => crate::error_kind::ErrorKind::Internal,
        }
    }
}

/// Asks each pull endpoint in turn (a Hub name's mirrors first).
pub async fn inspect(
    cfg: &RegistryConfig,
    r: &ImageRef,
    creds: &Credentials,
) -> Result<DistributionInspect, DistributionError> {
    let at = cfg.pull_endpoints(r).await;
    fallback::try_each(&at, r, |endpoint| async move { inspect_at(cfg, &endpoint, r, creds).await }).await
}

async fn inspect_at(
    cfg: &RegistryConfig,
    endpoint: &Endpoint,
    r: &ImageRef,
    creds: &Credentials,
) -> Result<DistributionInspect, DistributionError> {
    let registry = Registry::connect(cfg, endpoint, r, creds).await?;
    let (body, digest) = registry.fetch_manifest(r).await?;
    let bad = |source| DistributionError::Manifest { reference: r.to_string(), source };
    let (media_type, platforms) = match manifest::parse(&body).map_err(bad)? {
        Fetched::Index(index) => {
            let platforms = index
                .manifests()
                .iter()
                .filter_map(|m| m.platform().as_ref())
                .map(|p| OciPlatform {
                    architecture: Some(p.architecture().to_string()),
                    os: Some(p.os().to_string()),
                    variant: p.variant().clone(),
                    ..Default::default()
                })
                .collect();
            let mt = index.media_type().as_ref().map_or(manifest::OCI_INDEX.to_string(), |m| m.to_string());
            (mt, platforms)
        }
        Fetched::Image { manifest: m, media_type } => {
            let config_digest = manifest::descriptor_digest(m.config()).map_err(bad)?;
            let config = registry.fetch_small_blob(r, &config_digest).await?;
            let c: Value = serde_json::from_slice(&config).unwrap_or(Value::Null);
            let field = |k: &str| Some(c.get(k).and_then(Value::as_str).unwrap_or_default().to_string());
            (
                media_type,
                vec![OciPlatform { architecture: field("architecture"), os: field("os"), ..Default::default() }],
            )
        }
    };
    Ok(DistributionInspect {
        descriptor: OciDescriptor {
            media_type: Some(media_type),
            digest: Some(digest.to_string()),
            size: Some(body.len().try_into().unwrap_or(i64::MAX)),
            ..Default::default()
        },
        platforms,
    })
}
