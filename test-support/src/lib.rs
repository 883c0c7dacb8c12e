//! Fixtures that berth's unit tests, integration tests and benchmarks share,
//! so that each exists once: today a real registry on loopback.
//!
//! Owns starting and stopping those helper processes; it must never depend
//! on berth's own crates (every one of them may use it).

pub mod registry;
