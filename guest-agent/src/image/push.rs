//! Pushing a stored image: layer blobs and config (skipping what the
//! registry already has), then the manifest bytes exactly as stored, so the
//! pushed digest is the one the store knows.
//!
//! Owns the order of a push and its progress lines. It must never change a
//! stored image; the only store write is recording the new repo digest after
//! the registry accepted the manifest.

use std::sync::Arc;

use super::digest::Digest;
use super::endpoints::{Endpoint, RegistryConfig};
use super::fallback::{self, AttemptError};
use super::progress::{Progress, ProgressEvent};
use super::reference::ImageRef;
use super::registry::{Credentials, Registry, RegistryError};
use super::store::{ImageRecord, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("reading blob {digest}: {source}")]
    Read {
        digest: Digest,
        #[source]
        source: std::io::Error,
    },
    #[error("push task failed: {0}")]
    Task(String),
}

impl AttemptError for PushError {
    fn registry_error(&self) -> Option<&RegistryError> {
        match self {
            PushError::Registry(e) => Some(e),
            _ => None,
        }
    }
}

impl PushError {
    pub fn kind(&self) -> crate::error_kind::ErrorKind {
        match self {
            PushError::Registry(e) => e.kind(),
            PushError::Store(e) => e.kind(),
            _ => crate::error_kind::ErrorKind::Internal,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Pushed {
    pub digest: Digest,
    pub size: usize,
}

/// Pushes the image `local` (a reference or ID in the store) as `target`.
pub async fn push(
    store: &Arc<Store>,
    cfg: &RegistryConfig,
    local: &str,
    target: &ImageRef,
    creds: &Credentials,
    progress: &Progress,
) -> Result<Pushed, PushError> {
    let record = store.resolve(local)?;
    progress.emit(ProgressEvent::status(format!("The push refers to repository [{}]", target.name())));
    let at = cfg.push_endpoints(target).await;
    let rec = &record;
    let pushed = fallback::try_each(&at, target, |endpoint| async move {
        push_to(store, cfg, &endpoint, rec, target, creds, progress).await
    })
    .await?;
    store.tag(&target.with_digest(record.manifest.clone()), &record.id)?;
    tracing::info!(%target, digest = %pushed.digest, size = pushed.size, "image pushed");
    Ok(pushed)
}

/// One attempt, at one endpoint: blobs the registry lacks, then the manifest.
async fn push_to(
    store: &Arc<Store>,
    cfg: &RegistryConfig,
    endpoint: &Endpoint,
    record: &ImageRecord,
    target: &ImageRef,
    creds: &Credentials,
    progress: &Progress,
) -> Result<Pushed, PushError> {
    let registry = Arc::new(Registry::connect(cfg, endpoint, target, creds).await?);

    let mut tasks = tokio::task::JoinSet::new();
    // Layers show progress lines; the config is pushed quietly, as Docker does.
    let blobs = record.layers.iter().map(|l| (l.digest.clone(), true)).chain([(record.id.clone(), false)]);
    for (digest, shown) in blobs {
        let (store, registry, target, progress) = (store.clone(), registry.clone(), target.clone(), progress.clone());
        tasks.spawn(async move {
            let id = digest.short().to_string();
            let say = |status: &str| {
                if shown {
                    progress.emit(ProgressEvent::layer(status, &id));
                }
            };
            say("Preparing");
            if registry.blob_exists(&target, &digest).await? {
                say("Layer already exists");
                return Ok(());
            }
            say("Pushing");
            let path = store.blob_path(&digest);
            let data =
                tokio::fs::read(&path).await.map_err(|source| PushError::Read { digest: digest.clone(), source })?;
            registry.push_blob(&target, data.into(), &digest).await?;
            say("Pushed");
            Ok::<(), PushError>(())
        });
    }
    while let Some(joined) = tasks.join_next().await {
        joined.map_err(|e| PushError::Task(e.to_string()))??;
    }

    let manifest = store.read_blob(&record.manifest)?;
    let size = manifest.len();
    registry.push_manifest(target, manifest.into(), &record.manifest_media_type).await?;
    let tag = target.tag.clone().unwrap_or_else(|| record.manifest.to_string());
    progress.emit(ProgressEvent::status(format!("{tag}: digest: {} size: {size}", record.manifest)));
    progress.emit(ProgressEvent {
        aux: Some(serde_json::json!({"Tag": tag, "Digest": record.manifest.to_string(), "Size": size})),
        progress_detail: Some(Default::default()),
        ..ProgressEvent::status("")
    });
    Ok(Pushed { digest: record.manifest.clone(), size })
}
