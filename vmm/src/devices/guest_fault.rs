//! Logging of guest misbehaviour, rate-limited.
//!
//! A hostile guest can post a bad request as fast as it can notify a queue.
//! Each is worth a log line, but not millions: `report` logs a kind's first
//! occurrence, then at most one line per kind per [`INTERVAL`], which says
//! how many of that kind were not logged since the last line. So the host's
//! machine.log grows by a bounded amount whatever the guest does. Only for
//! faults the guest caused; the VMM's own failures are logged plainly.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// At most one line per kind this often.
pub const INTERVAL: Duration = Duration::from_secs(10);

#[derive(Default)]
struct Limiter {
    kinds: HashMap<&'static str, Kind>,
}

struct Kind {
    last_logged: Instant,
    suppressed: u64,
    total: u64,
}

impl Limiter {
    /// Counts one occurrence of `what` at `now`; returns the line's
    /// (total, suppressed since the last line) when one should be logged.
    fn count(&mut self, what: &'static str, now: Instant) -> Option<(u64, u64)> {
        let k = match self.kinds.get_mut(what) {
            Some(k) => k,
            None => {
                self.kinds.insert(what, Kind { last_logged: now, suppressed: 0, total: 1 });
                return Some((1, 0));
            }
        };
        k.total += 1;
        if now.duration_since(k.last_logged) < INTERVAL {
            k.suppressed += 1;
            return None;
        }
        let suppressed = std::mem::take(&mut k.suppressed);
        k.last_logged = now;
        Some((k.total, suppressed))
    }
}

static LIMITER: LazyLock<Mutex<Limiter>> = LazyLock::new(|| Mutex::new(Limiter::default()));

/// Logs that the guest did `what` (a fixed description), with `detail`.
pub fn report(what: &'static str, detail: &dyn std::fmt::Display) {
    let line = LIMITER.lock().unwrap_or_else(PoisonError::into_inner).count(what, Instant::now());
    if let Some((occurrences, suppressed)) = line {
        tracing::warn!(occurrences, suppressed, "guest fault: {what}: {detail}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A flood of one kind over 35 s: a line at 0, 10, 20 and 30 s, each
    /// after the first counting what it held back; another kind is not
    /// held back by the first (the old limiter logged 16 lines per 1000
    /// and then one per power of two, forever growing with the flood).
    #[test]
    fn one_line_per_kind_per_interval_with_the_suppressed_count() {
        let mut l = Limiter::default();
        let t0 = Instant::now();
        let mut lines = Vec::new();
        for ms in (0..35_000u64).step_by(10) {
            if let Some(line) = l.count("test: flood", t0 + Duration::from_millis(ms)) {
                lines.push((ms, line));
            }
        }
        assert_eq!(lines, vec![(0, (1, 0)), (10_000, (1001, 999)), (20_000, (2001, 999)), (30_000, (3001, 999))]);
        assert_eq!(l.count("test: other", t0 + Duration::from_millis(34_000)), Some((1, 0)));
    }
}
