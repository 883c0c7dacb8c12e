//! Manifests, indexes and image configs as registries serve them: Docker
//! schema 2 and OCI, parsed with `oci-spec`; manifest lists and indexes
//! resolved to the engine's platform (linux/amd64).
//!
//! Owns the wire formats' meaning. It must never fetch anything and never
//! trust a digest string without [`Digest::parse`].

use oci_spec::image::{Descriptor, ImageIndex, ImageManifest};

use super::digest::Digest;

pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Written only by the tests' images (see `build`); the engine reads any
/// config and layer media type its manifests name.
#[cfg(test)]
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
/// Docker schema 2's gzip layer: a commit renames it to OCI's.
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";

/// Everything the engine asks a registry for, in `Accept` order.
pub const ACCEPTED: &[&str] = &[OCI_INDEX, DOCKER_MANIFEST_LIST, OCI_MANIFEST, DOCKER_MANIFEST];

/// The platform this engine runs (the guest is x86_64 Linux).
pub const PLATFORM_OS: &str = "linux";
pub const PLATFORM_ARCH: &str = "amd64";

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("manifest is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("manifest schema version {0} is not supported (schema 1 images must be re-pushed)")]
    Schema(u64),
    #[error("unsupported manifest media type {0:?}")]
    MediaType(String),
    #[error("manifest is malformed: {0}")]
    Malformed(String),
    #[error("no manifest for {want} in the index (it has: {have})")]
    NoPlatform { want: String, have: String },
    #[error("image config is malformed: {0}")]
    Config(String),
    #[error("image has {layers} layers but its config lists {diff_ids} diffIDs")]
    LayerCount { layers: usize, diff_ids: usize },
    #[error("max depth exceeded: the image has {0} layers, more than {MAX_LAYERS}")]
    TooManyLayers(usize),
}

/// The most layers an image may have: an overlay mount stacks them all
/// (Docker's layer store refuses a little under 128 as well).
pub const MAX_LAYERS: usize = 127;

pub enum Fetched {
    Image { manifest: Box<ImageManifest>, media_type: String },
    Index(Box<ImageIndex>),
}

/// The media type, from the document's own `mediaType` or (OCI allows it to
/// be absent) from its shape.
pub fn parse(bytes: &[u8]) -> Result<Fetched, ManifestError> {
    let v: serde_json::Value = serde_json::from_slice(bytes)?;
    match v.get("schemaVersion").and_then(|s| s.as_u64()) {
        Some(2) => {}
        Some(n) => return Err(ManifestError::Schema(n)),
        None => return Err(ManifestError::Malformed("no schemaVersion".into())),
    }
    let media_type = match v.get("mediaType").and_then(|m| m.as_str()) {
        Some(m) => m.to_string(),
        None if v.get("manifests").is_some() => OCI_INDEX.to_string(),
        None => OCI_MANIFEST.to_string(),
    };
    match media_type.as_str() {
        OCI_INDEX | DOCKER_MANIFEST_LIST => Ok(Fetched::Index(Box::new(
            serde_json::from_value(v).map_err(|e| ManifestError::Malformed(e.to_string()))?,
        ))),
        OCI_MANIFEST | DOCKER_MANIFEST => {
            let manifest: ImageManifest =
                serde_json::from_value(v).map_err(|e| ManifestError::Malformed(e.to_string()))?;
            Ok(Fetched::Image { manifest: Box::new(manifest), media_type })
        }
        other => Err(ManifestError::MediaType(other.to_string())),
    }
}

/// The entry for linux/amd64. A `v1` variant or none is accepted;
/// attestation entries (`unknown/unknown`) never match.
pub fn select_platform(index: &ImageIndex) -> Result<&Descriptor, ManifestError> {
    let found = index.manifests().iter().find(|d| {
        d.platform().as_ref().is_some_and(|p| {
            p.os().to_string() == PLATFORM_OS
                && p.architecture().to_string() == PLATFORM_ARCH
                && p.variant().as_deref().is_none_or(|v| v == "v1")
        })
    });
    found.ok_or_else(|| ManifestError::NoPlatform {
        want: format!("{PLATFORM_OS}/{PLATFORM_ARCH}"),
        have: index
            .manifests()
            .iter()
            .filter_map(|d| d.platform().as_ref().map(|p| format!("{}/{}", p.os(), p.architecture())))
            .collect::<Vec<_>>()
            .join(", "),
    })
}

pub fn descriptor_digest(d: &Descriptor) -> Result<Digest, ManifestError> {
    Digest::parse(d.digest().as_ref()).map_err(|e| ManifestError::Malformed(e.to_string()))
}

/// The part of an image config the store needs; the blob itself is kept
/// verbatim for inspect. Lenient on purpose: Docker-written configs carry
/// fields (and `null`s) that strict OCI parsing refuses.
#[derive(Debug, serde::Deserialize)]
pub struct ConfigSummary {
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
    pub rootfs: RootFs,
}

