//! The engine's containers: their records, state machine, names, restart
//! policies, health checks, logs and events, and the registry that ties
//! them to the runtime's shims.
//!
//! Owns Docker's container semantics (what `start` on a running container
//! means, when `--rm` removes, when a policy restarts). It must never build
//! a container itself: namespaces, cgroups and processes are
//! `crate::runtime`'s; HTTP is `crate::api`'s.

pub mod attach_stream;
pub mod clock;
pub mod commit;
pub mod diff;
pub mod error;
pub mod events;
pub mod exec;
pub mod exec_lifecycle;
pub mod filters;
pub mod health;
pub mod health_monitor;
pub mod host_config;
pub mod inspect;
pub mod lifecycle;
pub mod logs;
pub mod mounts;
pub mod names;
pub mod record;
pub mod recover;
pub mod registry;
pub mod removal;
pub mod restart;
pub mod runtime_root;
pub mod shutdown;
pub mod size;
pub mod state;
pub mod stats;
pub mod stopping;
pub mod top;
pub mod update;

pub use registry::{Container, Containers};
