//! Images: the store, layer unpacking, and the registry client that pulls
//! and pushes them (issue 6's core, as a library the API handlers call).
//!
//! ```text
//! reference  names as users write them → canonical ImageRef
//! digest     sha256 digests, hashing readers
//! manifest   manifests, indexes, configs; platform selection
//! endpoints  mirrors and insecure registries: which endpoints, in what order
//! fallback   when an attempt moves on to the next endpoint
//! registry   oci-client over rustls: one endpoint, auth, errors
//! store      blobs, unpacked layers by diffID, the atomic index
//! gc         removes what no image and no in-flight pull references
//! unpack     one layer tar → one directory, hostile input refused
//! users      the hook through which containers mark images in use
//! pull/push  the operations, with Docker-style progress events
//! archive    docker save / load tars and OCI layouts
//! build      images from local tars, for the tests (not in the binary)
//! ingest     local layer files and configs into the store (load, import)
//! import     a rootfs tarball + Dockerfile changes → a one-layer image
//! commit     a container's layer tar → a child image of its image
//! view       Docker's list, inspect and history models; list filters
//! removal    which names a delete takes, its 409s, what prune selects
//! distribution  what a registry holds for a name, without pulling
//! ```
//!
//! Dependencies point one way: pull/push/build → store → unpack → digest;
//! registry and manifest know nothing of the store.

pub mod archive;
/// Test-only: how the tests make images without a network.
#[cfg(test)]
pub mod build;
pub mod changes;
pub mod commit;
pub mod digest;
pub mod distribution;
pub mod endpoints;
pub mod fallback;
pub(crate) mod fsutil;
pub mod gc;
pub mod import;
pub mod ingest;
pub mod manifest;
pub mod progress;
pub mod pull;
pub mod push;
pub mod reference;
pub mod registry;
pub mod removal;
pub mod store;
pub mod unpack;
pub mod users;
pub mod view;

#[cfg(test)]
pub(crate) mod tests;
