//! Image archives: `docker save`'s tar (`save`) and reading it back, or an
//! OCI image layout tar, into the store (`load`).
//!
//! The archive berth writes is Docker 25's layout: every blob under
//! `blobs/sha256/`, an OCI `index.json` and `oci-layout`, and the classic
//! `manifest.json` and `repositories` beside them — so it is both a
//! docker-archive and an OCI layout. Layer blobs are written as the store
//! holds them (usually gzip); `docker load` and berth's load accept
//! compressed layer files.

pub mod load;
pub mod save;

/// `manifest.json` of a docker-archive: one entry per image.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ArchiveManifestEntry {
    pub config: String,
    #[serde(default)]
    pub repo_tags: Option<Vec<String>>,
    pub layers: Vec<String>,
}

/// The annotation containerd and Docker 25 put the full image name in.
pub const ANNOTATION_IMAGE_NAME: &str = "io.containerd.image.name";
/// OCI's own name annotation (often only a tag).
pub const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";
