//! `inspect` (containers, then images, as docker walks them), `top` and
//! `stats`.

use bollard::models::ContainerStatsResponse;
use bollard::query_parameters::{InspectContainerOptions, StatsOptions, TopOptions};
use clap::{Args, ValueEnum};
use futures_util::StreamExt;
use serde::Serialize;
use serde_json::{Value, json};

use crate::cli::ctx::Ctx;
use crate::cli::error::CliError;
use crate::cli::output::{self, Format, human_size};

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ObjectType {
    Container,
    Image,
}

#[derive(Args, Debug)]
pub struct InspectArgs {
    /// Format output using a Go-style template, or json.
    #[arg(short, long)]
    pub format: Option<String>,
    /// Only this type of object.
    #[arg(long = "type")]
    pub typ: Option<ObjectType>,
    /// Display total file sizes if the type is container.
    #[arg(short, long)]
    pub size: bool,
    #[arg(required = true)]
    pub names: Vec<String>,
}

#[derive(Args, Debug)]
pub struct TopArgs {
    pub container: String,
    /// ps options.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub ps_args: Vec<String>,
}

#[derive(Args, Debug)]
pub struct StatsArgs {
    /// Show all containers (default shows just running).
    #[arg(short, long)]
    pub all: bool,
    /// Disable streaming stats and only pull the first result.
    #[arg(long = "no-stream")]
    pub no_stream: bool,
    /// Do not truncate output.
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    #[arg(long)]
    pub format: Option<String>,
    pub containers: Vec<String>,
}

/// Docker prints inspect output with four-space indentation.
pub fn pretty(v: &impl Serialize) -> Result<String, CliError> {
    let mut buf = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
    v.serialize(&mut ser).map_err(|e| CliError::Client(e.to_string()))?;
    String::from_utf8(buf).map_err(|e| CliError::Client(e.to_string()))
}

async fn find(ctx: &Ctx, name: &str, typ: Option<ObjectType>, size: bool) -> Result<Value, CliError> {
    let to_value = |v: Result<Value, serde_json::Error>| v.map_err(|e| CliError::Client(e.to_string()));
    if !matches!(typ, Some(ObjectType::Image)) {
        match ctx.docker.inspect_container(name, Some(InspectContainerOptions { size })).await {
            Ok(c) => return to_value(serde_json::to_value(c)),
            Err(e) => {
                let e = ctx.err(e);
                if !e.is_not_found() {
                    return Err(e);
                }
            }
        }
    }
    if !matches!(typ, Some(ObjectType::Container)) {
        match ctx.docker.inspect_image(name).await {
            Ok(i) => return to_value(serde_json::to_value(i)),
            Err(e) => {
                let e = ctx.err(e);
                if !e.is_not_found() {
                    return Err(e);
                }
            }
        }
    }
    Err(CliError::Client(format!("Error: No such object: {name}")))
}

pub async fn inspect(ctx: &Ctx, args: InspectArgs) -> Result<u8, CliError> {
    let mut found = Vec::new();
    let mut failed = false;
    for n in &args.names {
        match find(ctx, n, args.typ, args.size).await {
            Ok(v) => found.push(v),
            Err(e) => {
                eprintln!("{e}");
                failed = true;
            }
        }
    }
    match Format::parse(args.format.as_deref()) {
        Format::Table => println!("{}", pretty(&found)?),
        Format::Json => {
            for v in &found {
                println!("{v}");
            }
        }
        Format::Template { template, .. } => {
            for v in &found {
                println!("{}", output::render(&template, v)?);
            }
        }
    }
    Ok(u8::from(failed))
}

pub async fn top(ctx: &Ctx, args: TopArgs) -> Result<u8, CliError> {
    let opts = TopOptions { ps_args: if args.ps_args.is_empty() { "-ef".into() } else { args.ps_args.join(" ") } };
    let top = ctx.docker.top_processes(&args.container, Some(opts)).await.map_err(|e| ctx.err(e))?;
    let mut lines = vec![top.titles.unwrap_or_default()];
    lines.extend(top.processes.unwrap_or_default());
    print!("{}", output::tabulate(&lines));
    Ok(0)
}

