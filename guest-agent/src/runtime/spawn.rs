//! Creating a container's runtime state and starting its shim; finding the
//! shims of an earlier engine.

use super::{ContainerRequest, ExitInfo, Runtime, RuntimeError, Shim};

pub async fn create(_rt: &Runtime, _req: ContainerRequest) -> Result<Shim, RuntimeError> {
    Err(RuntimeError::NotYet("create"))
}

pub async fn reconnect(_rt: &Runtime, _id: &str) -> Result<Option<Shim>, RuntimeError> {
    Err(RuntimeError::NotYet("reconnect"))
}

pub fn list_ids(_rt: &Runtime) -> Result<Vec<String>, RuntimeError> {
    Err(RuntimeError::NotYet("list_ids"))
}

pub fn recorded_exit(_rt: &Runtime, _id: &str) -> Option<ExitInfo> {
    None
}

pub async fn cleanup(_rt: &Runtime, _id: &str) -> Result<(), RuntimeError> {
    Err(RuntimeError::NotYet("cleanup"))
}
