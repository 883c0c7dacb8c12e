//! `ps`: Docker's table of containers, `-a`, `-q`, `-n`, `-l`, `--filter`,
//! `--no-trunc`, `-s`, `--format`.

use bollard::models::ContainerSummary;
use bollard::query_parameters::ListContainersOptions;
use clap::Args;
use serde_json::{Value, json};

use crate::cli::ctx::Ctx;
use crate::cli::error::CliError;
use crate::cli::images::list::filters;
use crate::cli::output::{self, Format, human_size};

#[derive(Args, Debug)]
pub struct PsArgs {
    /// Show all containers (default shows just running).
    #[arg(short, long)]
    pub all: bool,
    /// Only display container IDs.
    #[arg(short, long)]
    pub quiet: bool,
    /// Show n last created containers (includes all states).
    #[arg(short = 'n', long = "last")]
    pub last: Option<i32>,
    /// Show the latest created container (includes all states).
    #[arg(short = 'l', long)]
    pub latest: bool,
    /// Filter output based on conditions provided (KEY=VALUE).
    #[arg(short, long)]
    pub filter: Vec<String>,
    /// Don't truncate output.
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Display total file sizes.
    #[arg(short, long)]
    pub size: bool,
    /// Format output: table, json, or a Go-style template.
    #[arg(long)]
    pub format: Option<String>,
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n { s.to_string() } else { format!("{}…", s.chars().take(n - 1).collect::<String>()) }
}

pub async fn ps(ctx: &Ctx, args: PsArgs) -> Result<u8, CliError> {
    let f = filters(&args.filter)?;
    let limit = if args.latest { Some(1) } else { args.last };
    let opts = ListContainersOptions {
        all: args.all || limit.is_some(),
        limit,
        size: args.size,
        filters: (!f.is_empty()).then(|| f.to_lists()),
    };
    let list = ctx.docker.list_containers(Some(opts)).await.map_err(|e| ctx.err(e))?;
    let now = docker_vocab::time::now().timestamp();
    let mut rows = Vec::new();
    for c in &list {
        if args.quiet {
            let id = c.id.clone().unwrap_or_default();
            println!("{}", if args.no_trunc { id } else { id.chars().take(12).collect() });
            continue;
        }
        rows.push(row(c, args.no_trunc, now));
    }
    if args.quiet {
        return Ok(0);
    }
    let mut columns = vec![
        ("CONTAINER ID", "ID"),
        ("IMAGE", "Image"),
        ("COMMAND", "Command"),
        ("CREATED", "RunningFor"),
        ("STATUS", "Status"),
        ("PORTS", "Ports"),
        ("NAMES", "Names"),
    ];
    if args.size {
        columns.push(("SIZE", "Size"));
    }
    output::print_rows(&rows as &[Value], &columns, &Format::parse(args.format.as_deref()))?;
    Ok(0)
}

/// One container as `docker ps` shows it, `now` being when the list was
/// taken (CREATED is go-units' `HumanDuration` of the difference).
fn row(c: &ContainerSummary, no_trunc: bool, now: i64) -> Value {
    let id = c.id.clone().unwrap_or_default();
    let id = if no_trunc { id } else { id.chars().take(12).collect() };
    let command = c.command.clone().unwrap_or_default();
    let command = if no_trunc { format!("\"{command}\"") } else { format!("\"{}\"", truncate(&command, 20)) };
    let names: Vec<String> =
        c.names.clone().unwrap_or_default().iter().map(|n| n.trim_start_matches('/').to_string()).collect();
    let ports: Vec<String> = c
        .ports
        .clone()
        .unwrap_or_default()
        .iter()
        .map(|p| {
            let t = p.typ.as_ref().map(|t| t.to_string()).unwrap_or_else(|| "tcp".into());
            match (&p.ip, p.public_port) {
                (Some(ip), Some(pp)) => format!("{ip}:{pp}->{}/{t}", p.private_port),
                _ => format!("{}/{t}", p.private_port),
            }
        })
        .collect();
    let labels: Vec<String> = c.labels.clone().unwrap_or_default().iter().map(|(k, v)| format!("{k}={v}")).collect();
    let size = match (c.size_rw, c.size_root_fs) {
        (Some(rw), Some(root)) => format!("{} (virtual {})", human_size(rw), human_size(root)),
        _ => String::new(),
    };
    json!({
            "ID": id,
            "Image": c.image.clone().unwrap_or_default(),
            "Command": command,
            "CreatedAt": c.created.unwrap_or(0).to_string(),
            "RunningFor": output::ago_from(c.created.unwrap_or(0), now),
            "Status": c.status.clone().unwrap_or_default(),
            "State": c.state.as_ref().map(|s| s.to_string()).unwrap_or_default(),
            "Ports": ports.join(", "),
            "Names": names.join(","),
            "Labels": labels.join(","),
            "Size": size,
            "Mounts": "",
            "Networks": "",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_truncate_to_twenty() {
        assert_eq!(truncate("echo hi", 20), "echo hi");
        assert_eq!(truncate("sh -c 'while true; do sleep 1; done'", 20).chars().count(), 20);
    }

    #[test]
    fn created_and_size_columns_as_docker_ps() {
        let now = 1_714_557_600;
        let c = ContainerSummary {
            id: Some("0123456789abcdef".into()),
            created: Some(now - 5400),
            command: Some("sleep 1000000000000000000".into()),
            size_rw: Some(1240),
            size_root_fs: Some(4_261_000),
            ..Default::default()
        };
        let r = row(&c, false, now);
        assert_eq!(r["RunningFor"], "2 hours ago", "90 minutes: Docker rounds hours, `About an hour` would be wrong");
        assert_eq!(r["ID"], "0123456789ab");
        assert_eq!(r["Command"], "\"sleep 1000000000000…\"");
        assert_eq!(r["Size"], "1.24kB (virtual 4.26MB)");
        let r = row(&ContainerSummary { created: Some(now - 3600), ..Default::default() }, true, now);
        assert_eq!(r["RunningFor"], "About an hour ago");
        assert_eq!(r["Size"], "");
    }
}
