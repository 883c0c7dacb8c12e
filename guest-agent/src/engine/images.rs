//! Images as the engine serves them: every image operation of the API and
//! the two that only reach registries (`/auth`, `/distribution`), over the
//! store and registry settings the engine holds.
//!
//! Owns the order of each operation (resolve, then work, off the async
//! threads when it blocks) and what a name means in a request (`tag`
//! joined to `fromImage`, `repo:tag` for import). The image rules
//! themselves — which names a delete takes, what prune and the list
//! filters select, the views — are `crate::image`'s. It must never speak
//! HTTP: it takes typed requests and returns Docker's models or domain
//! streams ([`Transfer`]).

use std::io::{Read, Write};

use bollard_stubs::models::{
    CreateImageInfo, DistributionInspect, HistoryResponseItem, ImageDeleteResponseItem, ImagePruneResponse,
    ImageSummary, SystemAuthResponse,
};

use super::transfer::Transfer;
use super::{Engine, EngineError};
use crate::container::filters::Filters;
use crate::image::archive::{load, save};
use crate::image::import::{self, ImportOptions};
use crate::image::progress::{Progress, ProgressEvent};
use crate::image::reference::{DEFAULT_REGISTRY, ImageRef};
use crate::image::registry::{Credentials, Registry, RegistryError};
use crate::image::removal::{self, PruneFilter};
use crate::image::view::{self, ImageView, ListFilter};
use crate::image::{distribution, fallback, pull, push};

/// `POST /images/create?fromSrc=…`: a root filesystem tarball as an image.
#[derive(Debug, Default)]
pub struct ImportImage {
    /// Only `-` (the request body): the engine fetches no URLs.
    pub src: String,
    /// The name to give it; may carry the tag (`name:tag`), as the CLI sends it.
    pub repo: Option<String>,
    pub tag: Option<String>,
    /// Dockerfile instructions for the config (`--change`).
    pub changes: Vec<String>,
    pub message: Option<String>,
}

/// `POST /auth`: what `docker login` sends.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct Login {
    pub username: String,
    pub password: String,
    pub serveraddress: String,
    pub identitytoken: String,
}

/// One line of `docker load`'s reply (`{"stream":"Loaded image: …\n"}`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LoadMessage {
    pub stream: String,
}

/// `name` joined with a separate `tag` parameter: `sha256:…` pins a digest.
fn with_tag(name: &str, tag: Option<&str>) -> String {
    match tag.filter(|t| !t.is_empty()) {
        Some(t) if t.starts_with("sha256:") => format!("{name}@{t}"),
        Some(t) => format!("{name}:{t}"),
        None => name.to_string(),
    }
}

impl Engine {
    /// `GET /images/json`.
    pub fn list_images(&self, f: &Filters) -> Result<Vec<ImageSummary>, EngineError> {
        let filter = ListFilter::new(&self.images, f)?;
        Ok(self
            .images
            .list()
            .iter()
            .filter_map(|s| {
                let v = view::summary(&self.images, s);
                filter.matches(s, &v).then_some(v)
            })
            .collect())
    }

    /// `GET /images/{name}/json`.
    pub fn image_view(&self, name: &str) -> Result<ImageView, EngineError> {
        let rec = self.images.resolve(name)?;
        Ok(view::inspect(&self.images, &rec)?)
    }

    /// `GET /images/{name}/history`.
    pub fn image_history(&self, name: &str) -> Result<Vec<HistoryResponseItem>, EngineError> {
        let rec = self.images.resolve(name)?;
        Ok(view::history(&self.images, &rec))
    }

    /// `POST /images/{name}/tag?repo=&tag=`.
    pub fn tag_image(&self, name: &str, repo: Option<&str>, tag: Option<&str>) -> Result<(), EngineError> {
        let rec = self.images.resolve(name)?;
        let repo = repo.filter(|r| !r.is_empty()).ok_or_else(|| EngineError::invalid("repo is required"))?;
        let target = match tag.filter(|t| !t.is_empty()) {
            Some(t) => format!("{repo}:{t}"),
            None => repo.to_string(),
        };
        let r = ImageRef::parse(&target)?;
        self.images.tag(&r, &rec.id)?;
        self.image_event("tag", &rec.id.to_string(), &r.familiar_string());
        Ok(())
    }

