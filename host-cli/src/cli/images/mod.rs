//! Image commands: pull/push with progress, images/history, rmi/tag,
//! save/load/import.

pub mod list;
pub mod manage;
pub mod progress;
pub mod pull;
