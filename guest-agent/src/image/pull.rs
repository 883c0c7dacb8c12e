//! Pulling an image: manifest (an index resolves to linux/amd64), config,
//! layers downloaded in parallel and unpacked as each arrives, and finally
//! one atomic commit that makes the image visible with its tags.
//!
//! A Docker Hub name is tried at each configured mirror before the Hub
//! (see `endpoints`); a pull that fails at one endpoint starts again at the
//! next, keeping what it already verified and stored.
//!
//! Owns the order of a pull and its progress lines. It must never make an
//! image visible before every blob and layer it names is verified and in
//! place, and never keep what a failed pull stored: everything it writes is
//! held by a lease while it runs, and on failure the lease is dropped and
//! garbage collection removes what no image references.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures_util::StreamExt;
use sha2::{Digest as _, Sha256};
use tokio::io::AsyncWriteExt;

use super::digest::Digest;
use super::endpoints::{Endpoint, RegistryConfig};
use super::fallback::{self, AttemptError};
use super::manifest::{self, Fetched, ManifestError};
use super::progress::{Progress, ProgressEvent};
use super::reference::ImageRef;
use super::registry::{Credentials, Registry, RegistryError};
use super::store::{ImageRecord, LayerRecord, Lease, Store, StoreError, now_secs};

#[derive(Debug, thiserror::Error)]
pub enum PullError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error("{reference}: {source}")]
    Manifest {
        reference: String,
        #[source]
        source: ManifestError,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("blob {expected} of {reference} does not match its digest (got {actual}); nothing was stored")]
    DigestMismatch { reference: String, expected: Digest, actual: Digest },
    #[error("blob {digest} of {reference} is larger than the {size} bytes its descriptor gives; nothing was stored")]
    Oversized { reference: String, digest: Digest, size: u64 },
    #[error("downloading {digest}: {source}")]
    Download {
        digest: Digest,
        #[source]
        source: std::io::Error,
    },
    #[error("layer {digest} has media type {media_type:?}, which is not a filesystem layer")]
    LayerType { digest: Digest, media_type: String },
    #[error("pull task failed: {0}")]
    Task(String),
    #[error("stopped because another layer failed")]
    Stopped,
}

impl AttemptError for PullError {
    fn registry_error(&self) -> Option<&RegistryError> {
        match self {
            PullError::Registry(e) => Some(e),
            _ => None,
        }
    }
}

impl PullError {
    pub fn kind(&self) -> crate::error_kind::ErrorKind {
        match self {
            PullError::Registry(e) => e.kind(),
            PullError::Store(e) => e.kind(),
            _ => crate::error_kind::ErrorKind::Internal,
        }
    }

    /// Did the registry refuse the credentials (or their absence)?
    pub fn is_refusal(&self) -> bool {
        matches!(self, PullError::Registry(RegistryError::Unauthorized { .. } | RegistryError::Denied { .. }))
    }
}

#[derive(Debug, Clone)]
pub struct Pulled {
    pub record: ImageRecord,
    /// What the registry returned for the reference: an index's digest when
    /// the name pointed at one. Docker shows it as `Digest:` and stores it as
    /// the RepoDigest.
    pub digest: Digest,
    /// The image was already complete in the store.
    pub up_to_date: bool,
}

/// Pulls `reference` into `store`. See the module doc for the guarantees.
pub async fn pull(
    store: &Arc<Store>,
    cfg: &RegistryConfig,
    reference: &ImageRef,
    creds: &Credentials,
    progress: &Progress,
) -> Result<Pulled, PullError> {
    let lease = Arc::new(store.lease());
    let at = cfg.pull_endpoints(reference).await;
    let lease_ref = &lease;
    let result = fallback::try_each(&at, reference, |endpoint| async move {
        pull_from(store, cfg, &endpoint, reference, creds, progress, lease_ref).await
    })
    .await;
    drop(lease);
    if let Err(e) = &result {
        tracing::warn!(%reference, error = %e, "pull failed; removing what it stored");
        let s = store.clone();
        match tokio::task::spawn_blocking(move || s.gc()).await {
            Ok(Ok(_)) => {}
            Ok(Err(gc)) => tracing::warn!(error = %gc, "cleanup after a failed pull"),
            Err(join) => tracing::warn!(error = %join, "cleanup after a failed pull"),
        }
    }
    result
}