/// Docker's stats row from one sample (CPU % from the two readings in it;
/// memory shown = usage − inactive_file).
pub fn stats_row(s: &ContainerStatsResponse, no_trunc: bool) -> Value {
    let cpu = |c: &Option<bollard::models::ContainerCpuStats>| {
        let c = c.as_ref();
        (
            c.and_then(|c| c.cpu_usage.as_ref()).and_then(|u| u.total_usage).unwrap_or(0) as f64,
            c.and_then(|c| c.system_cpu_usage).unwrap_or(0) as f64,
            c.and_then(|c| c.online_cpus).unwrap_or(1).max(1) as f64,
        )
    };
    let (total, system, ncpu) = cpu(&s.cpu_stats);
    let (pre_total, pre_system, _) = cpu(&s.precpu_stats);
    let (dc, ds) = (total - pre_total, system - pre_system);
    let cpu_pct = if dc > 0.0 && ds > 0.0 { dc / ds * ncpu * 100.0 } else { 0.0 };
    let mem = s.memory_stats.as_ref();
    let usage = mem.and_then(|m| m.usage).unwrap_or(0);
    let inactive = mem.and_then(|m| m.stats.as_ref()).and_then(|st| st.get("inactive_file").copied()).unwrap_or(0);
    let used = usage.saturating_sub(inactive);
    let limit = mem.and_then(|m| m.limit).unwrap_or(0);
    let mem_pct = if limit > 0 { used as f64 / limit as f64 * 100.0 } else { 0.0 };
    let (rx, tx) = s.networks.as_ref().map_or((0, 0), |n| {
        n.values().fold((0, 0), |(r, t), v| (r + v.rx_bytes.unwrap_or(0), t + v.tx_bytes.unwrap_or(0)))
    });
    let (br, bw) = s.blkio_stats.as_ref().and_then(|b| b.io_service_bytes_recursive.as_ref()).map_or((0, 0), |e| {
        e.iter().fold((0, 0), |(r, w), x| match x.op.as_deref().map(str::to_ascii_lowercase).as_deref() {
            Some("read") => (r + x.value.unwrap_or(0), w),
            Some("write") => (r, w + x.value.unwrap_or(0)),
            _ => (r, w),
        })
    });
    let id = s.id.clone().unwrap_or_default();
    // `docker stats`: memory in go-units' `BytesSize`, I/O in 3-digit decimal.
    let bin = |b: u64| docker_vocab::units::bytes_size(b as f64);
    json!({
        "ID": if no_trunc { id.clone() } else { id.chars().take(12).collect() },
        "Container": id,
        "Name": s.name.clone().unwrap_or_default().trim_start_matches('/'),
        "CPUPerc": format!("{cpu_pct:.2}%"),
        "MemUsage": format!("{} / {}", bin(used), bin(limit)),
        "MemPerc": format!("{mem_pct:.2}%"),
        "NetIO": format!("{} / {}", human_size(rx as i64), human_size(tx as i64)),
        "BlockIO": format!("{} / {}", human_size(br as i64), human_size(bw as i64)),
        "PIDs": s.pids_stats.as_ref().and_then(|p| p.current).unwrap_or(0).to_string(),
    })
}

pub async fn stats(ctx: &Ctx, args: StatsArgs) -> Result<u8, CliError> {
    let names = if args.containers.is_empty() {
        let opts = bollard::query_parameters::ListContainersOptions { all: args.all, ..Default::default() };
        let list = ctx.docker.list_containers(Some(opts)).await.map_err(|e| ctx.err(e))?;
        list.into_iter().filter_map(|c| c.id).collect()
    } else {
        args.containers.clone()
    };
    let columns = [
        ("CONTAINER ID", "ID"),
        ("NAME", "Name"),
        ("CPU %", "CPUPerc"),
        ("MEM USAGE / LIMIT", "MemUsage"),
        ("MEM %", "MemPerc"),
        ("NET I/O", "NetIO"),
        ("BLOCK I/O", "BlockIO"),
        ("PIDS", "PIDs"),
    ];
    let format = Format::parse(args.format.as_deref());
    loop {
        let mut rows = Vec::new();
        for n in &names {
            // One-shot asks the engine for two readings so CPU % is real.
            let opts = StatsOptions { stream: false, one_shot: false };
            let mut s = ctx.docker.stats(n, Some(opts));
            match s.next().await {
                Some(Ok(sample)) => rows.push(stats_row(&sample, args.no_trunc)),
                Some(Err(e)) => return Err(ctx.err(e)),
                None => {}
            }
        }
        if !args.no_stream {
            print!("\x1b[2J\x1b[H");
        }
        output::print_rows(&rows, &columns, &format)?;
        if args.no_stream {
            return Ok(0);
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::{ContainerCpuStats, ContainerCpuUsage, ContainerMemoryStats};

    #[test]
    fn cpu_and_memory_as_docker_computes_them() {
        let cpu = |total, system| ContainerCpuStats {
            cpu_usage: Some(ContainerCpuUsage { total_usage: Some(total), ..Default::default() }),
            system_cpu_usage: Some(system),
            online_cpus: Some(2),
            ..Default::default()
        };
        let s = ContainerStatsResponse {
            id: Some("0123456789abcdef".into()),
            name: Some("/web".into()),
            cpu_stats: Some(cpu(300, 2000)),
            precpu_stats: Some(cpu(200, 1000)),
            memory_stats: Some(ContainerMemoryStats {
                usage: Some(3 << 20),
                limit: Some(8 << 20),
                stats: Some([("inactive_file".to_string(), 1u64 << 20)].into_iter().collect()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let r = stats_row(&s, false);
        assert_eq!(r["CPUPerc"], "20.00%");
        assert_eq!(r["MemUsage"], "2MiB / 8MiB");
        assert_eq!(r["MemPerc"], "25.00%");
        assert_eq!(r["Name"], "web");
        assert_eq!(r["ID"], "0123456789ab");
    }
}
