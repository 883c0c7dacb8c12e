//! The boot timeline: how long after the process started each step of
//! building and starting a VM was reached.
//!
//! Off unless asked for: the marks are `debug` events on the
//! `berth_vmm::timeline` target, so `BERTH_VMM_LOG=berth_vmm::timeline=debug`
//! prints them (to stderr) and costs nothing otherwise. This module only
//! measures; it never changes what is built or in what order.

use std::sync::OnceLock;
use std::time::Instant;

static START: OnceLock<Instant> = OnceLock::new();

/// Fixes the timeline's zero. The binary calls it first thing in `main`;
/// without it the zero is the first mark.
pub fn start() {
    START.get_or_init(Instant::now);
}

/// Records that `step` was just reached.
pub fn mark(step: &'static str) {
    if tracing::enabled!(target: "berth_vmm::timeline", tracing::Level::DEBUG) {
        let zero = *START.get_or_init(Instant::now);
        let ms = zero.elapsed().as_secs_f64() * 1e3;
        tracing::debug!(target: "berth_vmm::timeline", ms = format_args!("{ms:.1}"), step);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_are_cheap_and_harmless_without_a_subscriber() {
        start();
        mark("test step");
        assert!(START.get().is_some_and(|t| t.elapsed().as_secs() < 60));
    }
}
