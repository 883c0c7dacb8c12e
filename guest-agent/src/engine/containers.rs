//! Containers as the engine serves them: every container operation of the
//! API, with what it spans — the image a create resolves, the networks a
//! create joins (and leaves again if the create cannot finish), the network
//! a start needs, the endpoints a removal drops, the sizes and networks a
//! view shows.
//!
//! Owns those cross-resource steps and their order; Docker's container
//! semantics (state machine, names, restart policies) stay
//! `crate::container`'s. It must never speak HTTP: it takes typed requests
//! and returns Docker's models or domain streams.

use std::collections::HashMap;
use std::sync::Arc;

use bollard_stubs::models::{
    ContainerCreateBody, ContainerCreateResponse, ContainerInspectResponse, ContainerPruneResponse, ContainerSummary,
    ContainerTopResponse, ContainerUpdateBody, ContainerUpdateResponse, EventMessageTypeEnum,
};

use super::{Engine, EngineError};
use crate::container::attach_stream::{AttachStream, Framing};
use crate::container::diff::Change;
use crate::container::error::ContainerError;
use crate::container::filters::{self, Filters};
use crate::container::lifecycle::WaitCondition;
use crate::container::logs::{self, LogEntry, LogQuery};
use crate::container::record::ContainerRecord;
use crate::container::registry::Life;
use crate::container::{Container, stats};
use crate::runtime::{AttachIo, AttachStreams};

/// What `GET /containers/json` asks for.
#[derive(Debug, Default)]
pub struct ListContainers {
    pub all: bool,
    pub limit: Option<usize>,
    pub size: bool,
    pub filters: Filters,
}

/// What `POST /containers/{id}/attach` asks for.
#[derive(Debug, Default)]
pub struct AttachRequest<'a> {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    /// Replay the log so far first.
    pub logs: bool,
    /// Then stream live output (and stdin).
    pub stream: bool,
    /// `detachKeys`; empty is ctrl-p,ctrl-q.
    pub detach_keys: &'a str,
}

/// An attached container: its log so far (with `logs`), then its live
/// streams (with `stream`), raw for a TTY, multiplexed otherwise.
pub struct Attached {
    pub logs: Option<tokio::sync::mpsc::Receiver<LogEntry>>,
    pub io: Option<AttachStream<AttachIo>>,
    pub tty: bool,
}

/// A container's log as it is read: entries as they come, and whether the
/// container has a TTY (no framing).
pub struct LogStream {
    pub entries: tokio::sync::mpsc::Receiver<LogEntry>,
    pub tty: bool,
}

impl Engine {
    /// The container a request names, by id, id prefix or name.
    pub fn container(&self, key: &str) -> Result<Arc<Container>, EngineError> {
        Ok(self.containers.get(key)?)
    }

    /// `POST /containers/create`: the container, then its networks; if a
    /// network cannot be joined nothing half-made stays behind.
    #[tracing::instrument(skip_all, fields(name = name.unwrap_or_default(), image = body.image.as_deref().unwrap_or_default()))]
    pub async fn create_container(
        &self,
        name: Option<&str>,
        body: ContainerCreateBody,
    ) -> Result<ContainerCreateResponse, EngineError> {
        let joins = self.planned_joins(&body)?;
        let planned = self.plan_mounts(&body)?;
        let (id, warnings) = match self.containers.create(name, body, planned.mounts).await {
            Ok(made) => made,
            Err(e) => {
                self.drop_volumes(&planned.anonymous);
                return Err(e.into());
            }
        };
        let c = self.containers.get(&id)?;
        if let Err(e) = self.join_all(&c, joins) {
            self.forget_endpoints(&id);
            if let Err(e) = self.containers.remove(&c, &c.id, true).await {
                tracing::warn!(%id, error = %e, "removing a container whose networks could not be joined");
            }
            self.drop_volumes(&planned.anonymous);
            return Err(e);
        }
        Ok(ContainerCreateResponse { id, warnings })
    }

    /// `POST /containers/{id}/start`: its network must exist first.
    #[tracing::instrument(skip(self))]
    pub async fn start_container(&self, key: &str) -> Result<(), EngineError> {
        let c = self.container(key)?;
        self.ensure_joined(&c)?;
        self.mount_volumes_of(&c.record().mounts)?;
        self.plumb(&c).await?;
        self.publish(&c).await?;
        let started = self.containers.start(&c).await;
        if started.is_err() && !c.is_running() {
            self.unpublish(&c.id);
        }
        Ok(started?)
    }

