//! Docker's container lifecycle over the runtime's shims: create, start,
//! the exit monitor (die, `--rm`, restart policies with backoff) and wait.
//! Stopping is in `stopping.rs`, removal in `removal.rs`.
//!
//! Owns the order of side effects: the record is saved before an event is
//! published, waiters are woken after the record says so, a name is
//! released only once the container is gone. It must never hold a table or
//! record lock across an await.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bollard_stubs::models::{ContainerConfig, ContainerCreateBody, HostConfig, ImageConfig};

use super::clock;
use super::error::ContainerError;
use super::names;
use super::record::{self, ContainerRecord};
use super::registry::{Container, Containers, Life};
use super::restart::Policy;
use super::state::{State, Status};
use crate::runtime::{ContainerRequest, ContainerState, ExitInfo, Runtime, RuntimeError, Shim};
use crate::unpoisoned::lock;

/// `wait`'s `condition`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitCondition {
    NotRunning,
    NextExit,
    Removed,
}

impl WaitCondition {
    pub fn parse(s: Option<&str>) -> Result<WaitCondition, ContainerError> {
        match s.unwrap_or("") {
            "" | "not-running" => Ok(WaitCondition::NotRunning),
            "next-exit" => Ok(WaitCondition::NextExit),
            "removed" => Ok(WaitCondition::Removed),
            other => Err(ContainerError::Invalid(format!("invalid condition: \"{other}\""))),
        }
    }
}

/// A user-defined network (not the default bridge, `host`, `none` or
/// another container's): its containers resolve through the embedded DNS.
fn user_network(mode: Option<&str>) -> bool {
    !matches!(mode.unwrap_or_default(), "" | "default" | "bridge" | "host" | "none")
        && !mode.is_some_and(|m| m.starts_with("container:"))
}

fn system_time_string(t: SystemTime) -> String {
    clock::format(t.into())
}

/// Splits the create body into the container config and the host config.
fn split_body(body: ContainerCreateBody) -> Result<(ContainerConfig, HostConfig), ContainerError> {
    let host = body.host_config.clone().unwrap_or_default();
    let mut v = serde_json::to_value(&body).map_err(|e| ContainerError::Invalid(e.to_string()))?;
    if let serde_json::Value::Object(m) = &mut v {
        m.remove("HostConfig");
        m.remove("NetworkingConfig");
    }
    let cfg = serde_json::from_value(v).map_err(|e| ContainerError::Invalid(e.to_string()))?;
    Ok((cfg, host))
}

fn is_empty<T>(v: &Option<Vec<T>>) -> bool {
    v.as_ref().is_none_or(Vec::is_empty)
}

fn is_blank(v: &Option<String>) -> bool {
    v.as_ref().is_none_or(String::is_empty)
}

/// Docker's merge of the user's config with the image's: the image fills
/// what the user left out (Cmd only when the user gave no Entrypoint).
fn merge_config(mut cfg: ContainerConfig, image: &ImageConfig, env: Vec<String>, id: &str) -> ContainerConfig {
    if is_empty(&cfg.entrypoint) {
        if is_empty(&cfg.cmd) {
            cfg.cmd = image.cmd.clone();
        }
        cfg.entrypoint = image.entrypoint.clone();
    }
    cfg.env = Some(env);
    if is_blank(&cfg.working_dir) {
        cfg.working_dir = image.working_dir.clone();
    }
    if is_blank(&cfg.user) {
        cfg.user = image.user.clone();
    }
    if is_blank(&cfg.stop_signal) {
        cfg.stop_signal = image.stop_signal.clone();
    }
    if is_empty(&cfg.exposed_ports) {
        cfg.exposed_ports = image.exposed_ports.clone();
    }
    // Docker's merge: the image's volumes and the user's, together.
    if let Some(image_volumes) = image.volumes.as_ref().filter(|v| !v.is_empty()) {
        let mut all = image_volumes.clone();
        all.extend(cfg.volumes.take().unwrap_or_default());
        all.sort();
        all.dedup();
        cfg.volumes = Some(all);
    }
    cfg.healthcheck = super::health::merge(cfg.healthcheck.take(), image.healthcheck.as_ref());
    if is_empty(&cfg.shell) {
        cfg.shell = image.shell.clone();
    }
    let mut labels = image.labels.clone().unwrap_or_default();
    labels.extend(cfg.labels.take().unwrap_or_default());
    cfg.labels = Some(labels);
    if is_blank(&cfg.hostname) {
        cfg.hostname = Some(id[..12].to_string());
    }
    cfg.domainname.get_or_insert_with(String::new);
    cfg.attach_stdin.get_or_insert(false);
    cfg.attach_stdout.get_or_insert(false);
    cfg.attach_stderr.get_or_insert(false);
    cfg.tty.get_or_insert(false);
    cfg.open_stdin.get_or_insert(false);
    cfg.stdin_once.get_or_insert(false);
    cfg.working_dir.get_or_insert_with(String::new);
    cfg.user.get_or_insert_with(String::new);
    cfg.entrypoint.get_or_insert_with(Vec::new);
    cfg.on_build.get_or_insert_with(Vec::new);
    cfg
}

