//! The engine's view of itself: `/info` (counts, limits, the host it runs
//! on), `/system/df` (what images, containers and volumes hold), the event
//! stream, and the shutdown request of a machine.
//!
//! Owns those answers; it must never speak HTTP, and the API's own facts
//! (versions, negotiation) stay in `crate::api`.

use bollard_stubs::models::{
    LocalNodeState, PluginsInfo, Runtime, SwarmInfo, SystemInfo, SystemInfoCgroupDriverEnum,
    SystemInfoCgroupVersionEnum,
};

use super::{Engine, EngineError, host};
use tokio::sync::broadcast::error::RecvError;

use crate::container::events::{Event, EventFilter};

/// The engine's version, as `/version` and `/info` report it.
pub const ENGINE_VERSION: &str = env!("CARGO_PKG_VERSION");

#[derive(Debug, Default, PartialEq)]
struct ContainerCounts {
    running: i64,
    paused: i64,
    stopped: i64,
}

/// Docker's three buckets: paused, running (restarting counts as
/// running), and everything else (created, exited, dead, removing) stopped.
fn container_counts(engine: &Engine) -> ContainerCounts {
    use crate::container::state::Status;
    let mut n = ContainerCounts::default();
    for c in engine.containers.all() {
        match c.record().state.status {
            Status::Paused => n.paused += 1,
            Status::Running | Status::Restarting => n.running += 1,
            _ => n.stopped += 1,
        }
    }
    n
}

impl Engine {
    /// `GET /system/df`: images (with how many containers use each),
    /// containers with their sizes, volumes with their `UsageData`; no
    /// build cache (the builder keeps none).
    pub fn system_df(&self) -> Result<bollard_stubs::models::SystemDataUsageResponse, EngineError> {
        let containers =
            self.list_containers(&super::containers::ListContainers { all: true, size: true, ..Default::default() })?;
        let mut images = self.list_images(&Default::default())?;
        for img in &mut images {
            let users = containers.iter().filter(|c| c.image_id.as_deref() == Some(img.id.as_str())).count();
            img.containers = i64::try_from(users).unwrap_or(i64::MAX);
        }
        let layers_size = images.iter().map(|i| i.size).sum();
        Ok(bollard_stubs::models::SystemDataUsageResponse {
            layers_size: Some(layers_size),
            images: Some(images),
            containers: Some(containers),
            volumes: Some(self.volumes_with_usage()),
            build_cache: Some(Vec::new()),
        })
    }

    /// `GET /info`.
    pub fn system_info(&self) -> SystemInfo {
        info_body(self)
    }

    /// `GET /events`: the kept events since `since`, then the live ones,
    /// those `filter` selects, until `until` passes or the receiver goes.
    pub fn events(
        &self,
        since: Option<chrono::DateTime<chrono::Utc>>,
        until: Option<chrono::DateTime<chrono::Utc>>,
        filter: EventFilter,
    ) -> tokio::sync::mpsc::Receiver<Event> {
        let (past, mut rx) = self.containers.events.subscribe(since);
        let (tx, out) = tokio::sync::mpsc::channel::<Event>(64);
        tokio::spawn(async move {
            for e in past.into_iter().filter(|e| filter.matches(e)) {
                if until.is_some_and(|u| e.time > u) || tx.send(e).await.is_err() {
                    return;
                }
            }
            loop {
                let deadline = until.map(|u| (u - chrono::Utc::now()).to_std().unwrap_or(std::time::Duration::ZERO));
                let next = async {
                    match deadline {
                        Some(d) => tokio::time::timeout(d, rx.recv()).await.ok(),
                        None => Some(rx.recv().await),
                    }
                };
                tokio::select! {
                    got = next => match got {
                        None => return, // until reached
                        Some(Ok(e)) => {
                            if filter.matches(&e) && tx.send(e).await.is_err() {
                                return;
                            }
                        }
                        Some(Err(RecvError::Lagged(n))) => tracing::warn!(missed = n, "an events client fell behind"),
                        Some(Err(RecvError::Closed)) => return,
                    },
                    () = tx.closed() => return,
                }
            }
        });
        out
    }

    /// `POST /berth/v1/shutdown`: the server drains and returns.
    pub fn request_shutdown(&self) {
        self.shutdown.send_replace(true);
    }

