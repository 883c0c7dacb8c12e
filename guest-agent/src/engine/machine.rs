//! What a berth machine asks of its engine beyond the Docker API: health,
//! and shells in the VM itself (`berth machine shell`), outside every
//! container.
//!
//! Owns the rule that shells exist only inside a machine; the sessions
//! themselves are `crate::shell`'s. It must never speak HTTP.

use std::sync::Arc;

use super::{Engine, EngineError};
use crate::shell::{Session, ShellIo, ShellRequest};

impl Engine {
    /// A new shell session in the VM, with its process's side of the stream.
    #[tracing::instrument(skip_all, fields(tty = req.tty))]
    pub fn spawn_shell(&self, req: &ShellRequest) -> Result<(Arc<Session>, ShellIo), EngineError> {
        if !self.in_vm {
            return Err(EngineError::unavailable(
                "a machine shell exists only inside a berth machine; this engine runs on the host (process mode)",
            ));
        }
        Ok(self.shells.spawn(req)?)
    }

    pub fn shell(&self, id: &str) -> Result<Arc<Session>, EngineError> {
        Ok(self.shells.get(id)?)
    }

    /// Where a machine's engine keeps its own log (under its root, on the
    /// data disk).
    pub fn log_path(root: &std::path::Path) -> std::path::PathBuf {
        root.join("log").join("engine.log")
    }

    /// The end of the engine's own log, at most `max_bytes` (`berth machine
    /// logs --engine`). Only a machine's engine keeps one: in process mode
    /// the engine logs to its standard error.
    pub fn engine_log(&self, max_bytes: u64) -> Result<Vec<u8>, EngineError> {
        let path = Self::log_path(&self.root);
        if !path.exists() {
            return Err(EngineError::not_found(
                "this engine keeps no log file: in process mode it logs to its standard error",
            ));
        }
        crate::log_file::tail(&path, max_bytes).map_err(|source| EngineError::Root { path, source })
    }

    /// Forgets an exited session once its code has been read.
    pub fn release_shell(&self, id: &str) {
        self.shells.release(id);
    }
}
