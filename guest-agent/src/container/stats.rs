//! A container's resource usage as Docker's stats model: one sample, one
//! with the sample a second before it as `precpu_stats` (what `docker
//! stats --no-stream` shows), or a stream of samples a second apart.
//!
//! Owns turning the runtime's cgroup numbers into Docker's model
//! (cpu_stats vs precpu_stats, memory_stats with `stats.inactive_file`,
//! pids, blkio); it must never read a cgroup itself (the shim does), nor
//! encode the model for the wire.

use std::collections::HashMap;
use std::time::Duration;

use bollard_stubs::models::{
    ContainerBlkioStatEntry, ContainerBlkioStats, ContainerCpuStats, ContainerCpuUsage, ContainerMemoryStats,
    ContainerPidsStats, ContainerStatsResponse, ContainerStorageStats, ContainerThrottlingData,
};
use tokio::sync::mpsc;

use super::Container;
use super::clock;
use super::error::ContainerError;
use crate::runtime::CgroupStats;

/// What a stats request gets: one model, or models as they are sampled.
pub enum Stats {
    One(Box<ContainerStatsResponse>),
    Stream(mpsc::Receiver<ContainerStatsResponse>),
}

/// Samples `c`: zeroed stats once for a container that is not running (as
/// Docker), else one sample (`one_shot`), a pair a second apart (no
/// stream), or a stream that ends when the container stops or the receiver
/// goes.
pub async fn sample(c: &Container, stream: bool, one_shot: bool) -> Result<Stats, ContainerError> {
    let rec = c.record();
    let running = rec.state.status.is_running();
    let Some(shim) = c.shim().filter(|_| running) else {
        return Ok(Stats::One(Box::new(to_model(&rec.name, &rec.id, None, None))));
    };
    if !stream {
        let first = shim.stats().await?;
        if one_shot {
            return Ok(Stats::One(Box::new(to_model(&rec.name, &rec.id, Some(&first), None))));
        }
        // Like Docker's collector: the answer carries the previous sample
        // as precpu, a second earlier.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let cur = shim.stats().await?;
        return Ok(Stats::One(Box::new(to_model(&rec.name, &rec.id, Some(&cur), Some(&first)))));
    }
    let (tx, rx) = mpsc::channel(4);
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
            if tx.send(to_model(&rec.name, &rec.id, Some(&cur), prev.as_ref())).await.is_err() {
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
    Ok(Stats::Stream(rx))
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
