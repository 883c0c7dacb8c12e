//! Docker's health checks as rules: which check a container has (its own
//! `Healthcheck`, merged over the image's `HEALTHCHECK`), its timings with
//! Docker's defaults (interval 30s, timeout 30s, 3 retries, no start period,
//! start interval 5s), how a probe's result moves the state (starting →
//! healthy / unhealthy, the failing streak, the last five results) and how
//! Docker shows it (`State.Health`, `(healthy)` in `ps`, the `health`
//! filter).
//!
//! Owns those rules, the persisted `Health` state (a part of the record's
//! `State`) and the shape of a monitor's handle. It must never run
//! anything: probing is `health_monitor`'s.

use std::time::Duration;

use bollard_stubs::models::{
    ContainerConfig, Health as HealthModel, HealthConfig, HealthStatusEnum, HealthcheckResult,
};
use docker_vocab::duration::GoDuration;

pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
pub const DEFAULT_START_PERIOD: Duration = Duration::ZERO;
pub const DEFAULT_START_INTERVAL: Duration = Duration::from_secs(5);
pub const DEFAULT_RETRIES: i64 = 3;
/// How many results `State.Health.Log` keeps.
const MAX_LOG: usize = 5;
/// The longest probe output kept; more is cut and marked `...`.
pub const MAX_OUTPUT: usize = 4096;
/// Docker's `MinimumDuration` for every non-zero health-check duration.
const MINIMUM: GoDuration = GoDuration::from_nanos(1_000_000);

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    Starting,
    Healthy,
    Unhealthy,
}

impl HealthStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            HealthStatus::Starting => "starting",
            HealthStatus::Healthy => "healthy",
            HealthStatus::Unhealthy => "unhealthy",
        }
    }

    fn model(self) -> HealthStatusEnum {
        match self {
            HealthStatus::Starting => HealthStatusEnum::STARTING,
            HealthStatus::Healthy => HealthStatusEnum::HEALTHY,
            HealthStatus::Unhealthy => HealthStatusEnum::UNHEALTHY,
        }
    }
}

/// The handle of a container's running monitor (the task itself is
/// `health_monitor`'s): aborting it stops the probes, and its generation
/// tells its results from those of a monitor stopped before it.
pub struct HealthMonitor {
    pub(super) generation: u64,
    pub(super) task: tokio::task::AbortHandle,
}

/// The values the `health` filter of `GET /containers/json` takes; `none`
/// is a container without a health state.
pub const FILTER_VALUES: &[&str] = &["none", "starting", "healthy", "unhealthy"];

/// One probe's outcome, as `State.Health.Log` shows it. Exit code 0 is
/// healthy; anything else (-1 for a probe that could not run or timed out)
/// a failure.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ProbeResult {
    /// RFC 3339 with nanoseconds, as Docker writes times.
    pub start: String,
    pub end: String,
    pub exit_code: i64,
    pub output: String,
}

/// A container's health, from its first run with a check on.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Health {
    pub status: HealthStatus,
    pub failing_streak: i64,
    /// The latest results, oldest first.
    pub log: Vec<ProbeResult>,
}

impl Health {
    /// A run begins: starting again with no failures, the log kept — or,
    /// without a check, whatever there was (Docker leaves it alone).
    pub fn on_run(config: &ContainerConfig, previous: Option<Health>) -> Option<Health> {
        if Check::of(config).is_none() {
            return previous;
        }
        let log = previous.map(|h| h.log).unwrap_or_default();
        Some(Health { status: HealthStatus::Starting, failing_streak: 0, log })
    }

    /// Adds a result; returns the new status if it changed. A failure
    /// while still starting inside the start period does not count.
    pub fn record(&mut self, result: ProbeResult, retries: i64, in_start_period: bool) -> Option<HealthStatus> {
        let before = self.status;
        let healthy = result.exit_code == 0;
        self.log.push(result);
        if self.log.len() > MAX_LOG {
            self.log.remove(0);
        }
        if healthy {
            self.failing_streak = 0;
            self.status = HealthStatus::Healthy;
        } else if !(self.status == HealthStatus::Starting && in_start_period) {
            self.failing_streak += 1;
            if self.failing_streak >= retries {
                self.status = HealthStatus::Unhealthy;
            }
        }
        (self.status != before).then_some(self.status)
    }

    /// The monitor stopped (the container exited or was paused): Docker
    /// reports unhealthy from then on, until a probe says otherwise.
    pub fn monitor_stopped(&mut self) {
        self.status = HealthStatus::Unhealthy;
    }