impl Containers {
    /// The image config (`config` of the image's config blob).
    /// What `docker diff` lists for the container (see `super::diff`).
    pub fn changes(&self, c: &Container) -> Result<Vec<super::diff::Change>, ContainerError> {
        let rec = c.record();
        let (_, layers) = self.image_config(&rec.image_id)?;
        let upper = super::record::dir(&self.root, &rec.id).join("rw").join("upper");
        Ok(super::diff::changes(&upper, &layers))
    }

    pub fn image_config(&self, image_id: &str) -> Result<(ImageConfig, Vec<std::path::PathBuf>), ContainerError> {
        let rec = self.images.resolve(image_id)?;
        let blob = self.images.read_blob(&rec.id)?;
        let v: serde_json::Value = serde_json::from_slice(&blob)
            .map_err(|e| ContainerError::Invalid(format!("image {image_id}: unreadable config: {e}")))?;
        let cfg = match v.get("config") {
            Some(c) if !c.is_null() => serde_json::from_value(c.clone())
                .map_err(|e| ContainerError::Invalid(format!("image {image_id}: unreadable config: {e}")))?,
            _ => ImageConfig::default(),
        };
        let mut layers = self.images.lower_dirs(&rec);
        layers.reverse(); // the runtime wants the lowest first
        Ok((cfg, layers))
    }