/// One attempt, at one endpoint.
async fn pull_from(
    store: &Arc<Store>,
    cfg: &RegistryConfig,
    endpoint: &Endpoint,
    reference: &ImageRef,
    creds: &Credentials,
    progress: &Progress,
    lease: &Arc<Lease>,
) -> Result<Pulled, PullError> {
    let manifest_err = |source| PullError::Manifest { reference: reference.to_string(), source };

    let registry = Arc::new(Registry::connect(cfg, endpoint, reference, creds).await?);
    let (body, top_digest) = registry.fetch_manifest(reference).await?;
    let (manifest, media_type, manifest_bytes, manifest_digest) = match manifest::parse(&body).map_err(manifest_err)? {
        Fetched::Image { manifest, media_type } => (manifest, media_type, body, top_digest.clone()),
        Fetched::Index(index) => {
            let entry = manifest::select_platform(&index).map_err(manifest_err)?;
            let digest = manifest::descriptor_digest(entry).map_err(manifest_err)?;
            tracing::debug!(%reference, %digest, "index resolved to linux/amd64");
            let (bytes, d) = registry.fetch_manifest(&reference.with_digest(digest)).await?;
            match manifest::parse(&bytes).map_err(manifest_err)? {
                Fetched::Image { manifest, media_type } => (manifest, media_type, bytes, d),
                Fetched::Index(_) => {
                    return Err(manifest_err(ManifestError::Malformed("an index inside an index".into())));
                }
            }
        }
    };

    // Only now, as Docker does: a pull that fails to resolve its manifest
    // has said nothing, so the API can still answer with an HTTP error.
    let label = reference.tag.clone().or_else(|| reference.digest.as_ref().map(|d| d.to_string())).unwrap_or_default();
    progress.emit(ProgressEvent {
        id: Some(label),
        ..ProgressEvent::status(format!("Pulling from {}", reference.familiar_name()))
    });

    let config_digest = manifest::descriptor_digest(manifest.config()).map_err(manifest_err)?;
    lease.hold(&config_digest);
    let config_bytes = if store.has_blob(&config_digest) {
        store.read_blob(&config_digest)?
    } else {
        let bytes = registry.fetch_small_blob(reference, &config_digest).await?;
        store.put_blob(&bytes, Some(&config_digest), lease)?;
        bytes
    };
    let config = manifest::parse_config(&config_bytes, manifest.layers().len()).map_err(manifest_err)?;
    if config.os != manifest::PLATFORM_OS || config.architecture != manifest::PLATFORM_ARCH {
        tracing::warn!(%reference, os = %config.os, arch = %config.architecture, "image is not built for linux/amd64");
    }
    let up_to_date = store.contains(&config_digest);

    let mut jobs = Vec::new();
    for (desc, diff_id) in manifest.layers().iter().zip(&config.rootfs.diff_ids) {
        let digest = manifest::descriptor_digest(desc).map_err(manifest_err)?;
        let media_type = desc.media_type().to_string();
        if !is_layer_type(&media_type) {
            return Err(PullError::LayerType { digest, media_type });
        }
        lease.hold(&digest);
        lease.hold(diff_id);
        progress.emit(ProgressEvent::layer("Pulling fs layer", digest.short()));
        jobs.push(LayerJob { digest, diff_id: diff_id.clone(), size: desc.size(), media_type });
    }

    let ctx = Arc::new(LayerCtx {
        store: store.clone(),
        registry: registry.clone(),
        reference: reference.clone(),
        progress: progress.clone(),
        lease: lease.clone(),
        slots: tokio::sync::Semaphore::new(cfg.max_concurrent_downloads.max(1)),
        unpacks: tokio::sync::Semaphore::new(MAX_CONCURRENT_UNPACKS),
        stop: AtomicBool::new(false),
    });
    let layers = fetch_layers(ctx, jobs).await?;

    store.put_blob(&manifest_bytes, Some(&manifest_digest), lease)?;
    let record = ImageRecord {
        id: config_digest,
        manifest: manifest_digest,
        manifest_media_type: media_type,
        config_media_type: manifest.config().media_type().to_string(),
        layers,
        stored_at: now_secs(),
        parent: None,
    };
    let mut refs: Vec<String> = reference.tagged_key().into_iter().collect();
    refs.extend(reference.with_digest(top_digest.clone()).digest_key());
    let s = store.clone();
    let committed = record.clone();
    tokio::task::spawn_blocking(move || s.commit_image(committed, &refs))
        .await
        .map_err(|e| PullError::Task(e.to_string()))??;

    progress.emit(ProgressEvent::status(format!("Digest: {top_digest}")));
    let shown = match &reference.tag {
        Some(t) => format!("{}:{t}", reference.familiar_name()),
        None => format!("{}@{top_digest}", reference.familiar_name()),
    };
    let verb = if up_to_date { "Image is up to date for" } else { "Downloaded newer image for" };
    progress.emit(ProgressEvent::status(format!("Status: {verb} {shown}")));
    let pulled = Pulled { record, digest: top_digest, up_to_date };
    tracing::info!(%reference, id = %pulled.record.id, digest = %pulled.digest, up_to_date = pulled.up_to_date, "image pulled");
    Ok(pulled)
}