    /// What `ps` puts in brackets after `Up …`.
    pub fn label(&self) -> &'static str {
        match self.status {
            HealthStatus::Starting => "health: starting",
            s => s.as_str(),
        }
    }

    pub fn model(&self) -> HealthModel {
        HealthModel {
            status: Some(self.status.model()),
            failing_streak: Some(self.failing_streak),
            log: Some(
                self.log
                    .iter()
                    .map(|r| HealthcheckResult {
                        start: Some(r.start.clone()),
                        end: Some(r.end.clone()),
                        exit_code: Some(r.exit_code),
                        output: Some(r.output.clone()),
                    })
                    .collect(),
            ),
        }
    }
}

/// The `health` filter's word for a container: `none` without a health
/// state.
pub fn filter_word(h: Option<&Health>) -> &'static str {
    h.map_or("none", |h| h.status.as_str())
}

/// A container's check with Docker's defaults in place of zeros.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Check {
    /// What the probe runs. Empty when the check names no command: each
    /// probe then fails, as in Docker.
    pub argv: Vec<String>,
    pub interval: Duration,
    pub timeout: Duration,
    pub start_period: Duration,
    pub start_interval: Duration,
    pub retries: i64,
}

fn or_default(ns: Option<i64>, default: Duration) -> Duration {
    match ns {
        Some(n) if n > 0 => Duration::from_nanos(n as u64),
        _ => default,
    }
}

impl Check {
    /// The container's check; None without one, with `["NONE"]`, or with
    /// a test type Docker does not know (it logs and ignores those).
    pub fn of(config: &ContainerConfig) -> Option<Check> {
        let h = config.healthcheck.as_ref()?;
        let test = h.test.as_deref().filter(|t| !t.is_empty())?;
        let argv = match test[0].as_str() {
            "CMD" => test[1..].to_vec(),
            "CMD-SHELL" if test.len() > 1 => {
                let shell = config.shell.clone().filter(|s| !s.is_empty());
                let mut argv = shell.unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into()]);
                argv.extend_from_slice(&test[1..]);
                argv
            }
            "CMD-SHELL" => Vec::new(),
            "NONE" => return None,
            other => {
                tracing::warn!(kind = other, "unknown healthcheck type (expected CMD or CMD-SHELL): ignored");
                return None;
            }
        };
        Some(Check {
            argv,
            interval: or_default(h.interval, DEFAULT_INTERVAL),
            timeout: or_default(h.timeout, DEFAULT_TIMEOUT),
            start_period: or_default(h.start_period, DEFAULT_START_PERIOD),
            start_interval: or_default(h.start_interval, DEFAULT_START_INTERVAL),
            retries: h.retries.filter(|r| *r > 0).unwrap_or(DEFAULT_RETRIES),
        })
    }

    /// Is `since_start` (from the run's start to a probe's start) inside
    /// the start period?
    pub fn in_start_period(&self, since_start: Duration) -> bool {
        since_start < self.start_period
    }

    /// How long to wait before the next probe: the start interval while
    /// still starting inside the start period, the interval otherwise.
    pub fn next_wait(&self, since_start: Duration, status: Option<HealthStatus>) -> Duration {
        if self.in_start_period(since_start) && status == Some(HealthStatus::Starting) {
            self.start_interval
        } else {
            self.interval
        }
    }
}

/// Docker's merge of a create's `Healthcheck` over the image's: the image's
/// check when the create has none, else the create's with the image's
/// values for what it left zero.
pub fn merge(user: Option<HealthConfig>, image: Option<&HealthConfig>) -> Option<HealthConfig> {
    let Some(image) = image else { return user };
    let Some(mut user) = user else { return Some(image.clone()) };
    if user.test.as_ref().is_none_or(Vec::is_empty) {
        user.test = image.test.clone();
    }
    let zero = |v: &Option<i64>| v.unwrap_or(0) == 0;
    if zero(&user.interval) {
        user.interval = image.interval;
    }
    if zero(&user.timeout) {
        user.timeout = image.timeout;
    }
    if zero(&user.start_period) {
        user.start_period = image.start_period;
    }
    if zero(&user.start_interval) {
        user.start_interval = image.start_interval;
    }
    if zero(&user.retries) {
        user.retries = image.retries;
    }
    Some(user)
}

/// Docker's checks of a create's `Healthcheck`, with its messages: every
/// duration zero (the default) or at least 1ms, retries not negative.
pub fn validate(h: Option<&HealthConfig>) -> Result<(), String> {
    let Some(h) = h else { return Ok(()) };
    for (name, v) in [
        ("Interval", h.interval),
        ("Timeout", h.timeout),
        ("StartPeriod", h.start_period),
        ("StartInterval", h.start_interval),
    ] {
        let v = v.unwrap_or(0);
        if v != 0 && v < MINIMUM.nanos() {
            return Err(format!("{name} in Healthcheck cannot be less than {MINIMUM}"));
        }
    }
    if h.retries.unwrap_or(0) < 0 {
        return Err("Retries in Healthcheck cannot be negative".into());
    }
    Ok(())
}

