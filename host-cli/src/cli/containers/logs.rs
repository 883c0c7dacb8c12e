//! `logs`: the container's log, `-f`, `--since`, `--until`, `-t`,
//! `--tail`, stdout frames to stdout and stderr frames to stderr.

use bollard::query_parameters::LogsOptions;
use clap::Args;

use super::stdio;
use crate::cli::ctx::Ctx;
use crate::cli::error::CliError;
use crate::cli::output;

#[derive(Args, Debug)]
pub struct LogsArgs {
    /// Follow log output.
    #[arg(short, long)]
    pub follow: bool,
    /// Show logs since timestamp (RFC 3339 or Unix seconds) or relative (e.g. 42m).
    #[arg(long)]
    pub since: Option<String>,
    /// Show logs before a timestamp or relative time.
    #[arg(long)]
    pub until: Option<String>,
    /// Show timestamps.
    #[arg(short, long)]
    pub timestamps: bool,
    /// Number of lines to show from the end of the logs ("all" for all).
    #[arg(short = 'n', long, default_value = "all")]
    pub tail: String,
    pub container: String,
}

/// Docker's time arguments: Unix seconds, RFC 3339, or a duration ago
/// (`10s`, `42m`, `2h`).
pub fn parse_time(s: &str) -> Result<i64, CliError> {
    if let Ok(n) = s.parse::<f64>() {
        return Ok(n as i64);
    }
    if let Some(ts) = output::parse_rfc3339(s) {
        return Ok(ts);
    }
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: i64 = num.parse().map_err(|_| CliError::Usage(format!("invalid time: {s:?}")))?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        _ => return Err(CliError::Usage(format!("invalid time: {s:?}"))),
    };
    Ok(output::now() - secs)
}

pub async fn logs(ctx: &Ctx, args: LogsArgs) -> Result<u8, CliError> {
    if args.tail != "all" && args.tail.parse::<u64>().is_err() {
        return Err(CliError::Usage(format!("invalid --tail {:?}: a number or \"all\"", args.tail)));
    }
    let opts = LogsOptions {
        follow: args.follow,
        stdout: true,
        stderr: true,
        since: args.since.as_deref().map(parse_time).transpose()?.unwrap_or(0),
        until: args.until.as_deref().map(parse_time).transpose()?.unwrap_or(0),
        timestamps: args.timestamps,
        tail: args.tail.clone(),
    };
    let stream = ctx.docker.logs(&args.container, Some(opts));
    stdio::pump_output(Box::pin(stream)).await.map_err(|e| ctx.err(e))?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_as_docker_takes_them() {
        assert_eq!(parse_time("1700000000").unwrap(), 1_700_000_000);
        assert_eq!(parse_time("1970-01-01T00:01:00Z").unwrap(), 60);
        let ago = parse_time("10m").unwrap();
        assert!((output::now() - ago - 600).abs() <= 1);
        assert!(parse_time("soon").is_err());
    }
}
