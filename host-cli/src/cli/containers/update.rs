//! `update`: new resource limits and restart policy for containers
//! (`POST /containers/{id}/update`); each name is printed on success, each
//! failure on stderr, exit code 1 if any failed (as docker does). Values
//! are checked here only as far as parsing goes: the engine says what it
//! refuses.

use bollard::models::ContainerUpdateBody;
use clap::Args;

use super::config::{parse_bytes, restart_policy};
use crate::cli::ctx::Ctx;
use crate::cli::error::CliError;

#[derive(Args, Debug, Default)]
pub struct UpdateArgs {
    /// Block IO (relative weight), between 10 and 1000, or 0 to disable.
    #[arg(long)]
    pub blkio_weight: Option<u16>,
    /// Limit CPU CFS (Completely Fair Scheduler) period.
    #[arg(long)]
    pub cpu_period: Option<i64>,
    /// Limit CPU CFS (Completely Fair Scheduler) quota.
    #[arg(long)]
    pub cpu_quota: Option<i64>,
    /// CPU shares (relative weight).
    #[arg(short = 'c', long)]
    pub cpu_shares: Option<i64>,
    /// Number of CPUs.
    #[arg(long)]
    pub cpus: Option<f64>,
    /// CPUs in which to allow execution (0-3, 0,1).
    #[arg(long)]
    pub cpuset_cpus: Option<String>,
    /// MEMs in which to allow execution (0-3, 0,1).
    #[arg(long)]
    pub cpuset_mems: Option<String>,
    /// Memory limit.
    #[arg(short = 'm', long)]
    pub memory: Option<String>,
    /// Memory soft limit.
    #[arg(long)]
    pub memory_reservation: Option<String>,
    /// Swap limit equal to memory plus swap: -1 to enable unlimited swap.
    #[arg(long, allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Tune container pids limit (set -1 for unlimited).
    #[arg(long, allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Restart policy to apply when a container exits.
    #[arg(long)]
    pub restart: Option<String>,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

impl UpdateArgs {
    /// The request body; what is not given stays as it is (zero/absent).
    pub fn body(&self) -> Result<ContainerUpdateBody, CliError> {
        let bytes = |v: &Option<String>| -> Result<Option<i64>, CliError> {
            v.as_deref().map(|s| if s == "-1" { Ok(-1) } else { parse_bytes(s) }).transpose()
        };
        Ok(ContainerUpdateBody {
            blkio_weight: self.blkio_weight,
            cpu_period: self.cpu_period,
            cpu_quota: self.cpu_quota,
            cpu_shares: self.cpu_shares,
            nano_cpus: match self.cpus {
                Some(c) if !(0.0..=1024.0).contains(&c) => {
                    return Err(CliError::Usage(format!("invalid --cpus {c}: the range is 0-1024")));
                }
                c => c.map(|c| (c * 1e9) as i64),
            },
            cpuset_cpus: self.cpuset_cpus.clone(),
            cpuset_mems: self.cpuset_mems.clone(),
            memory: bytes(&self.memory)?,
            memory_reservation: bytes(&self.memory_reservation)?,
            memory_swap: bytes(&self.memory_swap)?,
            pids_limit: self.pids_limit,
            restart_policy: self.restart.as_deref().map(restart_policy).transpose()?,
            ..Default::default()
        })
    }
}

pub async fn update(ctx: &Ctx, args: UpdateArgs) -> Result<u8, CliError> {
    let body = args.body()?;
    let mut failed = false;
    for c in &args.containers {
        match ctx.docker.update_container(c, body.clone()).await {
            Ok(()) => println!("{c}"),
            Err(e) => {
                eprintln!("{}", ctx.err(e));
                failed = true;
            }
        }
    }
    Ok(u8::from(failed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_become_the_update_body() {
        let a = UpdateArgs {
            memory: Some("64m".into()),
            memory_swap: Some("-1".into()),
            cpus: Some(0.5),
            restart: Some("on-failure:3".into()),
            containers: vec!["c".into()],
            ..Default::default()
        };
        let b = a.body().expect("body");
        assert_eq!((b.memory, b.memory_swap, b.nano_cpus), (Some(64 << 20), Some(-1), Some(500_000_000)));
        assert_eq!(b.restart_policy.and_then(|p| p.maximum_retry_count), Some(3));
        assert_eq!(b.cpu_shares, None, "what is not given is not sent");
        let bad = UpdateArgs { memory: Some("lots".into()), ..Default::default() };
        assert!(bad.body().is_err());
    }
}
