//! Image references in the engine: the shared vocabulary's [`ImageRef`]
//! (parsing and normalising as Docker does lives in `docker_vocab`), and
//! its translation into oci-client's terms for the registry client.
//!
//! Owns that translation only; it must never talk to a registry or touch
//! the store.

pub use docker_vocab::reference::{DEFAULT_REGISTRY, ImageRef};

/// An [`ImageRef`] as oci-client names it (it maps `docker.io` to the Hub's
/// API host itself).
pub trait ToOci {
    fn to_oci(&self) -> oci_client::Reference;
}

impl ToOci for ImageRef {
    fn to_oci(&self) -> oci_client::Reference {
        match (&self.digest, &self.tag) {
            (Some(d), _) => {
                oci_client::Reference::with_digest(self.registry.clone(), self.repository.clone(), d.to_string())
            }
            (None, t) => oci_client::Reference::with_tag(
                self.registry.clone(),
                self.repository.clone(),
                t.clone().unwrap_or_else(|| docker_vocab::reference::DEFAULT_TAG.to_string()),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oci_references_keep_registry_repository_and_pin() {
        let r = ImageRef::parse("busybox").unwrap().to_oci();
        assert_eq!((r.registry(), r.repository(), r.tag()), ("docker.io", "library/busybox", Some("latest")));
        let d = format!("sha256:{}", "0123456789abcdef".repeat(4));
        let r = ImageRef::parse(&format!("localhost:5000/x:v1@{d}")).unwrap().to_oci();
        assert_eq!((r.registry(), r.repository(), r.digest()), ("localhost:5000", "x", Some(d.as_str())));
    }
}
