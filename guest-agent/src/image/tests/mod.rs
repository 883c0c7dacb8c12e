//! Tests that cross modules: pulls and pushes against a real registry
//! (Debian's `docker-registry`, started per test on loopback), through
//! mirrors and over TLS.

mod mirrors;
mod registry;

use std::sync::Arc;

use super::reference::ImageRef;
use super::store::Store;

fn r(s: &str) -> ImageRef {
    ImageRef::parse(s).expect("reference")
}

fn fresh_store() -> (tempfile::TempDir, Arc<Store>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("open store");
    (dir, store)
}