    /// `POST /containers/create`.
    pub async fn create(
        self: &Arc<Self>,
        name: Option<&str>,
        body: ContainerCreateBody,
        mounts: Vec<super::mounts::MountRecord>,
    ) -> Result<(String, Vec<String>), ContainerError> {
        let image_name =
            body.image.clone().filter(|s| !s.is_empty()).ok_or_else(|| {
                ContainerError::Invalid("config cannot be empty in order to create a container".into())
            })?;
        let image_rec = self.images.resolve(&image_name).map_err(|e| match e {
            crate::image::store::StoreError::NotFound(_) => ContainerError::NoSuchImage(normalized_ref(&image_name)),
            other => other.into(),
        })?;
        let (cfg, host) = split_body(body)?;
        let auto_remove = host.auto_remove.unwrap_or(false);
        Policy::validate(host.restart_policy.as_ref(), auto_remove).map_err(ContainerError::Invalid)?;
        let id = names::new_id().map_err(ContainerError::io("reading /dev/urandom"))?;
        let name = match name.filter(|n| !n.is_empty()) {
            Some(n) => {
                let n = names::bare(n);
                names::validate(n).map_err(ContainerError::Invalid)?;
                n.to_string()
            }
            None => names::generate(|n| self.name_taken(n)),
        };
        let image_id = image_rec.id.to_string();
        let (image_cfg, layers) = self.image_config(&image_id)?;
        let process = Runtime::resolve_process(&cfg, &image_cfg)?;
        let mut config = merge_config(cfg, &image_cfg, process.env.clone(), &id);
        config.image = Some(image_name.clone());
        let mut host = host;
        super::host_config::validate(&host).map_err(ContainerError::Invalid)?;
        super::health::validate(config.healthcheck.as_ref()).map_err(ContainerError::Invalid)?;
        super::host_config::resolve_namespace_modes(&mut host, |key| self.get(key).map(|c| c.id.clone()))?;
        super::host_config::fill_defaults(&mut host);
        let dir = record::dir(&self.root, &id);
        // Docker's LogPath is empty for a driver that writes no file.
        let log_path = match super::host_config::logs_to_file(&host) {
            true => dir.join(format!("{id}-json.log")),
            false => std::path::PathBuf::new(),
        };
        let rec = ContainerRecord {
            id: id.clone(),
            name,
            created: clock::now_string(),
            image: image_name,
            image_id,
            path: process.path.clone(),
            args: process.args.clone(),
            config,
            host_config: host,
            state: State::default(),
            restart_count: 0,
            manually_stopped: false,
            log_path,
            mounts,
        };
        let c = Container::new(rec.clone());
        self.insert(c.clone())?;
        let made = async {
            rec.save(&self.root)?;
            let shim = self.runtime.create(self.request(&rec, image_cfg, layers)).await?;
            *lock(&c.shim) = Some(shim);
            Ok::<_, ContainerError>(())
        }
        .await;
        if let Err(e) = made {
            self.remove_entry(&id);
            let _ = std::fs::remove_dir_all(&dir);
            let _ = self.runtime.cleanup(&id).await;
            return Err(e);
        }
        self.events.container("create", &id, rec.event_attributes());
        let mut warnings = Vec::new();
        if rec.host_config.memory.unwrap_or(0) > 0 && rec.host_config.memory_swap.unwrap_or(0) == 0 {
            // Docker warns only when swap limits are unsupported; nothing to say.
            warnings.clear();
        }
        Ok((id, warnings))
    }

    fn request(&self, rec: &ContainerRecord, image: ImageConfig, layers: Vec<std::path::PathBuf>) -> ContainerRequest {
        ContainerRequest {
            id: rec.id.clone(),
            name: rec.name.clone(),
            config: rec.config.clone(),
            host_config: super::host_config::with_host_gateway(
                rec.host_config.clone(),
                self.host_gateway.get().copied(),
            ),
            image,
            layers,
            log_path: super::host_config::logs_to_file(&rec.host_config).then(|| rec.log_path.clone()),
            rw_dir: Some(record::dir(&self.root, &rec.id).join("rw")),
            netns: self.netns_path(rec),
            embedded_dns: self.netns_dir.get().is_some() && user_network(rec.host_config.network_mode.as_deref()),
            own_addresses: self.addresses_of.get().map(|f| f(&rec.id)).unwrap_or_default(),
            mounts: rec.mounts.iter().map(super::mounts::MountRecord::runtime_mount).collect(),
        }
    }

    /// The network namespace file the container joins: its own, or the
    /// one of the container it shares (`container:<id>`); none with the
    /// host's network or when the engine does not configure networks.
    pub fn netns_path(&self, rec: &ContainerRecord) -> Option<std::path::PathBuf> {
        let dir = self.netns_dir.get()?;
        match rec.host_config.network_mode.as_deref().unwrap_or_default() {
            "host" => None,
            m => Some(dir.join(m.strip_prefix("container:").unwrap_or(&rec.id))),
        }
    }

    /// A fresh shim in the "created" state for a container that has run
    /// before (the old one holds the previous exit until deleted).
    pub(super) async fn fresh_shim(&self, c: &Container) -> Result<Shim, ContainerError> {
        let old = lock(&c.shim).take();
        match old {
            Some(s) => {
                if let Err(e) = s.delete().await {
                    tracing::debug!(id = %c.id, error = %e, "deleting the previous shim");
                    let _ = self.runtime.cleanup(&c.id).await;
                }
            }
            None => {
                let _ = self.runtime.cleanup(&c.id).await;
            }
        }
        let rec = c.record();
        let (image_cfg, layers) = self.image_config(&rec.image_id)?;
        let shim = self.runtime.create(self.request(&rec, image_cfg, layers)).await?;
        *lock(&c.shim) = Some(shim.clone());
        Ok(shim)
    }

