//! `GET /containers/{id}/stats` (streamed every second, or one sample with
//! `stream=false`/`one-shot=true`) and `GET /containers/{id}/top`.
//!
//! Owns turning the runtime's cgroup numbers into Docker's stats model
//! (cpu_stats vs precpu_stats, memory_stats with `stats.inactive_file`,
//! pids, blkio) and the `ps`-style table; it must never read a cgroup
//! itself (the shim does).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bollard_stubs::models::{
    ContainerBlkioStatEntry, ContainerBlkioStats, ContainerCpuStats, ContainerCpuUsage, ContainerMemoryStats,
    ContainerPidsStats, ContainerStatsResponse, ContainerStorageStats, ContainerThrottlingData, ContainerTopResponse,
};

use super::error::{ApiError, json_response};
use super::request::{Q, flag, flag_or, lookup};
use crate::container::clock;
use crate::engine::Engine;
use crate::runtime::CgroupStats;

pub fn routes() -> Router<Arc<Engine>> {
    Router::new().route("/containers/{id}/stats", get(stats)).route("/containers/{id}/top", get(top))
}

fn cpu(s: Option<&CgroupStats>) -> ContainerCpuStats {
    let Some(s) = s else {
        return ContainerCpuStats {
            cpu_usage: Some(ContainerCpuUsage {
                total_usage: Some(0),
                percpu_usage: None,
                usage_in_kernelmode: Some(0),
                usage_in_usermode: Some(0),
            }),
            system_cpu_usage: None,
            online_cpus: None,
            throttling_data: Some(ContainerThrottlingData {
                periods: Some(0),
                throttled_periods: Some(0),
                throttled_time: Some(0),
            }),
        };
    };
    ContainerCpuStats {
        cpu_usage: Some(ContainerCpuUsage {
            total_usage: Some(s.cpu_total_ns),
            percpu_usage: if s.cpu_percpu_ns.is_empty() { None } else { Some(s.cpu_percpu_ns.clone()) },
            usage_in_kernelmode: Some(s.cpu_system_ns),
            usage_in_usermode: Some(s.cpu_user_ns),
        }),
        system_cpu_usage: Some(s.system_cpu_ns),
        online_cpus: Some(s.online_cpus),
        throttling_data: Some(ContainerThrottlingData {
            periods: Some(s.throttling_periods),
            throttled_periods: Some(s.throttled_periods),
            throttled_time: Some(s.throttled_time_ns),
        }),
    }
}

/// Docker's stats model from a sample and the one before it.
pub fn to_model(name: &str, id: &str, cur: Option<&CgroupStats>, prev: Option<&CgroupStats>) -> ContainerStatsResponse {
    let time = |s: Option<&CgroupStats>| {
        s.and_then(|s| s.read_at).map_or_else(|| clock::ZERO.to_string(), |t| clock::format(t.into()))
    };
    ContainerStatsResponse {
        name: Some(format!("/{name}")),
        id: Some(id.to_string()),
        read: Some(time(cur)),
        preread: Some(time(prev)),
        pids_stats: Some(ContainerPidsStats {
            current: cur.map(|s| s.pids_current),
            limit: cur.map(|s| s.pids_limit).filter(|l| *l > 0),
        }),
        blkio_stats: Some(ContainerBlkioStats {
            io_service_bytes_recursive: cur.map(|s| {
                s.blkio_service_bytes
                    .iter()
                    .map(|e| ContainerBlkioStatEntry {
                        major: Some(e.major),
                        minor: Some(e.minor),
                        op: Some(e.op.clone()),
                        value: Some(e.value),
                    })
                    .collect()
            }),
            io_serviced_recursive: None,
            io_queue_recursive: None,
            io_service_time_recursive: None,
            io_wait_time_recursive: None,
            io_merged_recursive: None,
            io_time_recursive: None,
            sectors_recursive: None,
        }),
        num_procs: Some(0),
        storage_stats: Some(ContainerStorageStats::default()),
        cpu_stats: Some(cpu(cur)),
        precpu_stats: Some(cpu(prev)),
        memory_stats: Some(match cur {
            Some(s) => ContainerMemoryStats {
                usage: Some(s.memory_usage),
                max_usage: Some(s.memory_max_usage).filter(|m| *m > 0),
                stats: Some(s.memory_stats.iter().map(|(k, v)| (k.clone(), *v)).collect::<HashMap<_, _>>()),
                failcnt: None,
                limit: Some(s.memory_limit),
                commitbytes: None,
                commitpeakbytes: None,
                privateworkingset: None,
            },
            None => ContainerMemoryStats::default(),
        }),
        networks: None,
    }
}

