//! Tests that cross modules: pulls and pushes against a real registry
//! (Debian's `docker-registry`, started per test on loopback), through
//! mirrors and over TLS.

mod mirrors;
mod registry;
