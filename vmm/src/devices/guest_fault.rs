//! Logging of guest misbehaviour, rate-limited.
//!
//! A hostile guest can post a bad request as fast as it can notify a queue.
//! Each is worth a log line, but not millions: `report` logs the first few
//! of each kind in full, then only every 2^n-th one with the running count,
//! so the host's logs stay readable and cheap to write. Only for faults the
//! guest caused; the VMM's own failures are logged plainly.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex, PoisonError};

/// Occurrences of each kind that are always logged.
const ALWAYS_LOGGED: u64 = 10;

static COUNTS: LazyLock<Mutex<HashMap<&'static str, u64>>> = LazyLock::new(|| Mutex::new(HashMap::new()));

/// Counts one occurrence of `what`; returns whether it should be logged.
fn count(what: &'static str) -> (u64, bool) {
    let mut counts = COUNTS.lock().unwrap_or_else(PoisonError::into_inner);
    let n = counts.entry(what).or_insert(0);
    *n += 1;
    (*n, *n <= ALWAYS_LOGGED || n.is_power_of_two())
}

/// Logs that the guest did `what` (a fixed description), with `detail`.
pub fn report(what: &'static str, detail: &dyn std::fmt::Display) {
    let (n, log) = count(what);
    if log {
        tracing::warn!(occurrences = n, "guest fault: {what}: {detail}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floods_are_thinned_to_powers_of_two() {
        let logged: Vec<u64> =
            (0..1000).map(|_| count("test: flood")).filter(|&(_, log)| log).map(|(n, _)| n).collect();
        assert_eq!(logged, vec![1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 16, 32, 64, 128, 256, 512]);
    }
}
