//! `version`, `info`, `system df`, `system prune` and `events`.

use std::io::Write;
use std::time::Duration;

use bollard::query_parameters::{EventsOptions, PruneContainersOptions, PruneImagesOptions};
use clap::{Args, Subcommand};
use futures_util::StreamExt;
use serde_json::{Value, json};

use super::ctx::Ctx;
use super::error::CliError;
use super::images::list::filters;
use docker_vocab::units;

use super::output::{self, Format};

#[derive(Args, Debug)]
pub struct FormatArgs {
    /// Format output using a Go-style template, or json.
    #[arg(short, long)]
    pub format: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum SystemCommand {
    /// Show docker disk usage.
    Df(FormatArgs),
    /// Remove unused data (stopped containers, dangling images).
    Prune(PruneArgs),
    /// Display system-wide information.
    Info(FormatArgs),
    /// Get real time events from the server.
    Events(EventsArgs),
}

#[derive(Args, Debug)]
pub struct PruneArgs {
    /// Remove all unused images, not just dangling ones.
    #[arg(short, long)]
    pub all: bool,
    /// Do not prompt for confirmation.
    #[arg(short, long)]
    pub force: bool,
    /// Provide filter values (e.g. label=<key>=<value>).
    #[arg(long)]
    pub filter: Vec<String>,
}

#[derive(Args, Debug)]
pub struct EventsArgs {
    /// Show all events created since timestamp.
    #[arg(long)]
    pub since: Option<String>,
    /// Stream events until this timestamp.
    #[arg(long)]
    pub until: Option<String>,
    /// Filter output based on conditions provided.
    #[arg(short, long)]
    pub filter: Vec<String>,
    #[arg(long)]
    pub format: Option<String>,
}

pub async fn version(ctx: &Ctx, args: FormatArgs) -> Result<u8, CliError> {
    let client = json!({
        "Version": env!("CARGO_PKG_VERSION"),
        "ApiVersion": format!("{}.{}", crate::engine_target::API_VERSION.major_version, crate::engine_target::API_VERSION.minor_version),
        "Os": std::env::consts::OS,
        "Arch": std::env::consts::ARCH,
        "Context": ctx.target.to_string(),
    });
    let server = ctx.docker.version().await.map_err(|e| ctx.err(e));
    let server_json = match &server {
        Ok(v) => serde_json::to_value(v).unwrap_or(Value::Null),
        Err(_) => Value::Null,
    };
    let all = json!({"Client": client, "Server": server_json});
    match Format::parse(args.format.as_deref()) {
        Format::Json => println!("{all}"),
        Format::Template { template, .. } => println!("{}", output::render(&template, &all)?),
        Format::Table => {
            println!("Client: berth");
            println!(" Version:           {}", client["Version"].as_str().unwrap_or(""));
            println!(" API version:       {}", client["ApiVersion"].as_str().unwrap_or(""));
            println!(" OS/Arch:           {}/{}", std::env::consts::OS, std::env::consts::ARCH);
            println!(" Context:           {}", ctx.target);
            if let Ok(v) = &server {
                let name = v.platform.as_ref().map(|p| p.name.clone()).unwrap_or_default();
                println!();
                println!("Server: {name}");
                println!(" Engine:");
                println!("  Version:          {}", v.version.as_deref().unwrap_or(""));
                println!(
                    "  API version:      {} (minimum version {})",
                    v.api_version.as_deref().unwrap_or(""),
                    v.min_api_version.as_deref().unwrap_or("")
                );
                println!("  Git commit:       {}", v.git_commit.as_deref().unwrap_or(""));
                println!("  OS/Arch:          {}/{}", v.os.as_deref().unwrap_or(""), v.arch.as_deref().unwrap_or(""));
                println!("  Kernel:           {}", v.kernel_version.as_deref().unwrap_or(""));
            }
        }
    }
    server.map(|_| 0)
}

pub async fn info(ctx: &Ctx, args: FormatArgs) -> Result<u8, CliError> {
    let info = ctx.docker.info().await.map_err(|e| ctx.err(e))?;
    let v = serde_json::to_value(&info).map_err(|e| CliError::Client(e.to_string()))?;
    match Format::parse(args.format.as_deref()) {
        Format::Json => println!("{v}"),
        Format::Template { template, .. } => println!("{}", output::render(&template, &v)?),
        Format::Table => {
            let s = |k: &str| output::display(v.get(k).unwrap_or(&Value::Null));
            println!("Client: berth {}", env!("CARGO_PKG_VERSION"));
            println!(" Context:    {}", ctx.target);
            println!();
            println!("Server:");
            println!(" Containers: {}", s("Containers"));
            println!("  Running: {}", s("ContainersRunning"));
            println!("  Paused: {}", s("ContainersPaused"));
            println!("  Stopped: {}", s("ContainersStopped"));
            println!(" Images: {}", s("Images"));
            println!(" Server Version: {}", s("ServerVersion"));
            println!(" Storage Driver: {}", s("Driver"));
            println!(" Cgroup Driver: {}", s("CgroupDriver"));
            println!(" Cgroup Version: {}", s("CgroupVersion"));
            println!(" Kernel Version: {}", s("KernelVersion"));
            println!(" Operating System: {}", s("OperatingSystem"));
            println!(" OSType: {}", s("OSType"));
            println!(" Architecture: {}", s("Architecture"));
            println!(" CPUs: {}", s("NCPU"));
            println!(" Total Memory: {}", units::bytes_size(v.get("MemTotal").and_then(Value::as_f64).unwrap_or(0.0)));
            println!(" Name: {}", s("Name"));
            println!(" ID: {}", s("ID"));
            println!(" Docker Root Dir: {}", s("DockerRootDir"));
        }
    }
    Ok(0)
}

/// `system df`, from the engine's reply as it sends it (API 1.50 shape).
pub async fn df(ctx: &Ctx, args: FormatArgs) -> Result<u8, CliError> {
    let reply = super::raw_http::get(&ctx.endpoint, "/system/df", Duration::from_secs(120)).await?;
    let v: Value = serde_json::from_slice(&reply.body)
        .map_err(|e| CliError::Client(format!("the engine's /system/df reply is not JSON: {e}")))?;
    if reply.status != 200 {
        let message = v.get("message").map(output::display).unwrap_or_default();
        return Err(CliError::Engine { status: reply.status, message });
    }
    let arr = |k: &str| v.get(k).and_then(Value::as_array).cloned().unwrap_or_default();
    let num = |x: &Value, k: &str| x.get(k).and_then(Value::as_i64).unwrap_or(0);
    let images = arr("Images");
    let img_size: i64 =
        v.get("LayersSize").and_then(Value::as_i64).unwrap_or_else(|| images.iter().map(|i| num(i, "Size")).sum());
    let img_active = images.iter().filter(|i| num(i, "Containers") > 0).count();
    let img_reclaim: i64 =
        images.iter().filter(|i| num(i, "Containers") <= 0).map(|i| num(i, "Size") - num(i, "SharedSize").max(0)).sum();
    let containers = arr("Containers");
    let c_active = containers.iter().filter(|c| c.get("State").and_then(Value::as_str) == Some("running")).count();
    let c_size: i64 = containers.iter().map(|c| num(c, "SizeRw")).sum();
    let c_reclaim: i64 = containers
        .iter()
        .filter(|c| c.get("State").and_then(Value::as_str) != Some("running"))
        .map(|c| num(c, "SizeRw"))
        .sum();
    let volumes = arr("Volumes");
    let build = arr("BuildCache");
    // `docker system df` prints go-units' `HumanSize` (4 digits).
    let human_size = |n: i64| units::human_size(n as f64);
    let pct = |r: i64, t: i64| if t > 0 { format!("{} ({}%)", human_size(r), r * 100 / t) } else { human_size(r) };
    let rows = vec![
        json!({"Type": "Images", "TotalCount": images.len().to_string(), "Active": img_active.to_string(), "Size": human_size(img_size), "Reclaimable": pct(img_reclaim.max(0), img_size)}),
        json!({"Type": "Containers", "TotalCount": containers.len().to_string(), "Active": c_active.to_string(), "Size": human_size(c_size), "Reclaimable": pct(c_reclaim, c_size)}),
        json!({"Type": "Local Volumes", "TotalCount": volumes.len().to_string(), "Active": "0", "Size": "0B", "Reclaimable": "0B"}),
        json!({"Type": "Build Cache", "TotalCount": build.len().to_string(), "Active": "0", "Size": "0B", "Reclaimable": "0B"}),
    ];
    let columns = [
        ("TYPE", "Type"),
        ("TOTAL", "TotalCount"),
        ("ACTIVE", "Active"),
        ("SIZE", "Size"),
        ("RECLAIMABLE", "Reclaimable"),
    ];
    output::print_rows(&rows, &columns, &Format::parse(args.format.as_deref()))?;
    Ok(0)
}

pub async fn prune(ctx: &Ctx, args: PruneArgs) -> Result<u8, CliError> {
    if !args.force {
        eprintln!("WARNING! This will remove:");
        eprintln!("  - all stopped containers");
        eprintln!(
            "  - all {} images",
            if args.all { "images without at least one container associated to them" } else { "dangling" }
        );
        eprint!("\nAre you sure you want to continue? [y/N] ");
        let _ = std::io::stderr().flush();
        let mut answer = String::new();
        let _ = std::io::stdin().read_line(&mut answer);
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            return Ok(1);
        }
    }
    let f = filters(&args.filter)?;
    let copts = PruneContainersOptions { filters: (!f.is_empty()).then(|| f.to_lists()) };
    let c = ctx.docker.prune_containers(Some(copts)).await.map_err(|e| ctx.err(e))?;
    let img_filters = f.with("dangling", if args.all { "false" } else { "true" });
    let i = ctx
        .docker
        .prune_images(Some(PruneImagesOptions { filters: Some(img_filters.to_lists()) }))
        .await
        .map_err(|e| ctx.err(e))?;
    let deleted_c = c.containers_deleted.unwrap_or_default();
    if !deleted_c.is_empty() {
        println!("Deleted Containers:");
        for id in &deleted_c {
            println!("{id}");
        }
        println!();
    }
    let deleted_i = i.images_deleted.unwrap_or_default();
    if !deleted_i.is_empty() {
        println!("Deleted Images:");
        for d in &deleted_i {
            if let Some(u) = &d.untagged {
                println!("untagged: {u}");
            }
            if let Some(x) = &d.deleted {
                println!("deleted: {x}");
            }
        }
        println!();
    }
    let total = c.space_reclaimed.unwrap_or(0) + i.space_reclaimed.unwrap_or(0);
    println!("Total reclaimed space: {}", units::human_size(total as f64));
    Ok(0)
}