    /// The shim to attach to before a start: an exited container gets a
    /// fresh one now, so `start -a` sees the output of the coming run.
    pub async fn shim_for_attach(&self, c: &Arc<Container>) -> Result<Shim, ContainerError> {
        let _op = c.op.lock().await;
        let status = lock(&c.rec).state.status;
        match (status, c.shim()) {
            (Status::Created | Status::Running | Status::Paused | Status::Restarting, Some(s)) => Ok(s),
            (Status::Exited | Status::Dead | Status::Created, _) => self.fresh_shim(c).await,
            (_, Some(s)) => Ok(s),
            (_, None) => Err(ContainerError::Conflict(format!("container {} has no running process", c.id))),
        }
    }

    /// The shim made at create wrote `/etc/hosts` before the container had
    /// addresses: its own lines are added before the first start.
    fn hosts_with_addresses(&self, c: &Container) {
        let Some(addresses_of) = self.addresses_of.get() else { return };
        let own = addresses_of(&c.id);
        if own.is_empty() {
            return;
        }
        let rec = c.record();
        let hc = super::host_config::with_host_gateway(rec.host_config.clone(), self.host_gateway.get().copied());
        if let Err(e) = self.runtime.rewrite_hosts(&c.id, &rec.config, &hc, &own) {
            tracing::warn!(id = %c.id, error = %e, "the container's own line in /etc/hosts");
        }
    }

    /// `POST /containers/{id}/start`.
    pub async fn start(self: &Arc<Self>, c: &Arc<Container>) -> Result<(), ContainerError> {
        let _op = c.op.lock().await;
        self.start_locked(c).await
    }

    pub(super) async fn start_locked(self: &Arc<Self>, c: &Arc<Container>) -> Result<(), ContainerError> {
        let status = lock(&c.rec).state.status;
        match status {
            Status::Running => return Err(ContainerError::NotModified),
            Status::Paused => {
                return Err(ContainerError::Conflict("cannot start a paused container, try unpause instead".into()));
            }
            Status::Removing | Status::Dead => {
                return Err(ContainerError::Conflict(
                    "container is marked for removal and cannot be started".to_string(),
                ));
            }
            _ => {}
        }
        // A shim that has not run yet is used as is: it may be the fresh one
        // `start -a` attached to a moment ago.
        let shim = match (status, c.shim()) {
            (Status::Created, Some(s)) => {
                self.hosts_with_addresses(c);
                s
            }
            (_, Some(s)) if matches!(s.state().await, Ok(ContainerState::Created)) => s,
            _ => match self.fresh_shim(c).await {
                Ok(s) => s,
                Err(e) => {
                    self.start_failed(c, &e).await?;
                    return Err(e);
                }
            },
        };
        let started = Instant::now();
        match shim.start().await {
            Ok(pid) => {
                self.apply_pending_limits(c);
                let rec = {
                    let mut r = lock(&c.rec);
                    let previous = r.state.health.take();
                    r.state = State {
                        status: Status::Running,
                        pid: i64::from(pid),
                        exit_code: 0,
                        error: String::new(),
                        oom_killed: false,
                        started_at: clock::now_string(),
                        finished_at: r.state.finished_at.clone(),
                        health: super::health::Health::on_run(&r.config, previous),
                    };
                    r.manually_stopped = false;
                    r.clone()
                };
                rec.save(&self.root)?;
                let mut run = 0;
                c.life.send_modify(|l| {
                    l.running = true;
                    l.exit_code = 0;
                    l.error = None;
                    l.starts += 1;
                    run = l.starts;
                });
                self.events.container("start", &c.id, rec.event_attributes());
                self.start_health_monitor(c);
                self.spawn_monitor(c.clone(), shim, started, run);
                Ok(())
            }
            Err(RuntimeError::Exec { code, message }) => {
                let now = SystemTime::now();
                let info = ExitInfo {
                    code,
                    oom_killed: false,
                    error: Some(message.clone()),
                    started_at: None,
                    finished_at: now,
                };
                self.record_exit(c, &info, false)?;
                // Docker removes an `--rm` container whose start failed.
                if lock(&c.rec).host_config.auto_remove.unwrap_or(false) {
                    self.remove_locked(c).await?;
                }
                Err(ContainerError::CannotExec { code: i64::from(code), message })
            }
            Err(e) => {
                let e = ContainerError::from(e);
                self.start_failed(c, &e).await?;
                Err(e)
            }
        }
    }

