//! Images as the engine serves them.
//!
//! Owns the image operations that span resources (an image's users are
//! containers); the store itself is `crate::image`'s. It must never speak
//! HTTP.

use std::sync::Arc;

use super::Engine;
use crate::image::registry::RegistryConfig;
use crate::image::store::Store;

impl Engine {
    /// The store and registry settings the image routes work with.
    pub fn image_store(&self) -> (&Arc<Store>, &RegistryConfig) {
        (&self.images, &self.registries)
    }
}
