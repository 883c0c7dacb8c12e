//! Which images containers use: the hook through which the container side
//! tells the image store, so that `DELETE /images` answers 409 and prune
//! and GC leave those images alone.
//!
//! The store owns no containers and must never learn their layout; the
//! engine implements [`ImageUsers`] over its container records and
//! registers it once with [`Store::set_users`](super::store::Store::set_users):
//!
//! ```ignore
//! struct Containers { /* … */ }
//! impl ImageUsers for Containers {
//!     fn image_users(&self) -> Vec<ImageUse> {
//!         self.all().map(|c| ImageUse { image: c.image_id.clone(), container: c.id.clone(), running: c.running() }).collect()
//!     }
//! }
//! engine.images.set_users(containers.clone());
//! ```
//!
//! Without a registered hook no image is in use (the engine before
//! containers existed, and the image-only tests).

use super::digest::Digest;

/// One container's use of one image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageUse {
    /// The image ID (config digest) the container was created from.
    pub image: Digest,
    pub container: String,
    /// A running container makes the image undeletable even with force.
    pub running: bool,
}

/// Implemented by the engine's container registry. Called on every image
/// delete and prune, so it should answer from memory.
pub trait ImageUsers: Send + Sync {
    fn image_users(&self) -> Vec<ImageUse>;
}
