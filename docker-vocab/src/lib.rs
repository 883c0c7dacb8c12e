//! The Docker vocabulary, once: what berth's CLI (`berth`) and engine
//! (`berth-agent`) both read or write in Docker's own spelling, so that the
//! two can never disagree with each other or with Docker.
//!
//! - [`time`]: timestamps as `since`/`until`/`before` take them (moby's
//!   `GetTimestamp`/`ParseTimestamps`), RFC 3339 nano as Docker writes it.
//! - [`duration`]: Go's `time.ParseDuration` and `Duration.String`.
//! - [`units`]: docker/go-units' human sizes and durations.
//! - [`digest`]: `sha256:` content digests, the one place a digest string
//!   becomes trusted.
//! - [`reference`]: image references, normalised as the docker CLI and
//!   daemon do.
//! - [`filters`]: the `filters` query parameter, modelled on moby's
//!   `filters.Args`, with its matching rules (labels in one place).
//! - [`patterns`]: Go's `filepath.Match` and `.dockerignore` rules.
//! - [`signal`]: Linux signal names and numbers as Docker parses them.
//! - [`detach_keys`]: the keys that detach an attached client
//!   (`ctrl-p,ctrl-q`), and how they are spotted in its input.
//!
//! This crate is pure: it must never do I/O, talk to an engine or a
//! registry, or depend on either binary. Each module's contract is in its
//! own `//!` comment.

pub mod detach_keys;
pub mod digest;
pub mod duration;
pub mod filters;
pub mod patterns;
pub mod reference;
pub mod signal;
pub mod time;
pub mod units;
