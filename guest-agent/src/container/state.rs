//! A container's lifecycle state, its legal transitions, and how Docker
//! shows it (`State` in inspect, `State`/`Status` columns in `ps`).
//!
//! Owns the state machine: created → running ⇄ paused, running → exited
//! (→ restarting → running), anything → removing → gone. It must never
//! act on a container: callers check a transition here, then do it.

use bollard_stubs::models::{ContainerState, ContainerStateStatusEnum};
use chrono::Utc;

use docker_vocab::units::human_duration;

use super::clock;
use super::health::Health;

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Created,
    Running,
    Paused,
    Restarting,
    Removing,
    Exited,
    Dead,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Restarting => "restarting",
            Status::Removing => "removing",
            Status::Exited => "exited",
            Status::Dead => "dead",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        Some(match s {
            "created" => Status::Created,
            "running" => Status::Running,
            "paused" => Status::Paused,
            "restarting" => Status::Restarting,
            "removing" => Status::Removing,
            "exited" => Status::Exited,
            "dead" => Status::Dead,
            _ => return None,
        })
    }

    /// Has a live process (what `docker ps` without `-a` lists).
    pub fn is_running(self) -> bool {
        matches!(self, Status::Running | Status::Paused | Status::Restarting)
    }

    fn model(self) -> ContainerStateStatusEnum {
        match self {
            Status::Created => ContainerStateStatusEnum::CREATED,
            Status::Running => ContainerStateStatusEnum::RUNNING,
            Status::Paused => ContainerStateStatusEnum::PAUSED,
            Status::Restarting => ContainerStateStatusEnum::RESTARTING,
            Status::Removing => ContainerStateStatusEnum::REMOVING,
            Status::Exited => ContainerStateStatusEnum::EXITED,
            Status::Dead => ContainerStateStatusEnum::DEAD,
        }
    }
}

/// The persisted part of a container's state.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct State {
    pub status: Status,
    pub pid: i64,
    pub exit_code: i64,
    pub error: String,
    pub oom_killed: bool,
    pub started_at: String,
    pub finished_at: String,
    /// Set from the first run with a health check on (records written
    /// before health checks existed have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<Health>,
}

impl Default for State {
    fn default() -> Self {
        State {
            status: Status::Created,
            pid: 0,
            exit_code: 0,
            error: String::new(),
            oom_killed: false,
            started_at: clock::ZERO.into(),
            finished_at: clock::ZERO.into(),
            health: None,
        }
    }
}

impl State {
    pub fn model(&self) -> ContainerState {
        ContainerState {
            status: Some(self.status.model()),
            running: Some(self.status.is_running() && self.status != Status::Restarting),
            paused: Some(self.status == Status::Paused),
            restarting: Some(self.status == Status::Restarting),
            oom_killed: Some(self.oom_killed),
            dead: Some(self.status == Status::Dead),
            pid: Some(self.pid),
            exit_code: Some(self.exit_code),
            error: Some(self.error.clone()),
            started_at: Some(self.started_at.clone()),
            finished_at: Some(self.finished_at.clone()),
            health: self.health.as_ref().map(Health::model),
        }
    }

    /// `docker ps`'s STATUS column: `Up 3 seconds`, `Up 1 minute
    /// (healthy)`, `Up 2 minutes (Paused)`, `Exited (0) 5 seconds ago`,
    /// `Restarting (1) 1 second ago`, `Created`.
    pub fn human(&self) -> String {
        let since = |t: &str| {
            let secs = clock::parse(t).map_or(0, |t| (Utc::now() - t).num_seconds().max(0));
            human_duration(secs)
        };
        match self.status {
            Status::Running => match &self.health {
                Some(h) => format!("Up {} ({})", since(&self.started_at), h.label()),
                None => format!("Up {}", since(&self.started_at)),
            },
            Status::Paused => format!("Up {} (Paused)", since(&self.started_at)),
            Status::Restarting => format!("Restarting ({}) {} ago", self.exit_code, since(&self.finished_at)),
            Status::Removing => "Removal In Progress".into(),
            Status::Dead => "Dead".into(),
            Status::Created => "Created".into(),
            Status::Exited if self.finished_at == clock::ZERO => "Created".into(),
            Status::Exited => format!("Exited ({}) {} ago", self.exit_code, since(&self.finished_at)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::health::HealthStatus;

    #[test]
    fn status_lines() {
        let mut s = State::default();
        assert_eq!(s.human(), "Created");
        s.status = Status::Running;
        s.started_at = clock::now_string();
        assert!(s.human().starts_with("Up "), "{}", s.human());
        // Docker's rounding of hours: 90 minutes up is "2 hours".
        s.started_at = clock::format(Utc::now() - chrono::TimeDelta::seconds(5400));
        assert_eq!(s.human(), "Up 2 hours");
        s.health = Some(Health { status: HealthStatus::Starting, failing_streak: 0, log: vec![] });
        assert_eq!(s.human(), "Up 2 hours (health: starting)");
        s.health.as_mut().unwrap().status = HealthStatus::Healthy;
        assert_eq!(s.human(), "Up 2 hours (healthy)");
        s.status = Status::Paused;
        assert!(s.human().ends_with("(Paused)"));
        s.status = Status::Exited;
        s.exit_code = 3;
        s.finished_at = clock::now_string();
        assert!(s.human().starts_with("Exited (3) "), "{}", s.human());
        assert!(s.human().ends_with(" ago"));
    }

    #[test]
    fn model_flags_follow_status() {
        let s = State { status: Status::Paused, ..Default::default() };
        let m = s.model();
        assert_eq!((m.running, m.paused, m.restarting), (Some(true), Some(true), Some(false)));
        assert_eq!(m.status, Some(ContainerStateStatusEnum::PAUSED));
        let s = State { status: Status::Restarting, ..Default::default() };
        assert_eq!(s.model().running, Some(false));
        assert_eq!(Status::parse("exited"), Some(Status::Exited));
        assert_eq!(Status::parse("gone"), None);
        for st in [Status::Created, Status::Running, Status::Exited, Status::Dead] {
            assert_eq!(Status::parse(st.as_str()), Some(st));
        }
    }
}