/// Downloads and unpacks layers in parallel. On the first failure the
/// others are told to stop and are waited for — not aborted — so that no
/// task still holds the lease (or is renaming a blob into place) when the
/// caller collects garbage.
async fn fetch_layers(ctx: Arc<LayerCtx>, jobs: Vec<LayerJob>) -> Result<Vec<LayerRecord>, PullError> {
    let mut tasks = tokio::task::JoinSet::new();
    for (i, job) in jobs.into_iter().enumerate() {
        let ctx = ctx.clone();
        tasks.spawn(async move {
            let r = ctx.fetch_layer(&job).await;
            if r.is_err() {
                ctx.stop.store(true, Ordering::Relaxed);
            }
            (
                i,
                r.map(|()| LayerRecord {
                    digest: job.digest,
                    diff_id: job.diff_id,
                    size: job.size,
                    media_type: job.media_type,
                }),
            )
        });
    }
    let mut layers: Vec<Option<LayerRecord>> = vec![None; tasks.len()];
    let mut first_error = None;
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((i, Ok(layer))) => layers[i] = Some(layer),
            Ok((_, Err(e))) => {
                first_error.get_or_insert(e);
            }
            Err(e) => {
                ctx.stop.store(true, Ordering::Relaxed);
                first_error.get_or_insert(PullError::Task(e.to_string()));
            }
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(layers.into_iter().flatten().collect()),
    }
}

/// What the layer tasks of one pull share.
struct LayerCtx {
    store: Arc<Store>,
    registry: Arc<Registry>,
    reference: ImageRef,
    progress: Progress,
    lease: Arc<Lease>,
    /// At most `max_concurrent_downloads` blobs in flight.
    slots: tokio::sync::Semaphore,
    /// At most [`MAX_CONCURRENT_UNPACKS`] layers being unpacked.
    unpacks: tokio::sync::Semaphore,
    /// Set when any layer failed: the others stop at their next step.
    stop: AtomicBool,
}

/// Layers unpacked at once. Downloads are bounded by the daemon's
/// `max-concurrent-downloads`; without this an image of many small layers
/// that all arrived would unpack them all at once, each with its own
/// decompressor and blocking thread, in the engine that is the VM's PID 1.
const MAX_CONCURRENT_UNPACKS: usize = 2;

struct LayerJob {
    digest: Digest,
    diff_id: Digest,
    size: u64,
    media_type: String,
}

/// Tar layers in any compression, Docker's and OCI's names, including the
/// non-distributable variants; not signatures, attestations or artifacts.
fn is_layer_type(mt: &str) -> bool {
    mt.starts_with("application/vnd.oci.image.layer.") || mt.starts_with("application/vnd.docker.image.rootfs.")
}

impl LayerCtx {
    fn stopped(&self) -> Result<(), PullError> {
        if self.stop.load(Ordering::Relaxed) { Err(PullError::Stopped) } else { Ok(()) }
    }