#[derive(Debug, serde::Deserialize)]
pub struct RootFs {
    #[serde(rename = "type")]
    pub kind: String,
    pub diff_ids: Vec<Digest>,
}

pub fn parse_config(bytes: &[u8], layers: usize) -> Result<ConfigSummary, ManifestError> {
    if layers > MAX_LAYERS {
        return Err(ManifestError::TooManyLayers(layers));
    }
    let c: ConfigSummary = serde_json::from_slice(bytes).map_err(|e| ManifestError::Config(e.to_string()))?;
    if c.rootfs.kind != "layers" {
        return Err(ManifestError::Config(format!("rootfs type {:?}", c.rootfs.kind)));
    }
    if c.rootfs.diff_ids.len() != layers {
        return Err(ManifestError::LayerCount { layers, diff_ids: c.rootfs.diff_ids.len() });
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(c: char) -> String {
        format!("sha256:{}", c.to_string().repeat(64))
    }

    /// An image of more layers than an overlay mount takes is refused before
    /// anything of it is fetched or unpacked.
    #[test]
    fn more_than_127_layers_are_refused() {
        let config = |n: usize| {
            let ids: Vec<String> = (0..n).map(|_| d('c')).collect();
            serde_json::to_vec(&serde_json::json!({"architecture": "amd64", "os": "linux",
                "rootfs": {"type": "layers", "diff_ids": ids}}))
            .unwrap()
        };
        assert!(parse_config(&config(MAX_LAYERS), MAX_LAYERS).is_ok());
        let e = parse_config(&config(MAX_LAYERS + 1), MAX_LAYERS + 1).expect_err("refused");
        assert!(matches!(e, ManifestError::TooManyLayers(128)) && e.to_string().contains("max depth exceeded"), "{e}");
    }

    #[test]
    fn docker_schema2_and_oci_manifests_parse() {
        let docker = serde_json::json!({
            "schemaVersion": 2, "mediaType": DOCKER_MANIFEST,
            "config": {"mediaType": DOCKER_CONFIG, "digest": d('a'), "size": 10},
            "layers": [{"mediaType": DOCKER_LAYER_GZIP, "digest": d('b'), "size": 20}]
        });
        let Fetched::Image { manifest, media_type } = parse(&serde_json::to_vec(&docker).unwrap()).unwrap() else {
            panic!("expected an image manifest")
        };
        assert_eq!(media_type, DOCKER_MANIFEST);
        assert_eq!(descriptor_digest(&manifest.layers()[0]).unwrap().to_string(), d('b'));
        let oci = serde_json::json!({
            "schemaVersion": 2,
            "config": {"mediaType": OCI_CONFIG, "digest": d('a'), "size": 10},
            "layers": []
        });
        assert!(
            matches!(parse(&serde_json::to_vec(&oci).unwrap()).unwrap(), Fetched::Image { media_type, .. } if media_type == OCI_MANIFEST)
        );
    }

    #[test]
    fn index_resolves_to_linux_amd64_and_says_what_it_had_otherwise() {
        let entry = |arch: &str, os: &str, c| serde_json::json!({"mediaType": OCI_MANIFEST, "digest": d(c), "size": 1, "platform": {"architecture": arch, "os": os}});
        let idx = serde_json::json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
            entry("unknown", "unknown", 'c'), entry("arm64", "linux", 'a'), entry("amd64", "linux", 'b')]});
        let Fetched::Index(index) = parse(&serde_json::to_vec(&idx).unwrap()).unwrap() else {
            panic!("expected an index")
        };
        assert_eq!(descriptor_digest(select_platform(&index).unwrap()).unwrap().to_string(), d('b'));

        let arm_only = serde_json::json!({"schemaVersion": 2, "mediaType": DOCKER_MANIFEST_LIST, "manifests": [entry("arm64", "linux", 'a')]});
        let Fetched::Index(index) = parse(&serde_json::to_vec(&arm_only).unwrap()).unwrap() else {
            panic!("expected an index")
        };
        let e = select_platform(&index).unwrap_err().to_string();
        assert!(e.contains("linux/amd64") && e.contains("linux/arm64"), "{e}");
    }

    #[test]
    fn schema1_and_unknown_types_are_refused() {
        assert!(matches!(parse(br#"{"schemaVersion":1,"name":"x"}"#), Err(ManifestError::Schema(1))));
        assert!(matches!(parse(br#"{"schemaVersion":2,"mediaType":"text/plain"}"#), Err(ManifestError::MediaType(_))));
        assert!(parse(b"not json").is_err());
    }

    #[test]
    fn config_diff_ids_must_match_the_layer_count() {
        let cfg = serde_json::json!({"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[d('a')]},"config":{"Env":null}});
        let bytes = serde_json::to_vec(&cfg).unwrap();
        assert_eq!(parse_config(&bytes, 1).unwrap().rootfs.diff_ids.len(), 1);
        assert!(matches!(parse_config(&bytes, 2), Err(ManifestError::LayerCount { .. })));
    }
}