pub async fn events(ctx: &Ctx, args: EventsArgs) -> Result<u8, CliError> {
    let f = filters(&args.filter)?;
    // As the docker CLI sends them: `<secs>.<nanos>`.
    let time = |s: &Option<String>| -> Result<Option<String>, CliError> {
        s.as_deref().map(|t| super::containers::logs::parse_time(t).map(docker_vocab::time::format_unix)).transpose()
    };
    let opts = EventsOptions {
        since: time(&args.since)?,
        until: time(&args.until)?,
        filters: (!f.is_empty()).then(|| f.to_lists()),
    };
    let format = Format::parse(args.format.as_deref());
    let mut stream = ctx.docker.events(Some(opts));
    while let Some(ev) = stream.next().await {
        let ev = ev.map_err(|e| ctx.err(e))?;
        let v = serde_json::to_value(&ev).map_err(|e| CliError::Client(e.to_string()))?;
        let line = match &format {
            Format::Json => v.to_string(),
            Format::Template { template, .. } => output::render(template, &v)?,
            Format::Table => event_line(&ev),
        };
        let mut out = std::io::stdout().lock();
        if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
            break;
        }
    }
    Ok(0)
}

/// Docker's event line: `TIME TYPE ACTION ID (k=v, ...)`, the time with
/// all nine fraction digits (the docker CLI's `RFC3339NanoFixed`, in UTC).
fn event_line(ev: &bollard::models::EventMessage) -> String {
    let nanos = ev.time_nano.unwrap_or_else(|| ev.time.unwrap_or(0).saturating_mul(1_000_000_000));
    let actor = ev.actor.clone().unwrap_or_default();
    let mut attrs: Vec<String> =
        actor.attributes.unwrap_or_default().into_iter().map(|(k, v)| format!("{k}={v}")).collect();
    attrs.sort();
    format!(
        "{} {} {} {} ({})",
        docker_vocab::time::format_rfc3339_nano_fixed(chrono::DateTime::from_timestamp_nanos(nanos)),
        ev.typ.as_ref().map(|t| t.to_string()).unwrap_or_default(),
        ev.action.clone().unwrap_or_default(),
        actor.id.unwrap_or_default(),
        attrs.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use bollard::models::{EventActor, EventMessage, EventMessageTypeEnum};

    use super::*;

    #[test]
    fn event_lines_as_docker_events() {
        let ev = EventMessage {
            typ: Some(EventMessageTypeEnum::CONTAINER),
            action: Some("start".into()),
            actor: Some(EventActor {
                id: Some("abc".into()),
                attributes: Some([("name".to_string(), "web".to_string()), ("image".into(), "busybox".into())].into()),
            }),
            time: Some(1_714_557_600),
            time_nano: Some(1_714_557_600_000_000_005),
            ..Default::default()
        };
        assert_eq!(event_line(&ev), "2024-05-01T10:00:00.000000005Z container start abc (image=busybox, name=web)");
        let ev = EventMessage { time: Some(0), time_nano: None, ..ev };
        assert!(event_line(&ev).starts_with("1970-01-01T00:00:00.000000000Z "));
    }
}
