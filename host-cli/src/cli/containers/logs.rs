//! `logs`: the container's log, `-f`, `--since`, `--until`, `-t`,
//! `--tail`, stdout frames to stdout and stderr frames to stderr.

use bollard::query_parameters::LogsOptions;
use chrono::{DateTime, Utc};
use clap::Args;

use super::stdio;
use crate::cli::ctx::Ctx;
use crate::cli::error::CliError;

#[derive(Args, Debug)]
pub struct LogsArgs {
    /// Follow log output.
    #[arg(short, long)]
    pub follow: bool,
    /// Show logs since timestamp (RFC 3339 or Unix seconds) or relative (e.g. 42m, 1h30m).
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

/// Docker's time arguments (moby's `GetTimestamp`): Unix seconds, RFC 3339
/// or a date (zone-less forms in this machine's zone), or a Go duration
/// ago (`10s`, `42m`, `1h30m`, `1.5h`).
pub fn parse_time(s: &str) -> Result<DateTime<Utc>, CliError> {
    docker_vocab::time::get_timestamp_now(s).map_err(|e| CliError::Usage(format!("invalid time {s:?}: {e}")))
}

/// The engine request for these arguments.
fn options(args: &LogsArgs) -> Result<LogsOptions, CliError> {
    if args.tail != "all" && args.tail.parse::<u64>().is_err() {
        return Err(CliError::Usage(format!("invalid --tail {:?}: a number or \"all\"", args.tail)));
    }
    let secs = |t: &Option<String>| t.as_deref().map(parse_time).transpose().map(|t| t.map_or(0, |t| t.timestamp()));
    Ok(LogsOptions {
        follow: args.follow,
        stdout: true,
        stderr: true,
        since: secs(&args.since)?,
        until: secs(&args.until)?,
        timestamps: args.timestamps,
        tail: args.tail.clone(),
    })
}

pub async fn logs(ctx: &Ctx, args: LogsArgs) -> Result<u8, CliError> {
    let opts = options(&args)?;
    let stream = ctx.docker.logs(&args.container, Some(opts));
    stdio::pump_output(Box::pin(stream)).await.map_err(|e| ctx.err(e))?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cmd {
        #[command(flatten)]
        args: LogsArgs,
    }

    fn opts(argv: &[&str]) -> Result<LogsOptions, CliError> {
        let cmd = Cmd::try_parse_from(std::iter::once("logs").chain(argv.iter().copied())).unwrap();
        options(&cmd.args)
    }

    #[test]
    fn times_as_docker_takes_them() {
        assert_eq!(parse_time("1700000000").unwrap().timestamp(), 1_700_000_000);
        assert_eq!(parse_time("1970-01-01T00:01:00Z").unwrap().timestamp(), 60);
        let ago = parse_time("10m").unwrap().timestamp();
        assert!((Utc::now().timestamp() - ago - 600).abs() <= 1);
        assert!(parse_time("soon").is_err());
    }

    #[test]
    fn since_takes_go_durations_like_docker() {
        let now = Utc::now().timestamp();
        let o = opts(&["--since", "1h30m", "web"]).unwrap();
        assert!((now - o.since - 5400).abs() <= 3, "since {} is 90 minutes before {now}", o.since);
        let o = opts(&["--since", "1.5h", "--until", "2m", "web"]).unwrap();
        assert!((now - o.since - 5400).abs() <= 3 && (now - o.until - 120).abs() <= 3);
        let o = opts(&["--since", "2024-05-01T10:00:00Z", "-n", "5", "web"]).unwrap();
        assert_eq!((o.since, o.until, o.tail.as_str()), (1_714_557_600, 0, "5"));
        assert!(opts(&["--since", "90 minutes", "web"]).is_err());
        assert!(opts(&["--tail", "some", "web"]).is_err());
    }
}