/// A probe's output as Docker keeps it: the first [`MAX_OUTPUT`] bytes,
/// `...` after them if there was more.
#[derive(Debug, Default)]
pub struct ProbeOutput {
    bytes: Vec<u8>,
    truncated: bool,
}

impl ProbeOutput {
    pub fn push(&mut self, data: &[u8]) {
        let keep = MAX_OUTPUT.saturating_sub(self.bytes.len()).min(data.len());
        self.bytes.extend_from_slice(&data[..keep]);
        self.truncated |= keep < data.len();
    }

    pub fn text(&self) -> String {
        let mut s = String::from_utf8_lossy(&self.bytes).into_owned();
        if self.truncated {
            s.push_str("...");
        }
        s
    }
}

/// The message of a probe that ran past its timeout, with what it said.
pub fn timeout_message(timeout: Duration, output: &str) -> String {
    let t = GoDuration::from_nanos(i64::try_from(timeout.as_nanos()).unwrap_or(i64::MAX));
    if output.is_empty() {
        format!("Health check exceeded timeout ({t})")
    } else {
        format!("Health check exceeded timeout ({t}): {output}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(test: &[&str]) -> ContainerConfig {
        ContainerConfig {
            healthcheck: Some(HealthConfig {
                test: Some(test.iter().map(|s| s.to_string()).collect()),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn result(code: i64) -> ProbeResult {
        ProbeResult { start: "s".into(), end: "e".into(), exit_code: code, output: format!("code {code}") }
    }

    #[test]
    fn checks_take_dockers_defaults() {
        let c = Check::of(&config(&["CMD", "true"])).unwrap();
        assert_eq!(c.argv, ["true"]);
        assert_eq!(
            (c.interval, c.timeout, c.start_period, c.start_interval, c.retries),
            (Duration::from_secs(30), Duration::from_secs(30), Duration::ZERO, Duration::from_secs(5), 3)
        );
        let c = Check::of(&config(&["CMD-SHELL", "echo hi"])).unwrap();
        assert_eq!(c.argv, ["/bin/sh", "-c", "echo hi"]);
        let mut cfg = config(&["CMD-SHELL", "x"]);
        cfg.shell = Some(vec!["/bin/ash".into(), "-ec".into()]);
        assert_eq!(Check::of(&cfg).unwrap().argv, ["/bin/ash", "-ec", "x"], "the container's SHELL");
        cfg.healthcheck.as_mut().unwrap().interval = Some(1_000_000_000);
        cfg.healthcheck.as_mut().unwrap().retries = Some(1);
        let c = Check::of(&cfg).unwrap();
        assert_eq!((c.interval, c.retries), (Duration::from_secs(1), 1));
    }

    #[test]
    fn none_unknown_and_missing_checks_are_no_check() {
        assert_eq!(Check::of(&ContainerConfig::default()), None);
        assert_eq!(Check::of(&config(&["NONE"])), None);
        assert_eq!(Check::of(&config(&[])), None);
        assert_eq!(Check::of(&config(&["HTTP", "/"])), None);
        // A check without a command is a check whose every probe fails.
        assert!(Check::of(&config(&["CMD"])).unwrap().argv.is_empty());
        assert!(Check::of(&config(&["CMD-SHELL"])).unwrap().argv.is_empty());
    }

    #[test]
    fn results_move_the_status() {
        let mut h = Health::on_run(&config(&["CMD", "true"]), None).unwrap();
        assert_eq!((h.status, h.label()), (HealthStatus::Starting, "health: starting"));
        assert_eq!(h.record(result(1), 2, false), None, "one failure of two allowed");
        assert_eq!(h.failing_streak, 1);
        assert_eq!(h.record(result(1), 2, false), Some(HealthStatus::Unhealthy));
        assert_eq!(h.record(result(0), 2, false), Some(HealthStatus::Healthy));
        assert_eq!((h.failing_streak, h.label()), (0, "healthy"));
        for _ in 0..5 {
            h.record(result(7), 2, false);
        }
        assert_eq!(h.log.len(), 5, "the last five");
        assert!(h.log.iter().all(|r| r.exit_code == 7));
        h.monitor_stopped();
        assert_eq!(h.label(), "unhealthy");
        // The next run starts over, keeping the log.
        let again = Health::on_run(&config(&["CMD", "true"]), Some(h.clone())).unwrap();
        assert_eq!((again.status, again.failing_streak, again.log.len()), (HealthStatus::Starting, 0, 5));
        // Without a check the old state stays as it was.
        assert_eq!(Health::on_run(&config(&["NONE"]), Some(h.clone())), Some(h));
        assert_eq!(Health::on_run(&ContainerConfig::default(), None), None);
    }

    #[test]
    fn failures_in_the_start_period_do_not_count() {
        let mut h = Health::on_run(&config(&["CMD", "true"]), None).unwrap();
        assert_eq!(h.record(result(1), 1, true), None);
        assert_eq!((h.status, h.failing_streak), (HealthStatus::Starting, 0));
        assert_eq!(h.record(result(0), 1, true), Some(HealthStatus::Healthy), "success counts at once");
        // Once healthy, the start period no longer shields failures.
        assert_eq!(h.record(result(1), 1, true), Some(HealthStatus::Unhealthy));
    }

    #[test]
    fn the_start_interval_applies_while_starting() {
        let mut cfg = config(&["CMD", "true"]);
        let hc = cfg.healthcheck.as_mut().unwrap();
        hc.start_period = Some(10_000_000_000);
        hc.start_interval = Some(1_000_000_000);
        hc.interval = Some(60_000_000_000);
        let c = Check::of(&cfg).unwrap();
        let starting = Some(HealthStatus::Starting);
        assert_eq!(c.next_wait(Duration::from_secs(2), starting), Duration::from_secs(1));
        assert_eq!(c.next_wait(Duration::from_secs(2), Some(HealthStatus::Healthy)), Duration::from_secs(60));
        assert_eq!(c.next_wait(Duration::from_secs(11), starting), Duration::from_secs(60));
    }

    #[test]
    fn the_model_is_dockers() {
        let mut h = Health::on_run(&config(&["CMD", "true"]), None).unwrap();
        h.record(result(0), 3, false);
        let v = serde_json::to_value(h.model()).unwrap();
        assert_eq!(v["Status"], "healthy");
        assert_eq!(v["FailingStreak"], 0);
        assert_eq!(v["Log"][0]["ExitCode"], 0);
        assert_eq!(v["Log"][0]["Output"], "code 0");
        assert_eq!(v["Log"][0]["Start"], "s");
        assert_eq!(filter_word(Some(&h)), "healthy");
        assert_eq!(filter_word(None), "none");
    }

    #[test]
    fn the_create_merges_over_the_image() {
        let image = HealthConfig {
            test: Some(vec!["CMD".into(), "check".into()]),
            interval: Some(5),
            retries: Some(9),
            ..Default::default()
        };
        assert_eq!(merge(None, Some(&image)), Some(image.clone()));
        assert_eq!(merge(None, None), None);
        let user = HealthConfig { interval: Some(7), ..Default::default() };
        let m = merge(Some(user), Some(&image)).unwrap();
        assert_eq!((m.test, m.interval, m.retries), (image.test.clone(), Some(7), Some(9)));
        let none = HealthConfig { test: Some(vec!["NONE".into()]), ..Default::default() };
        assert_eq!(merge(Some(none.clone()), Some(&image)).unwrap().test, none.test, "--no-healthcheck wins");
    }

    #[test]
    fn bad_timings_are_refused_with_dockers_words() {
        let hc = |f: fn(&mut HealthConfig)| {
            let mut h = HealthConfig::default();
            f(&mut h);
            validate(Some(&h))
        };
        assert_eq!(hc(|_| {}), Ok(()));
        assert_eq!(hc(|h| h.interval = Some(1_000_000)), Ok(()));
        assert_eq!(hc(|h| h.interval = Some(999)), Err("Interval in Healthcheck cannot be less than 1ms".into()));
        assert_eq!(hc(|h| h.timeout = Some(-1)), Err("Timeout in Healthcheck cannot be less than 1ms".into()));
        assert!(hc(|h| h.start_period = Some(5)).unwrap_err().starts_with("StartPeriod"));
        assert!(hc(|h| h.start_interval = Some(5)).unwrap_err().starts_with("StartInterval"));
        assert_eq!(hc(|h| h.retries = Some(-1)), Err("Retries in Healthcheck cannot be negative".into()));
        assert_eq!(validate(None), Ok(()));
    }

    #[test]
    fn output_is_capped_and_timeouts_say_so() {
        let mut o = ProbeOutput::default();
        o.push(b"ok\n");
        assert_eq!(o.text(), "ok\n");
        o.push(&[b'x'; MAX_OUTPUT]);
        assert_eq!(o.text().len(), MAX_OUTPUT + 3);
        assert!(o.text().ends_with("xxx..."));
        assert_eq!(timeout_message(Duration::from_secs(1), ""), "Health check exceeded timeout (1s)");
        assert_eq!(timeout_message(Duration::from_millis(1500), "slow"), "Health check exceeded timeout (1.5s): slow");
    }
}
