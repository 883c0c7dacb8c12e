//! `POST /commit` (`docker commit`) as the engine serves it: a container's
//! changes become a child image of its image, as moby's
//! `CreateImageFromContainer` makes it.
//!
//! Owns the order: the name and the config first (a bad `repo`, `tag` or
//! change is a 400 before anything is written), the container frozen while
//! its layer is read (unless `pause=false`; a container the user paused
//! stays paused), the image stored and tagged, then the `commit` event. It
//! must never speak HTTP.

use bollard_stubs::models::ContainerConfig;

use super::{Engine, EngineError};
use crate::container::state::Status;
use crate::image::commit::{self, CommitOptions, LayerWriter};
use crate::image::reference::ImageRef;

/// What `POST /commit` asks for.
#[derive(Debug, Default)]
pub struct CommitRequest {
    pub container: String,
    pub repo: Option<String>,
    pub tag: Option<String>,
    pub comment: String,
    pub author: String,
    /// Freeze the container while its layer is read (Docker's default).
    pub pause: bool,
    /// Dockerfile instructions applied to the config.
    pub changes: Vec<String>,
    /// The body: the config to commit instead of the container's.
    pub config: Option<ContainerConfig>,
}

/// moby's `RepoTagReference`: no repo, no name; a repo without a tag gets
/// `latest`; a digest is refused.
fn commit_ref(repo: Option<&str>, tag: Option<&str>) -> Result<Option<ImageRef>, EngineError> {
    let Some(repo) = repo.filter(|r| !r.is_empty()) else { return Ok(None) };
    let r = ImageRef::parse(repo)?;
    if r.digest.is_some() {
        return Err(EngineError::invalid("cannot import digest reference"));
    }
    match tag.filter(|t| !t.is_empty()) {
        Some(t) => Ok(Some(r.with_tag(t)?)),
        None => Ok(Some(r)),
    }
}

impl Engine {
    #[tracing::instrument(skip_all, fields(container = %req.container))]
    /// The new image's ID (`sha256:…`).
    pub async fn commit_container(&self, req: CommitRequest) -> Result<String, EngineError> {
        let reference = commit_ref(req.repo.as_deref(), req.tag.as_deref())?;
        let c = self.container(&req.container)?;
        self.containers.check_committable(&c)?;
        let cfg = self.containers.commit_config(&c, req.config, &req.changes)?;
        let rec = c.record();
        let parent = crate::image::digest::Digest::parse(&rec.image_id)
            .map_err(|e| EngineError::invalid(format!("the container's image {}: {e}", rec.image_id)))?;
        let paused = req.pause && rec.state.status == Status::Running && self.containers.pause(&c).await.is_ok();
        // Docker thaws the container when the whole commit is done, its
        // event included, and whether or not it worked.
        let committed = async {
            let mut layer = LayerWriter::create(&self.images)?;
            let (containers, cc) = (self.containers.clone(), c.clone());
            let layer = tokio::task::spawn_blocking(move || containers.write_layer(&cc, &mut layer).map(|()| layer))
                .await??
                .finish()?;
            let opts = CommitOptions {
                parent: Some(parent),
                config: cfg.config,
                container_config: cfg.container_config,
                container_id: c.id.clone(),
                author: req.author,
                comment: req.comment.clone(),
                refs: reference.as_ref().and_then(ImageRef::tagged_key).into_iter().collect(),
                created: docker_vocab::time::now_string(),
            };
            let store = self.images.clone();
            let image = tokio::task::spawn_blocking(move || commit::commit(&store, layer, &opts)).await??;
            let id = image.id.to_string();
            self.image_event("create", &id, &id);
            if let Some(r) = &reference {
                self.image_event("tag", &id, &r.familiar_string());
            }
            let mut attrs = rec.event_attributes();
            attrs.insert("comment".into(), req.comment);
            attrs.insert("imageID".into(), id.clone());
            attrs.insert("imageRef".into(), reference.map(|r| r.familiar_string()).unwrap_or_default());
            self.containers.events.container("commit", &c.id, attrs);
            Ok::<_, EngineError>(id)
        }
        .await;
        if paused && let Err(e) = self.containers.unpause(&c).await {
            tracing::warn!(id = %c.id, error = %e, "unpausing after the commit");
        }
        committed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_as_dockers_repo_tag_reference() {
        let key = |repo, tag| commit_ref(repo, tag).map(|r| r.and_then(|r| r.tagged_key()));
        assert_eq!(key(None, Some("v1")).unwrap(), None, "no repo: no name, whatever the tag");
        assert_eq!(key(Some("mine"), None).unwrap().as_deref(), Some("docker.io/library/mine:latest"));
        assert_eq!(key(Some("mine"), Some("v1")).unwrap().as_deref(), Some("docker.io/library/mine:v1"));
        assert_eq!(key(Some("mine:v2"), None).unwrap().as_deref(), Some("docker.io/library/mine:v2"));
        let digest = format!("mine@sha256:{}", "a".repeat(64));
        assert_eq!(key(Some(&digest), None).unwrap_err().to_string(), "cannot import digest reference");
        assert!(key(Some("Bad Name"), None).is_err());
        assert!(key(Some("mine"), Some("bad tag")).is_err());
    }
}
