//! The health-check flags of `create`/`run` (`--health-cmd`,
//! `--health-interval`, `--health-timeout`, `--health-retries`,
//! `--health-start-period`, `--health-start-interval`, `--no-healthcheck`)
//! and the `Healthcheck` they make, as the docker CLI builds it.
//!
//! Owns that translation only: durations are Go's (`docker_vocab::duration`),
//! what a check means is the engine's. Bad values are refused before
//! anything is sent.

use bollard::models::HealthConfig;
use clap::Args;
use docker_vocab::duration::GoDuration;

use crate::cli::error::CliError;

#[derive(Args, Debug, Clone, Default)]
pub struct HealthFlags {
    /// Command to run to check health (run by the container's shell).
    #[arg(long = "health-cmd")]
    pub cmd: Option<String>,
    /// Time between running the check (ms|s|m|h) (default 0s).
    #[arg(long = "health-interval", value_parser = duration)]
    pub interval: Option<GoDuration>,
    /// Maximum time to allow one check to run (ms|s|m|h) (default 0s).
    #[arg(long = "health-timeout", value_parser = duration)]
    pub timeout: Option<GoDuration>,
    /// Consecutive failures needed to report unhealthy.
    #[arg(long = "health-retries", allow_hyphen_values = true)]
    pub retries: Option<i64>,
    /// Start period for the container to initialize before starting
    /// health-retries countdown (ms|s|m|h) (default 0s).
    #[arg(long = "health-start-period", value_parser = duration)]
    pub start_period: Option<GoDuration>,
    /// Time between running the check during the start period (ms|s|m|h)
    /// (default 0s).
    #[arg(long = "health-start-interval", value_parser = duration)]
    pub start_interval: Option<GoDuration>,
    /// Disable any container-specified HEALTHCHECK.
    #[arg(long = "no-healthcheck")]
    pub no_healthcheck: bool,
}

fn duration(s: &str) -> Result<GoDuration, String> {
    GoDuration::parse(s).map_err(|e| e.to_string())
}

impl HealthFlags {
    /// The create's `Healthcheck`: none without health flags (the image's
    /// check applies), `["NONE"]` for `--no-healthcheck`, else the flags
    /// (zeros left for the engine's defaults, `--health-cmd` as
    /// `CMD-SHELL`).
    pub fn config(&self) -> Result<Option<HealthConfig>, CliError> {
        let nanos = |d: Option<GoDuration>| d.map_or(0, GoDuration::nanos);
        let retries = self.retries.unwrap_or(0);
        let durations = [
            ("--health-interval", nanos(self.interval)),
            ("--health-timeout", nanos(self.timeout)),
            ("--health-start-period", nanos(self.start_period)),
            ("--health-start-interval", nanos(self.start_interval)),
        ];
        let cmd = self.cmd.as_deref().filter(|c| !c.is_empty());
        let any = cmd.is_some() || retries != 0 || durations.iter().any(|(_, v)| *v != 0);
        if self.no_healthcheck {
            if any {
                return Err(CliError::Usage("--no-healthcheck conflicts with --health-* options".into()));
            }
            return Ok(Some(HealthConfig { test: Some(vec!["NONE".into()]), ..Default::default() }));
        }
        if !any {
            return Ok(None);
        }
        for (flag, v) in durations {
            if v < 0 {
                return Err(CliError::Usage(format!("{flag} cannot be negative")));
            }
        }
        if retries < 0 {
            return Err(CliError::Usage("--health-retries cannot be negative".into()));
        }
        Ok(Some(HealthConfig {
            test: cmd.map(|c| vec!["CMD-SHELL".into(), c.into()]),
            interval: Some(durations[0].1),
            timeout: Some(durations[1].1),
            start_period: Some(durations[2].1),
            start_interval: Some(durations[3].1),
            retries: Some(retries),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Option<GoDuration> {
        Some(GoDuration::parse(s).unwrap())
    }

    #[test]
    fn no_flags_leave_the_images_check() {
        assert_eq!(HealthFlags::default().config().unwrap(), None);
    }

    #[test]
    fn flags_become_a_shell_check_in_nanoseconds() {
        let f = HealthFlags {
            cmd: Some("wget -q localhost".into()),
            interval: d("1s"),
            timeout: d("500ms"),
            retries: Some(2),
            start_period: d("1m"),
            start_interval: d("2s"),
            no_healthcheck: false,
        };
        let h = f.config().unwrap().unwrap();
        assert_eq!(h.test.unwrap(), ["CMD-SHELL", "wget -q localhost"]);
        assert_eq!(h.interval, Some(1_000_000_000));
        assert_eq!(h.timeout, Some(500_000_000));
        assert_eq!(h.start_period, Some(60_000_000_000));
        assert_eq!(h.start_interval, Some(2_000_000_000));
        assert_eq!(h.retries, Some(2));
        // Timings without a command keep the image's command.
        let h = HealthFlags { interval: d("5s"), ..Default::default() }.config().unwrap().unwrap();
        assert_eq!((h.test, h.interval), (None, Some(5_000_000_000)));
    }

    #[test]
    fn no_healthcheck_is_none_and_conflicts_with_the_others() {
        let h = HealthFlags { no_healthcheck: true, ..Default::default() }.config().unwrap().unwrap();
        assert_eq!(h.test.unwrap(), ["NONE"]);
        let both = HealthFlags { no_healthcheck: true, cmd: Some("true".into()), ..Default::default() };
        assert!(both.config().unwrap_err().to_string().contains("conflicts"));
    }

    #[test]
    fn negative_values_are_refused() {
        let e = HealthFlags { interval: d("-1s"), ..Default::default() }.config().unwrap_err();
        assert!(e.to_string().contains("--health-interval cannot be negative"), "{e}");
        let e = HealthFlags { retries: Some(-1), ..Default::default() }.config().unwrap_err();
        assert!(e.to_string().contains("--health-retries cannot be negative"), "{e}");
        assert!(duration("soon").is_err());
    }
}