    #[tracing::instrument(skip(self))]
    pub async fn stop_container(
        &self,
        key: &str,
        signal: Option<&str>,
        timeout: Option<i64>,
    ) -> Result<(), EngineError> {
        let c = self.container(key)?;
        Ok(self.containers.stop(&c, signal, timeout).await?)
    }

    #[tracing::instrument(skip(self))]
    pub async fn kill_container(&self, key: &str, signal: Option<&str>) -> Result<(), EngineError> {
        let c = self.container(key)?;
        Ok(self.containers.kill(&c, signal).await?)
    }

    /// `POST /containers/{id}/restart`: a container that was not running is
    /// simply started (204, never 304).
    #[tracing::instrument(skip(self))]
    pub async fn restart_container(
        &self,
        key: &str,
        signal: Option<&str>,
        timeout: Option<i64>,
    ) -> Result<(), EngineError> {
        let c = self.container(key)?;
        self.ensure_joined(&c)?;
        self.plumb(&c).await?;
        match self.containers.restart(&c, signal, timeout).await {
            Ok(()) | Err(ContainerError::NotModified) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    #[tracing::instrument(skip(self))]
    pub async fn pause_container(&self, key: &str) -> Result<(), EngineError> {
        let c = self.container(key)?;
        Ok(self.containers.pause(&c).await?)
    }

    #[tracing::instrument(skip(self))]
    pub async fn unpause_container(&self, key: &str) -> Result<(), EngineError> {
        let c = self.container(key)?;
        Ok(self.containers.unpause(&c).await?)
    }

    #[tracing::instrument(skip(self))]
    pub fn rename_container(&self, key: &str, name: &str) -> Result<(), EngineError> {
        if name.is_empty() {
            return Err(EngineError::invalid("Neither old nor new names may be empty"));
        }
        let c = self.container(key)?;
        Ok(self.containers.rename(&c, name)?)
    }

    /// `POST /containers/{id}/update` (`docker update`): limits and restart
    /// policy, live in a running container's cgroup and in its record.
    #[tracing::instrument(skip(self, body))]
    pub async fn update_container(
        &self,
        key: &str,
        body: ContainerUpdateBody,
    ) -> Result<ContainerUpdateResponse, EngineError> {
        let c = self.container(key)?;
        let warnings = self.containers.update(&c, body).await?;
        Ok(ContainerUpdateResponse { warnings: Some(warnings) })
    }

    /// `POST /containers/{id}/resize`: the TTY's size. A container without a
    /// TTY, or one that just exited, is no error (Docker answers 200; the CLI
    /// ignores errors here anyway).
    pub async fn resize_container_tty(&self, key: &str, height: i64, width: i64) -> Result<(), EngineError> {
        let (h, w) = terminal_size(height, width)?;
        let c = self.container(key)?;
        let shim = c.shim().ok_or_else(|| EngineError::conflict(format!("Container {key} is not running")))?;
        if let Err(e) = shim.resize(w, h).await {
            tracing::debug!(id = %c.id, error = %e, "resize");
        }
        Ok(())
    }

    /// `DELETE /containers/{id}?v=`: the container, then its endpoints,
    /// and with `v` its anonymous volumes no other container uses (named
    /// volumes stay, as Docker's).
    #[tracing::instrument(skip(self))]
    pub async fn remove_container(&self, key: &str, force: bool, volumes: bool) -> Result<(), EngineError> {
        let c = self.container(key)?;
        let anonymous = if volumes { self.anonymous_volumes_of(&c.record()) } else { Vec::new() };
        self.containers.remove(&c, key, force).await?;
        self.forget_endpoints(&c.id);
        self.unplumb(&c.id).await;
        self.drop_volumes(&anonymous);
        Ok(())
    }

    /// `GET /containers/json`: newest first, as Docker lists them.
    pub fn list_containers(&self, q: &ListContainers) -> Result<Vec<ContainerSummary>, EngineError> {
        filters::validate_container_filters(&q.filters).map_err(EngineError::invalid)?;
        let ancestor = |v: &str, r: &ContainerRecord| {
            r.image == v || r.image_id == v || self.images.resolve(v).is_ok_and(|img| img.id.to_string() == r.image_id)
        };
        let created_of = |key: &str| self.containers.get(key).ok().map(|c| c.record().created);
        let in_network = |v: &str, r: &ContainerRecord| self.in_network(v, &r.id);
        let cx = filters::Context { ancestor_matches: &ancestor, created_of: &created_of, in_network: &in_network };
        // `-a`, a limit or a status filter shows stopped containers too.
        let all = q.all || q.limit.is_some() || q.filters.contains("status");
        let mut rows: Vec<ContainerSummary> = self
            .containers
            .all()
            .into_iter()
            .rev()
            .filter(|c| {
                let rec = c.record();
                (all || rec.state.status.is_running()) && filters::matches(&q.filters, &rec, &cx)
            })
            .map(|c| {
                let mut row = crate::container::inspect::summary(&c);
                if let Some(ports) = self.summary_ports(&c.id) {
                    row.ports = Some(ports);
                }
                if let Some(ns) = row.network_settings.as_mut() {
                    self.fill_container_networks(&c, &mut ns.networks);
                }
                if q.size {
                    let (rw, root_fs) = self.container_sizes(&c);
                    (row.size_rw, row.size_root_fs) = (Some(rw), Some(root_fs));
                }
                row
            })
            .collect();
        if let Some(n) = q.limit {
            rows.truncate(n);
        }
        Ok(rows)
    }

    /// `GET /containers/{id}/json`.
    pub fn container_view(&self, key: &str, size: bool) -> Result<ContainerInspectResponse, EngineError> {
        let c = self.container(key)?;
        let rootfs = c.shim().map(|s| s.rootfs().display().to_string());
        let mut model = crate::container::inspect::inspect(&c, rootfs);
        if size {
            let (rw, root_fs) = self.container_sizes(&c);
            (model.size_rw, model.size_root_fs) = (Some(rw), Some(root_fs));
        }
        if let Some(ns) = model.network_settings.as_mut() {
            self.fill_container_networks(&c, &mut ns.networks);
            self.fill_sandbox(&c, ns);
        }
        Ok(model)
    }

    /// `SizeRw` (the writable layer) and `SizeRootFs` (it plus the image's
    /// layers as distributed).
    fn container_sizes(&self, c: &Container) -> (i64, i64) {
        let rw = crate::container::size::writable_layer(&self.containers.root, &c.id);
        let image: u64 =
            self.images.resolve(&c.record().image_id).map(|img| img.layers.iter().map(|l| l.size).sum()).unwrap_or(0);
        (i64::try_from(rw).unwrap_or(i64::MAX), i64::try_from(rw.saturating_add(image)).unwrap_or(i64::MAX))
    }

    /// `GET /containers/{id}/changes` (`docker diff`).
    pub fn container_changes(&self, key: &str) -> Result<Vec<Change>, EngineError> {
        let c = self.container(key)?;
        Ok(self.containers.changes(&c)?)
    }

    /// `POST /containers/prune`: stopped containers that pass `until` and
    /// the label filters.
    #[tracing::instrument(skip_all)]
    pub async fn prune_containers(&self, f: &Filters) -> Result<ContainerPruneResponse, EngineError> {
        let until = filters::prune_until(f).map_err(EngineError::invalid)?;
        let keep = |r: &ContainerRecord| {
            let too_new = until.is_some_and(|u| crate::container::clock::parse(&r.created).is_some_and(|c| c >= u));
            too_new || !f.match_labels(&r.labels())
        };
        let (deleted, space) = self.containers.prune(keep).await;
        for id in &deleted {
            self.forget_endpoints(id);
            self.unplumb(id).await;
        }
        self.containers.events.publish(
            EventMessageTypeEnum::CONTAINER,
            "prune",
            "",
            HashMap::from([("reclaimed".to_string(), space.to_string())]),
        );
        Ok(ContainerPruneResponse { containers_deleted: Some(deleted), space_reclaimed: Some(space) })
    }

    /// `POST /containers/{id}/attach`: the log so far if asked, then the
    /// container's streams (its shim started first for a created container,
    /// so early output is kept). With a TTY and stdin, the detach keys end
    /// the attachment (a `detach` event) and the container runs on.
    pub async fn attach_container(&self, key: &str, req: AttachRequest<'_>) -> Result<Attached, EngineError> {
        let keys = docker_vocab::detach_keys::parse(req.detach_keys)
            .map_err(|_| EngineError::invalid(format!("Invalid detach keys ({}) provided", req.detach_keys)))?;
        let c = self.container(key)?;
        let rec = c.record();
        let tty = rec.config.tty.unwrap_or(false);
        let logs = req.logs.then(|| {
            let q = LogQuery {
                stdout: req.stdout,
                stderr: req.stderr,
                since: None,
                until: None,
                tail: None,
                follow: false,
            };
            logs::spawn_reader(rec.log_path.clone(), q, c.running_watch())
        });
        let mut io = None;
        if req.stream {
            let streams = AttachStreams { stdin: req.stdin, stdout: req.stdout, stderr: req.stderr };
            let shim = self.containers.shim_for_attach(&c).await?;
            let raw = shim.attach(streams).await.map_err(ContainerError::from)?;
            let mut s = AttachStream::new(raw, Framing::AsIs);
            if tty && req.stdin && rec.config.open_stdin.unwrap_or(false) {
                let (containers, id, attrs) = (self.containers.clone(), c.id.clone(), rec.event_attributes());
                s = s.with_detach_keys(&keys, move || containers.events.container("detach", &id, attrs));
            }
            io = Some(s);
        }
        self.containers.events.container("attach", &c.id, rec.event_attributes());
        Ok(Attached { logs, io, tty })
    }

    /// `POST /containers/{id}/wait`: resolves when the condition is met. The
    /// lookup happens now (a 404 is answered before any header goes out); the
    /// wait itself holds no reference to the container.
    pub fn wait_container(
        &self,
        key: &str,
        condition: Option<&str>,
    ) -> Result<impl std::future::Future<Output = Life> + Send + 'static, EngineError> {
        let c = self.container(key)?;
        let cond = WaitCondition::parse(condition)?;
        let life = c.life();
        Ok(Container::wait(life, cond))
    }

    /// `GET /containers/{id}/logs`.
    pub fn container_logs(&self, key: &str, q: LogQuery) -> Result<LogStream, EngineError> {
        if !q.stdout && !q.stderr {
            return Err(EngineError::invalid("Bad parameters: you must choose at least one stream"));
        }
        let c = self.container(key)?;
        let rec = c.record();
        crate::container::host_config::readable_logs(&rec.host_config)?;
        let tty = rec.config.tty.unwrap_or(false);
        Ok(LogStream { entries: logs::spawn_reader(rec.log_path.clone(), q, c.running_watch()), tty })
    }

    /// `GET /containers/{id}/stats`.
    pub async fn container_stats(&self, key: &str, stream: bool, one_shot: bool) -> Result<stats::Stats, EngineError> {
        let c = self.container(key)?;
        Ok(stats::sample(&c, stream, one_shot).await?)
    }

    /// `GET /containers/{id}/top?ps_args=`: the host's `ps` over the
    /// container's processes (Docker's way), or the same `-ef` table built
    /// from /proc where there is no `ps` (the micro-VM).
    pub async fn container_top(&self, key: &str, ps_args: Option<&str>) -> Result<ContainerTopResponse, EngineError> {
        let c = self.container(key)?;
        let status = c.record().state.status;
        let shim = c
            .shim()
            .filter(|_| status.is_running())
            .ok_or_else(|| EngineError::conflict(format!("Container {} is not running", c.id)))?;
        let pids = shim.top().await.map_err(ContainerError::from)?.into_iter().collect();
        let args = ps_args.filter(|s| !s.trim().is_empty()).unwrap_or("-ef").to_string();
        let (titles, processes) = tokio::task::spawn_blocking(move || crate::container::top::table(&args, &pids))
            .await
            .map_err(|e| ContainerError::Io { op: "ps".into(), source: std::io::Error::other(e) })?
            .map_err(|e| ContainerError::Io { op: "ps".into(), source: std::io::Error::other(e) })?;
        Ok(ContainerTopResponse { titles: Some(titles), processes: Some(processes) })
    }
}

impl Engine {
    /// A container's mounted root and full id, for `cp` and `export`: the
    /// live shim's, or a fresh shim's for a container whose shim is gone.
    pub async fn container_rootfs(&self, key: &str) -> Result<(std::path::PathBuf, String), EngineError> {
        let c = self.container(key)?;
        let shim = match c.shim() {
            Some(s) => s,
            None => self.containers.shim_for_attach(&c).await?,
        };
        Ok((shim.rootfs(), c.id.clone()))
    }
}

/// A terminal size from a request: each side fits a u16.
pub fn terminal_size(height: i64, width: i64) -> Result<(u16, u16), EngineError> {
    match (u16::try_from(height), u16::try_from(width)) {
        (Ok(h), Ok(w)) => Ok((h, w)),
        _ => Err(EngineError::invalid("invalid terminal size")),
    }
}