    /// Any other failure to start: Docker records exit code 128 with the
    /// error, and an `--rm` container goes away (its client waits for the
    /// removal and would otherwise hang).
    async fn start_failed(self: &Arc<Self>, c: &Arc<Container>, e: &ContainerError) -> Result<(), ContainerError> {
        let info = ExitInfo {
            code: 128,
            oom_killed: false,
            error: Some(e.to_string()),
            started_at: None,
            finished_at: SystemTime::now(),
        };
        self.record_exit(c, &info, false)?;
        if lock(&c.rec).host_config.auto_remove.unwrap_or(false) {
            self.remove_locked(c).await?;
        }
        Ok(())
    }

    /// Saves an exit in the record, wakes waiters, publishes `oom`/`die`.
    /// `restarting`: the restart policy will start it again, so the exit is
    /// recorded as `restarting` (moby's SetRestarting) before any waiter
    /// wakes: a `wait` then `rm` without force is refused, as Docker's.
    pub(super) fn record_exit(&self, c: &Container, info: &ExitInfo, restarting: bool) -> Result<(), ContainerError> {
        self.stop_health_monitor(c);
        let rec = {
            let mut r = lock(&c.rec);
            r.state.status = if restarting { Status::Restarting } else { Status::Exited };
            r.state.pid = 0;
            r.state.exit_code = i64::from(info.code);
            r.state.oom_killed = info.oom_killed;
            r.state.error = info.error.clone().unwrap_or_default();
            r.state.finished_at = system_time_string(info.finished_at);
            r.clone()
        };
        rec.save(&self.root)?;
        c.life.send_modify(|l| {
            l.exits += 1;
            l.running = false;
            l.exit_code = i64::from(info.code);
            l.error = info.error.clone();
        });
        if info.oom_killed {
            self.events.container("oom", &c.id, rec.event_attributes());
        }
        let mut attrs = rec.event_attributes();
        attrs.insert("exitCode".into(), info.code.to_string());
        self.events.container("die", &c.id, attrs);
        Ok(())
    }

    /// Waits for the run that just started to end, then applies `--rm` or
    /// the restart policy.
    /// `run` is the container's start count for this run: an exit handled
    /// after a newer start (a user's restart) changes nothing.
    pub(super) fn spawn_monitor(self: &Arc<Self>, c: Arc<Container>, shim: Shim, started: Instant, run: u64) {
        let this = self.clone();
        tokio::spawn(async move {
            let info = match shim.wait_exit().await {
                Ok(info) => info,
                Err(e) => {
                    // The shim is gone (killed, crashed): what it recorded
                    // on disk, or an unknown exit.
                    tracing::warn!(id = %c.id, error = %e, "lost the container's shim");
                    this.runtime.recorded_exit(&c.id).unwrap_or(ExitInfo {
                        code: 255,
                        oom_killed: false,
                        error: Some(format!("container shim lost: {e}")),
                        started_at: None,
                        finished_at: SystemTime::now(),
                    })
                }
            };
            this.after_exit(&c, &info, started.elapsed(), run).await;
        });
    }

