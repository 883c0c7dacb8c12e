//! The engine's clock in Docker's spelling: RFC 3339 with nanoseconds
//! (`2026-01-02T03:04:05.123456789Z`), Go's zero time for "never", and the
//! `since`/`until` query values. The grammar is the shared vocabulary's
//! (`docker_vocab::time`); this module only names it for the engine and
//! turns its errors into the strings the API replies with. It must never
//! grow a parser of its own.

use chrono::{DateTime, Utc};
pub use docker_vocab::time::{ZERO, format_rfc3339_nano as format, now_string, parse_rfc3339 as parse, unix_secs};

/// A `since`/`until` query value: Unix seconds with an optional fraction
/// (what the docker CLI sends) or an RFC 3339 time; empty or `0` is unset.
pub fn parse_query(s: &str) -> Result<Option<DateTime<Utc>>, String> {
    docker_vocab::time::parse_query(s).map_err(|e| e.to_string())
}