    /// An image event as Docker's: the image ID, and `name` the reference
    /// it concerns (or the ID).
    pub(super) fn image_event(&self, action: &str, id: &str, name: &str) {
        let attrs = std::collections::HashMap::from([("name".to_string(), name.to_string())]);
        self.containers.events.publish(bollard_stubs::models::EventMessageTypeEnum::IMAGE, action, id, attrs);
    }

    /// `DELETE /images/{name}?force=` (see `crate::image::removal`).
    pub async fn remove_image(&self, name: &str, force: bool) -> Result<Vec<ImageDeleteResponseItem>, EngineError> {
        let (store, name) = (self.images.clone(), name.to_string());
        Ok(tokio::task::spawn_blocking(move || removal::remove(&store, &name, force)).await??)
    }

    /// `POST /images/prune?filters=`.
    pub async fn prune_images(&self, f: &Filters) -> Result<ImagePruneResponse, EngineError> {
        let filter = PruneFilter::new(f)?;
        let store = self.images.clone();
        Ok(tokio::task::spawn_blocking(move || removal::prune(&store, &filter)).await??)
    }

    /// `POST /images/create?fromImage=&tag=`: the pull's progress as it
    /// goes. A refused pull is Docker's 403 (see [`EngineError::PullDenied`]).
    pub async fn pull_image(
        &self,
        from_image: &str,
        tag: Option<&str>,
        creds: Credentials,
    ) -> Result<Transfer<ProgressEvent>, EngineError> {
        let reference = ImageRef::parse(&with_tag(from_image, tag))?;
        let (store, registries) = (self.images.clone(), self.registries.clone());
        let (progress, events) = Progress::channel();
        Transfer::start(events, async move {
            match pull::pull(&store, &registries, &reference, &creds, &progress).await {
                Ok(_) => Ok(()),
                Err(e) if e.is_refusal() => {
                    Err(EngineError::PullDenied { repository: reference.familiar_name(), source: e })
                }
                Err(e) => Err(e.into()),
            }
        })
        .await
    }

    /// `POST /images/{name}/push?tag=`: the push's progress as it goes.
    pub async fn push_image(
        &self,
        name: &str,
        tag: Option<&str>,
        creds: Credentials,
    ) -> Result<Transfer<ProgressEvent>, EngineError> {
        let local = with_tag(name, tag);
        let target = ImageRef::parse(&local)?;
        self.images.resolve(&local)?;
        let (store, registries) = (self.images.clone(), self.registries.clone());
        let (progress, events) = Progress::channel();
        Transfer::start(events, async move {
            push::push(&store, &registries, &local, &target, &creds, &progress).await?;
            Ok(())
        })
        .await
    }

    /// `POST /images/create?fromSrc=-`: the tarball becomes a one-layer
    /// image; the reply's `status` is its ID, which the CLI prints.
    pub async fn import_image(
        &self,
        req: ImportImage,
        tarball: impl Read + Send + 'static,
    ) -> Result<CreateImageInfo, EngineError> {
        if req.src != "-" {
            return Err(EngineError::invalid(format!(
                "import from {:?}: only fromSrc=- (the request body) is supported; the engine fetches no URLs",
                req.src
            )));
        }
        let refs = match req.repo.filter(|r| !r.is_empty()) {
            None => Vec::new(),
            Some(repo) => ImageRef::parse(&with_tag(&repo, req.tag.as_deref()))?.tagged_key().into_iter().collect(),
        };
        let opts = ImportOptions { changes: req.changes, message: req.message, refs };
        let store = self.images.clone();
        let rec = tokio::task::spawn_blocking(move || import::import(&store, tarball, &opts)).await??;
        Ok(CreateImageInfo { status: Some(rec.id.to_string()), ..Default::default() })
    }

    /// `GET /images/get?names=…`: every name is resolved first (a missing
    /// one fails the call), then the archive is written to `out` from a
    /// blocking task. A failure after that can only cut the archive short.
    pub fn save_images(&self, names: &[String], out: impl Write + Send + 'static) -> Result<(), EngineError> {
        if names.is_empty() {
            return Err(EngineError::invalid("names is required"));
        }
        let items = save::items(&self.images, names)?;
        let store = self.images.clone();
        tokio::task::spawn_blocking(move || {
            if let Err(e) = save::save(&store, &items, out) {
                tracing::warn!(error = %e, "image save stopped");
            }
        });
        Ok(())
    }