    pub(super) async fn after_exit(self: &Arc<Self>, c: &Arc<Container>, info: &ExitInfo, ran: Duration, run: u64) {
        let current = |c: &Container| {
            let l = c.life.borrow();
            !l.removed && l.starts == run
        };
        if !current(c) {
            return;
        }
        let will_restart = |rec: &ContainerRecord| {
            !rec.host_config.auto_remove.unwrap_or(false)
                && !super::shutdown::powering_off()
                && Policy::from_host_config(rec.host_config.restart_policy.as_ref()).should_restart(
                    i64::from(info.code),
                    rec.manually_stopped,
                    rec.restart_count,
                )
        };
        if let Err(e) = self.record_exit(c, info, will_restart(&c.record())) {
            tracing::error!(id = %c.id, error = %e, "recording a container's exit");
        }
        let _op = c.op.lock().await;
        if !current(c) {
            return;
        }
        let rec = c.record();
        if rec.host_config.auto_remove.unwrap_or(false) {
            if let Err(e) = self.remove_locked(c).await {
                tracing::error!(id = %c.id, error = %e, "removing an --rm container");
            }
            return;
        }
        if !will_restart(&rec) {
            // A stop (or power-off) between the exit and here called the
            // restart off.
            if rec.state.status == Status::Restarting
                && let Err(e) = self.set_status(c, Status::Exited)
            {
                tracing::error!(id = %c.id, error = %e, "recording a container's exit");
            }
            return;
        }
        let delay = lock(&c.backoff).delay_after(ran);
        {
            let mut r = lock(&c.rec);
            r.state.status = Status::Restarting;
        }
        c.life.send_modify(|l| l.running = true);
        drop(_op);
        tracing::info!(id = %c.id, ?delay, "restarting per policy");
        let this = self.clone();
        let c = c.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let _op = c.op.lock().await;
            // Stopped or removed while waiting: the restart is off.
            if c.life.borrow().removed || lock(&c.rec).state.status != Status::Restarting {
                return;
            }
            {
                let mut r = lock(&c.rec);
                // The status stays `restarting` until the run has begun, so
                // no reader sees the new count beside an exit of code 0.
                r.restart_count += 1;
            }
            if let Err(e) = this.start_locked(&c).await {
                tracing::warn!(id = %c.id, error = %e, "restart per policy failed");
                c.life.send_modify(|l| l.running = false);
            } else {
                let rec = c.record();
                this.events.container("restart", &c.id, rec.event_attributes());
            }
        });
    }
}

/// `busybox` → `busybox:latest`, as Docker's "No such image" names it.
fn normalized_ref(s: &str) -> String {
    crate::image::reference::ImageRef::parse(s).map_or_else(|_| s.to_string(), |r| r.familiar_string())
}