fn line(m: &ContainerStatsResponse) -> Bytes {
    let mut b = serde_json::to_vec(m).unwrap_or_default();
    b.push(b'\n');
    Bytes::from(b)
}

/// `GET /containers/{id}/stats?stream=&one-shot=`.
async fn stats(State(engine): State<Arc<Engine>>, Path(id): Path<String>, Query(q): Q) -> Result<Response, ApiError> {
    let c = lookup(&engine, &id)?;
    let stream = flag_or(&q, "stream", true);
    let one_shot = flag(&q, "one-shot");
    let rec = c.record();
    let running = rec.state.status.is_running();
    let shim = c.shim().filter(|_| running);
    let Some(shim) = shim else {
        // Not running: Docker sends zeroed stats once.
        let m = to_model(&rec.name, &rec.id, None, None);
        return Ok(json_response(StatusCode::OK, &m));
    };
    if !stream {
        let first = shim.stats().await.map_err(crate::container::error::ContainerError::from)?;
        if one_shot {
            return Ok(json_response(StatusCode::OK, &to_model(&rec.name, &rec.id, Some(&first), None)));
        }
        // Like Docker's collector: the answer carries the previous sample
        // as precpu, a second earlier.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let cur = shim.stats().await.map_err(crate::container::error::ContainerError::from)?;
        return Ok(json_response(StatusCode::OK, &to_model(&rec.name, &rec.id, Some(&cur), Some(&first))));
    }
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(4);
    let life = c.life();
    tokio::spawn(async move {
        let mut prev: Option<CgroupStats> = None;
        loop {
            let cur = match shim.stats().await {
                Ok(s) => s,
                Err(_) if !life.borrow().running => return,
                Err(e) => {
                    tracing::debug!(error = %e, "stats sample");
                    return;
                }
            };
            if tx.send(line(&to_model(&rec.name, &rec.id, Some(&cur), prev.as_ref()))).await.is_err() {
                return;
            }
            prev = Some(cur);
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                () = tx.closed() => return,
            }
            if !life.borrow().running {
                return;
            }
        }
    });
    let body = futures_util::StreamExt::map(super::channel_stream::tokio_stream_from(rx), Ok::<_, std::io::Error>);
    Ok((StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], Body::from_stream(body)).into_response())
}

/// `GET /containers/{id}/top?ps_args=`: the host's `ps` over the
/// container's processes (Docker's way), or the same `-ef` table built
/// from /proc where there is no `ps` (the micro-VM).
async fn top(State(engine): State<Arc<Engine>>, Path(id): Path<String>, Query(q): Q) -> Result<Response, ApiError> {
    let c = lookup(&engine, &id)?;
    let status = c.record().state.status;
    let shim = c
        .shim()
        .filter(|_| status.is_running())
        .ok_or_else(|| ApiError::new(StatusCode::CONFLICT, format!("Container {} is not running", c.id)))?;
    let pids: HashSet<i32> =
        shim.top().await.map_err(crate::container::error::ContainerError::from)?.into_iter().collect();
    let args = q.get("ps_args").map(String::as_str).filter(|s| !s.trim().is_empty()).unwrap_or("-ef").to_string();
    let resp = tokio::task::spawn_blocking(move || super::containers_top::table(&args, &pids))
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e))?;
    Ok(json_response(StatusCode::OK, &ContainerTopResponse { titles: Some(resp.0), processes: Some(resp.1) }))
}
