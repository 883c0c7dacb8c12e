//! The classic Dockerfile builder's domain (`POST /build`, builder v1): a
//! Dockerfile parsed into stages and steps (`parser.rs`), Docker's variable
//! expansion (`lex.rs`), each step's meaning for the image config and the
//! history line it leaves (`instructions.rs`), the build context received
//! and read (`context.rs`), the files a COPY/ADD puts in its layer and
//! their content hash (`copy.rs`), the stages a target needs (`stages.rs`),
//! and the build cache index (`cache.rs`).
//!
//! The engine (`engine/build.rs`) runs the steps: it alone creates
//! containers, commits layers and tags images. This domain must never
//! import the container, image, network or runtime domains, nor the
//! engine or the API; every path of a build context is touched only
//! through `crate::confined`.

pub mod cache;
pub mod context;
pub mod copy;
pub mod error;
pub mod instructions;
pub mod lex;
pub mod parser;
pub mod stages;

pub use error::BuildError;