/// Docker fills these in every HostConfig it returns; clients index them.
impl Container {
    /// `POST /containers/{id}/wait?condition=`: resolves with the exit code
    /// (and error) once the condition holds. `life` must be subscribed
    /// when the request arrives, so an exit in between is not missed.
    pub async fn wait(mut life: tokio::sync::watch::Receiver<Life>, cond: WaitCondition) -> Life {
        let start = life.borrow_and_update().clone();
        // An exit counts even when a restart policy has set `running` again
        // before this waiter looked: the watch keeps only the latest value.
        let done = |l: &Life| match cond {
            WaitCondition::NotRunning => !l.running || l.removed || l.exits > start.exits,
            WaitCondition::NextExit => l.exits > start.exits || l.removed,
            WaitCondition::Removed => l.removed,
        };
        match life.wait_for(done).await {
            Ok(l) => l.clone(),
            // The container and its sender are gone: it was removed.
            Err(_) => Life { removed: true, ..start },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_fills_what_the_user_left_out() {
        let image = ImageConfig {
            cmd: Some(vec!["sh".into()]),
            entrypoint: None,
            working_dir: Some("/srv".into()),
            labels: Some([("a".to_string(), "image".to_string()), ("b".to_string(), "image".to_string())].into()),
            stop_signal: Some("SIGQUIT".into()),
            ..Default::default()
        };
        let user =
            ContainerConfig { labels: Some([("b".to_string(), "user".to_string())].into()), ..Default::default() };
        let id = "0123456789abcdef";
        let m = merge_config(user, &image, vec!["PATH=/bin".into()], id);
        assert_eq!(m.cmd, Some(vec!["sh".to_string()]));
        assert_eq!(m.working_dir.as_deref(), Some("/srv"));
        assert_eq!(m.hostname.as_deref(), Some("0123456789ab"));
        assert_eq!(m.stop_signal.as_deref(), Some("SIGQUIT"));
        let labels = m.labels.unwrap();
        assert_eq!((labels["a"].as_str(), labels["b"].as_str()), ("image", "user"));
        // A user entrypoint drops the image's Cmd, as in Docker.
        let user = ContainerConfig { entrypoint: Some(vec!["/bin/echo".into()]), ..Default::default() };
        let m = merge_config(user, &image, vec![], id);
        assert_eq!(m.cmd, None);
        assert_eq!(m.entrypoint, Some(vec!["/bin/echo".to_string()]));
    }

    #[test]
    fn create_body_splits_into_config_and_host_config() {
        let body: ContainerCreateBody = serde_json::from_value(serde_json::json!({
            "Image": "busybox", "Cmd": ["true"], "Tty": true,
            "HostConfig": {"AutoRemove": true, "Memory": 1048576},
            "NetworkingConfig": {"EndpointsConfig": {}}
        }))
        .unwrap();
        let (cfg, host) = split_body(body).unwrap();
        assert_eq!(cfg.cmd, Some(vec!["true".to_string()]));
        assert_eq!(cfg.tty, Some(true));
        assert_eq!(host.auto_remove, Some(true));
        assert_eq!(host.memory, Some(1048576));
    }

    #[test]
    fn refs_are_normalized_for_not_found() {
        assert_eq!(normalized_ref("busybox"), "busybox:latest");
        assert_eq!(normalized_ref("localhost:5000/busybox"), "localhost:5000/busybox:latest");
        assert_eq!(normalized_ref("busybox:1"), "busybox:1");
        assert_eq!(normalized_ref("x@sha256:00"), "x@sha256:00", "not a reference: as given");
        assert_eq!(normalized_ref("docker.io/library/busybox"), "busybox:latest");
    }

    #[tokio::test]
    async fn wait_conditions() {
        let (tx, _) = tokio::sync::watch::channel(Life { running: true, ..Default::default() });
        let not_running = tokio::spawn(Container::wait(tx.subscribe(), WaitCondition::NotRunning));
        let next = tokio::spawn(Container::wait(tx.subscribe(), WaitCondition::NextExit));
        let removed = tokio::spawn(Container::wait(tx.subscribe(), WaitCondition::Removed));
        tokio::task::yield_now().await;
        tx.send_modify(|l| {
            l.exits = 1;
            l.running = false;
            l.exit_code = 3;
        });
        assert_eq!(not_running.await.unwrap().exit_code, 3);
        assert_eq!(next.await.unwrap().exit_code, 3);
        assert!(!removed.is_finished());
        tx.send_modify(|l| l.removed = true);
        assert!(removed.await.unwrap().removed);
        // Not running already: at once.
        let l = Container::wait(tx.subscribe(), WaitCondition::NotRunning).await;
        assert_eq!(l.exit_code, 3);
        // An exit followed at once by a policy's restart (both before the
        // waiter runs) still ends a not-running wait.
        let (tx, _) = tokio::sync::watch::channel(Life { running: true, ..Default::default() });
        let restarted = tokio::spawn(Container::wait(tx.subscribe(), WaitCondition::NotRunning));
        tokio::task::yield_now().await;
        tx.send_modify(|l| {
            l.exits = 1;
            l.exit_code = 4;
        });
        assert_eq!(restarted.await.unwrap().exit_code, 4, "running stayed true: the exit count tells");
    }
}