    /// Resolves once a shutdown has been requested.
    pub async fn shutdown_requested(&self) {
        let mut rx = self.shutdown.subscribe();
        let _ = rx.wait_for(|requested| *requested).await;
    }
}

fn info_body(engine: &Engine) -> SystemInfo {
    let cgroup_v2 = host::cgroup_version() == "2";
    let counts = container_counts(engine);
    SystemInfo {
        id: Some(engine.id.clone()),
        containers: Some(counts.running + counts.paused + counts.stopped),
        containers_running: Some(counts.running),
        containers_paused: Some(counts.paused),
        containers_stopped: Some(counts.stopped),
        images: Some(engine.images.list().len() as i64),
        driver: Some("overlay2".into()),
        driver_status: Some(vec![vec!["Backing Filesystem".into(), "extfs".into()]]),
        docker_root_dir: Some(engine.root.display().to_string()),
        plugins: Some(PluginsInfo {
            volume: Some(vec!["local".into()]),
            network: Some(vec!["bridge".into(), "host".into(), "null".into()]),
            authorization: Some(vec![]),
            log: Some(vec!["json-file".into()]),
        }),
        memory_limit: Some(true),
        swap_limit: Some(false),
        kernel_memory_tcp: Some(false),
        cpu_cfs_period: Some(true),
        cpu_cfs_quota: Some(true),
        cpu_shares: Some(true),
        cpu_set: Some(true),
        pids_limit: Some(true),
        oom_kill_disable: Some(false),
        ipv4_forwarding: Some(true),
        bridge_nf_iptables: Some(false),
        bridge_nf_ip6tables: Some(false),
        debug: Some(false),
        nfd: Some(open_fds()),
        n_goroutines: Some(0),
        system_time: Some(rfc3339_now()),
        logging_driver: Some("json-file".into()),
        cgroup_driver: Some(SystemInfoCgroupDriverEnum::CGROUPFS),
        cgroup_version: Some(if cgroup_v2 { SystemInfoCgroupVersionEnum::_2 } else { SystemInfoCgroupVersionEnum::_1 }),
        n_events_listener: Some(0),
        kernel_version: Some(host::kernel_version()),
        operating_system: Some(host::operating_system(engine.in_vm)),
        os_version: Some(String::new()),
        os_type: Some("linux".into()),
        architecture: Some(std::env::consts::ARCH.into()),
        ncpu: Some(host::cpus()),
        mem_total: Some(host::memory_bytes()),
        index_server_address: Some("https://index.docker.io/v1/".into()),
        registry_config: Some(engine.registries.service_config()),
        generic_resources: Some(vec![]),
        http_proxy: Some(String::new()),
        https_proxy: Some(String::new()),
        no_proxy: Some(String::new()),
        name: Some(host::hostname()),
        labels: Some(vec![]),
        experimental_build: Some(false),
        server_version: Some(ENGINE_VERSION.into()),
        // Every name a create may ask for runs the same runtime (berth's shim
        // over youki's libcontainer); `runc` is the default name clients
        // expect, as Docker reports it.
        runtimes: Some(
            crate::container::host_config::RUNTIMES
                .iter()
                .map(|name| (name.to_string(), Runtime { path: Some("berth-agent".into()), ..Default::default() }))
                .collect(),
        ),
        default_runtime: Some("runc".into()),
        swarm: Some(SwarmInfo {
            node_id: Some(String::new()),
            node_addr: Some(String::new()),
            local_node_state: Some(LocalNodeState::INACTIVE),
            control_available: Some(false),
            error: Some(String::new()),
            remote_managers: None,
            ..Default::default()
        }),
        live_restore_enabled: Some(true),
        init_binary: Some(String::new()),
        security_options: Some(vec!["name=seccomp,profile=builtin".into()]),
        product_license: Some(String::new()),
        warnings: Some(vec![]),
        ..Default::default()
    }
}

fn open_fds() -> i64 {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count() as i64)
}

/// Now as RFC 3339 in UTC, computed without a date crate.
fn rfc3339_now() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    rfc3339(secs)
}

pub fn rfc3339(unix_secs: u64) -> String {
    let t = chrono::DateTime::from_timestamp(i64::try_from(unix_secs).unwrap_or(i64::MAX), 0).unwrap_or_default();
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_795_435_200), "2026-11-23T12:00:00Z");
    }
}