    async fn fetch_layer(&self, job: &LayerJob) -> Result<(), PullError> {
        let id = job.digest.short().to_string();
        if self.store.has_blob(&job.digest) && self.store.has_layer(&job.diff_id) {
            self.progress.emit(ProgressEvent::layer("Already exists", id));
            return Ok(());
        }
        if !self.store.has_blob(&job.digest) {
            let _slot = self.slots.acquire().await.map_err(|e| PullError::Task(e.to_string()))?;
            self.stopped()?;
            self.download_blob(&job.digest, Some(job.size)).await?;
        }
        if !self.store.has_layer(&job.diff_id) {
            let _unpack = self.unpacks.acquire().await.map_err(|e| PullError::Task(e.to_string()))?;
            self.stopped()?;
            self.progress.emit(ProgressEvent::bytes("Extracting", &id, 0, Some(job.size)));
            let (s, l, blob, diff_id) =
                (self.store.clone(), self.lease.clone(), job.digest.clone(), job.diff_id.clone());
            tokio::task::spawn_blocking(move || s.unpack_blob(&blob, &diff_id, &l))
                .await
                .map_err(|e| PullError::Task(e.to_string()))??;
        }
        self.progress.emit(ProgressEvent::layer("Pull complete", id));
        Ok(())
    }

    /// Streams a blob into `tmp/`, hashing as it goes, and moves it into
    /// `blobs/` only if the digest matches.
    async fn download_blob(&self, digest: &Digest, size: Option<u64>) -> Result<(), PullError> {
        let staged = self.store.staging_path("blob");
        let result = self.download_to(&staged, digest, size).await;
        if result.is_err() {
            let _ = tokio::fs::remove_file(&staged).await;
        }
        result
    }

    async fn download_to(&self, staged: &std::path::Path, digest: &Digest, size: Option<u64>) -> Result<(), PullError> {
        let id = digest.short().to_string();
        let dl = |source| PullError::Download { digest: digest.clone(), source };
        let mut stream = self.registry.blob_stream(&self.reference, digest).await?;
        let total = stream.content_length.or(size);
        let mut file = tokio::fs::File::create(staged).await.map_err(dl)?;
        let mut hasher = Sha256::new();
        let (mut got, mut reported) = (0u64, 0u64);
        while let Some(chunk) = stream.stream.next().await {
            let chunk = match chunk {
                Ok(c) => c,
                // oci-client reports its own digest check as a stream error
                // after the last byte: say "mismatch", not "I/O error".
                Err(e) if total == Some(got) => {
                    let actual = Digest::from_hasher(hasher.clone());
                    if actual != *digest {
                        return Err(mismatch(&self.reference, digest, actual));
                    }
                    return Err(dl(e));
                }
                Err(e) => return Err(dl(e)),
            };
            self.stopped()?;
            got += chunk.len() as u64;
            // A registry that sends more than the manifest promised stops
            // here, not when the disk is full (the digest is checked only
            // after the last byte).
            if let Some(size) = size
                && got > size
            {
                return Err(PullError::Oversized {
                    reference: self.reference.to_string(),
                    digest: digest.clone(),
                    size,
                });
            }
            hasher.update(&chunk);
            file.write_all(&chunk).await.map_err(dl)?;
            if got - reported >= 512 * 1024 {
                reported = got;
                self.progress.emit(ProgressEvent::bytes("Downloading", &id, got, total));
            }
        }
        file.flush().await.map_err(dl)?;
        drop(file);
        self.progress.emit(ProgressEvent::layer("Verifying Checksum", &id));
        let actual = Digest::from_hasher(hasher);
        if actual != *digest {
            return Err(mismatch(&self.reference, digest, actual));
        }
        let (s, l, p, d) = (self.store.clone(), self.lease.clone(), staged.to_path_buf(), digest.clone());
        tokio::task::spawn_blocking(move || s.commit_staged_blob(&p, &d, &l))
            .await
            .map_err(|e| PullError::Task(e.to_string()))??;
        self.progress.emit(ProgressEvent::layer("Download complete", &id));
        Ok(())
    }
}

fn mismatch(reference: &ImageRef, expected: &Digest, actual: Digest) -> PullError {
    PullError::DigestMismatch { reference: reference.to_string(), expected: expected.clone(), actual }
}
