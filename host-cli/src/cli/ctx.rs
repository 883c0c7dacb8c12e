//! The connection every command runs with: a bollard client, the
//! endpoint it reached and the target that endpoint stands for, so errors
//! can name where the engine was looked for.

use bollard::Docker;

use super::error::CliError;
use crate::engine_target::{Endpoint, Target};

/// A connected client and where it points.
pub struct Ctx {
    pub docker: Docker,
    pub endpoint: Endpoint,
    pub target: Target,
}

impl Ctx {
    /// A bollard error as a CliError naming this endpoint.
    pub fn err(&self, e: bollard::errors::Error) -> CliError {
        CliError::from_bollard(e, &self.endpoint)
    }
}
