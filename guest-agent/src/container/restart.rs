//! Restart policies with Docker's semantics: `no`, `on-failure[:N]`,
//! `always`, `unless-stopped`, and the restart manager's backoff (100 ms,
//! doubled on each restart, at most a minute, back to 100 ms once a run
//! lasted 10 s).
//!
//! Owns the decision "restart this exit or not, and after how long"; it
//! must never start anything itself.

use std::time::Duration;

use bollard_stubs::models::{RestartPolicy, RestartPolicyNameEnum};

const FIRST_DELAY: Duration = Duration::from_millis(100);
const MAX_DELAY: Duration = Duration::from_secs(60);
/// A run at least this long resets the backoff.
const GOOD_RUN: Duration = Duration::from_secs(10);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    No,
    OnFailure { max_retries: i64 },
    Always,
    UnlessStopped,
}

impl Policy {
    pub fn from_host_config(p: Option<&RestartPolicy>) -> Policy {
        let Some(p) = p else { return Policy::No };
        match p.name {
            Some(RestartPolicyNameEnum::ALWAYS) => Policy::Always,
            Some(RestartPolicyNameEnum::UNLESS_STOPPED) => Policy::UnlessStopped,
            Some(RestartPolicyNameEnum::ON_FAILURE) => {
                Policy::OnFailure { max_retries: p.maximum_retry_count.unwrap_or(0).max(0) }
            }
            _ => Policy::No,
        }
    }

    /// Create-time checks Docker makes (`--rm` with a restart policy, a
    /// retry count on a policy that has none).
    pub fn validate(p: Option<&RestartPolicy>, auto_remove: bool) -> Result<(), String> {
        let policy = Policy::from_host_config(p);
        if let Some(n) = p.and_then(|p| p.maximum_retry_count) {
            if n < 0 {
                return Err("invalid restart policy: maximum retry count cannot be negative".into());
            }
            if n > 0 && !matches!(policy, Policy::OnFailure { .. }) {
                return Err(format!(
                    "invalid restart policy: maximum retry count can only be used with 'on-failure' (got {})",
                    p.and_then(|p| p.name).map_or(String::new(), |n| n.to_string())
                ));
            }
        }
        if auto_remove && policy != Policy::No {
            return Err("can't create 'AutoRemove' container with restart policy".into());
        }
        Ok(())
    }

    /// Whether an exit with `exit_code` is restarted. `manually_stopped`:
    /// the user stopped or killed it through the API; `restart_count`: how
    /// many restarts already happened.
    pub fn should_restart(self, exit_code: i64, manually_stopped: bool, restart_count: i64) -> bool {
        if manually_stopped {
            return false;
        }
        match self {
            Policy::No => false,
            Policy::Always | Policy::UnlessStopped => true,
            Policy::OnFailure { max_retries } => exit_code != 0 && (max_retries == 0 || restart_count < max_retries),
        }
    }

    /// Whether an engine starting up brings this container back.
    pub fn restart_on_engine_start(self, manually_stopped: bool) -> bool {
        match self {
            Policy::Always => true,
            Policy::UnlessStopped => !manually_stopped,
            _ => false,
        }
    }
}

/// The restart manager's delay, kept per container.
#[derive(Debug)]
pub struct Backoff {
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff { next: FIRST_DELAY }
    }
}

impl Backoff {
    /// The wait before the restart that follows a run of `ran`.
    pub fn delay_after(&mut self, ran: Duration) -> Duration {
        if ran >= GOOD_RUN {
            self.next = FIRST_DELAY;
        }
        let d = self.next;
        self.next = (self.next * 2).min(MAX_DELAY);
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rp(name: RestartPolicyNameEnum, n: Option<i64>) -> RestartPolicy {
        RestartPolicy { name: Some(name), maximum_retry_count: n }
    }

    #[test]
    fn policies_decide_like_docker() {
        let on3 = Policy::from_host_config(Some(&rp(RestartPolicyNameEnum::ON_FAILURE, Some(3))));
        assert_eq!(on3, Policy::OnFailure { max_retries: 3 });
        assert!(on3.should_restart(1, false, 2));
        assert!(!on3.should_restart(1, false, 3), "retries used up");
        assert!(!on3.should_restart(0, false, 0), "success is not a failure");
        let on = Policy::OnFailure { max_retries: 0 };
        assert!(on.should_restart(1, false, 1000), "no maximum");
        assert!(Policy::Always.should_restart(0, false, 10));
        assert!(!Policy::Always.should_restart(0, true, 0), "stopped by the user");
        assert!(!Policy::No.should_restart(1, false, 0));
        assert_eq!(Policy::from_host_config(None), Policy::No);
        assert_eq!(Policy::from_host_config(Some(&rp(RestartPolicyNameEnum::EMPTY, None))), Policy::No);
    }

    #[test]
    fn engine_start_brings_back_always_and_unless_stopped() {
        assert!(Policy::Always.restart_on_engine_start(true));
        assert!(Policy::UnlessStopped.restart_on_engine_start(false));
        assert!(!Policy::UnlessStopped.restart_on_engine_start(true));
        assert!(!Policy::OnFailure { max_retries: 0 }.restart_on_engine_start(false));
        assert!(!Policy::No.restart_on_engine_start(false));
    }

    #[test]
    fn create_time_checks() {
        assert!(Policy::validate(Some(&rp(RestartPolicyNameEnum::ALWAYS, None)), true).is_err());
        assert!(Policy::validate(Some(&rp(RestartPolicyNameEnum::ALWAYS, Some(2))), false).is_err());
        assert!(Policy::validate(Some(&rp(RestartPolicyNameEnum::ON_FAILURE, Some(-1))), false).is_err());
        assert!(Policy::validate(Some(&rp(RestartPolicyNameEnum::ON_FAILURE, Some(2))), false).is_ok());
        assert!(Policy::validate(Some(&rp(RestartPolicyNameEnum::NO, None)), true).is_ok());
        assert!(Policy::validate(None, true).is_ok());
    }

    #[test]
    fn backoff_doubles_caps_and_resets() {
        let mut b = Backoff::default();
        let short = Duration::from_millis(10);
        assert_eq!(b.delay_after(short), Duration::from_millis(100));
        assert_eq!(b.delay_after(short), Duration::from_millis(200));
        assert_eq!(b.delay_after(short), Duration::from_millis(400));
        for _ in 0..20 {
            b.delay_after(short);
        }
        assert_eq!(b.delay_after(short), MAX_DELAY);
        assert_eq!(b.delay_after(Duration::from_secs(11)), Duration::from_millis(100));
    }
}