    /// `POST /images/load`: one message per name (or ID) as each image
    /// becomes visible.
    pub async fn load_images(&self, archive: impl Read + Send + 'static) -> Result<Transfer<LoadMessage>, EngineError> {
        let store = self.images.clone();
        let (tx, messages) = tokio::sync::mpsc::unbounded_channel();
        Ok(Transfer::start_streaming(messages, async move {
            tokio::task::spawn_blocking(move || {
                load::load(&store, archive, |l| {
                    let lines = if l.tags.is_empty() {
                        vec![format!("Loaded image ID: {}\n", l.record.id)]
                    } else {
                        l.tags.iter().map(|t| format!("Loaded image: {t}\n")).collect()
                    };
                    for stream in lines {
                        // A client that went away must not fail the load.
                        let _ = tx.send(LoadMessage { stream });
                    }
                })
            })
            .await??;
            Ok(())
        }))
    }

    /// `POST /auth`: checks the credentials against the registry. Nothing
    /// is kept: the CLI sends them with each pull and push.
    pub async fn login(&self, req: Login) -> Result<SystemAuthResponse, EngineError> {
        let registry = registry_host(&req.serveraddress)
            .ok_or_else(|| EngineError::invalid(format!("invalid registry address {:?}", req.serveraddress)))?;
        let creds = if !req.identitytoken.is_empty() {
            Credentials::Token(req.identitytoken)
        } else {
            Credentials::Basic { username: req.username.clone(), password: req.password }
        };
        // Any repository will do: the answer is about the credentials.
        let probe = ImageRef::parse(&format!("{registry}/berth/login-check"))?;
        let at = self.registries.push_endpoints(&probe).await;
        let (registries, probe_ref, creds_ref) = (&self.registries, &probe, &creds);
        let checked = fallback::try_each(&at, &probe, |endpoint| async move {
            Registry::connect(registries, &endpoint, probe_ref, creds_ref).await?.check_login(probe_ref).await
        });
        match checked.await {
            Ok(()) => {
                tracing::info!(%registry, user = %req.username, "login succeeded");
                Ok(SystemAuthResponse { status: "Login Succeeded".into(), identity_token: Some(String::new()) })
            }
            Err(source @ (RegistryError::Unauthorized { .. } | RegistryError::Denied { .. })) => {
                Err(EngineError::LoginRefused { registry, source })
            }
            Err(source) => Err(EngineError::Login { registry, source }),
        }
    }

    /// `GET /distribution/{name}/json`: what the registry holds for `name`,
    /// without pulling it.
    pub async fn distribution_inspect(
        &self,
        name: &str,
        creds: Credentials,
    ) -> Result<DistributionInspect, EngineError> {
        let reference = ImageRef::parse(name)?;
        Ok(distribution::inspect(&self.registries, &reference, &creds).await?)
    }
}

/// The CLI's `serveraddress` as a registry host: `https://index.docker.io/v1/`
/// → `docker.io`; `http://127.0.0.1:5000/` → `127.0.0.1:5000`; empty →
/// Docker Hub, as the CLI means it.
fn registry_host(address: &str) -> Option<String> {
    let rest = address.trim();
    let rest = rest.strip_prefix("https://").or_else(|| rest.strip_prefix("http://")).unwrap_or(rest);
    let host = rest.split('/').next().unwrap_or("");
    match host {
        "" | "index.docker.io" | "registry-1.docker.io" | "docker.io" => Some(DEFAULT_REGISTRY.to_string()),
        h if h.chars().all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c)) => Some(h.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_addresses_become_registry_hosts() {
        assert_eq!(registry_host("https://index.docker.io/v1/").as_deref(), Some("docker.io"));
        assert_eq!(registry_host("").as_deref(), Some("docker.io"));
        assert_eq!(registry_host("http://127.0.0.1:5000/").as_deref(), Some("127.0.0.1:5000"));
        assert_eq!(registry_host("localhost:5000").as_deref(), Some("localhost:5000"));
        assert_eq!(registry_host("bad host"), None);
    }

    #[test]
    fn a_tag_parameter_joins_the_name() {
        assert_eq!(with_tag("busybox", Some("1.36")), "busybox:1.36");
        assert_eq!(with_tag("busybox", Some("sha256:ab")), "busybox@sha256:ab");
        assert_eq!(with_tag("busybox", Some("")), "busybox");
        assert_eq!(with_tag("busybox", None), "busybox");
    }
}
