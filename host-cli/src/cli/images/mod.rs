//! Image commands: pull/push with progress, images/history, rmi/tag,
//! save/load/import, build.

pub mod build;
pub mod build_output;
pub mod list;
pub mod manage;
pub mod progress;
pub mod pull;
