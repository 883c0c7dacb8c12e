//! The table behind `docker top`: the host's `ps <args>` filtered to the
//! container's PIDs, as Docker does, or an `-ef` table read from /proc when
//! there is no `ps` binary (inside the micro-VM).
//!
//! Owns parsing `ps` output and /proc; it must never signal or change a
//! process.

use std::collections::HashSet;

pub type Table = (Vec<String>, Vec<Vec<String>>);

pub fn table(args: &str, pids: &HashSet<i32>) -> Result<Table, String> {
    let argv: Vec<&str> = args.split_whitespace().collect();
    match std::process::Command::new("ps").args(&argv).output() {
        Ok(out) if out.status.success() => parse_ps(&String::from_utf8_lossy(&out.stdout), pids),
        // A `ps` without `-ef` (busybox's, in the VM) or none at all: the
        // default table from /proc.
        _ if args == "-ef" => Ok(from_proc(pids)),
        Ok(out) => Err(format!("ps {args}: {}", String::from_utf8_lossy(&out.stderr).trim())),
        Err(e) => Err(format!("running ps {args}: {e}")),
    }
}

/// Keeps the rows whose PID column is one of `pids` (Docker's parsePSOutput:
/// the last column may contain spaces).
pub fn parse_ps(out: &str, pids: &HashSet<i32>) -> Result<Table, String> {
    let mut lines = out.lines();
    let header = lines.next().ok_or("ps printed nothing")?;
    let titles: Vec<String> = header.split_whitespace().map(String::from).collect();
    let pid_col = titles.iter().position(|t| t == "PID").ok_or("Couldn't find PID field in ps output")?;
    let mut rows = Vec::new();
    for l in lines.filter(|l| !l.trim().is_empty()) {
        let fields: Vec<&str> = l.split_whitespace().collect();
        if fields.len() < titles.len() {
            continue;
        }
        let Ok(pid) = fields[pid_col].parse::<i32>() else {
            continue;
        };
        if !pids.contains(&pid) {
            continue;
        }
        let mut row: Vec<String> = fields[..titles.len() - 1].iter().map(|s| s.to_string()).collect();
        row.push(fields[titles.len() - 1..].join(" "));
        rows.push(row);
    }
    Ok((titles, rows))
}

fn from_proc(pids: &HashSet<i32>) -> Table {
    let titles = ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"].map(String::from).to_vec();
    let mut sorted: Vec<_> = pids.iter().copied().collect();
    sorted.sort_unstable();
    let rows = sorted.into_iter().filter_map(proc_row).collect();
    (titles, rows)
}

fn proc_row(pid: i32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (comm_part, rest) = stat.rsplit_once(')')?;
    let comm = comm_part.split_once('(')?.1.to_string();
    let f: Vec<&str> = rest.split_whitespace().collect();
    // After ")": state(0) ppid(1) … utime(11) stime(12) … starttime(19)
    let ppid = f.get(1)?.to_string();
    let ticks = 100u64;
    let cpu_secs = (f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?) / ticks;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let uid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|v| v.split_whitespace().next())
        .unwrap_or("0")
        .to_string();
    let uid = if uid == "0" { "root".to_string() } else { uid };
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let cmd = if cmdline.is_empty() {
        format!("[{comm}]")
    } else {
        cmdline
            .split(|b| *b == 0)
            .filter(|s| !s.is_empty())
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    };
    let time = format!("{:02}:{:02}:{:02}", cpu_secs / 3600, cpu_secs / 60 % 60, cpu_secs % 60);
    Some(vec![uid, pid.to_string(), ppid, "0".into(), "?".into(), "?".into(), time, cmd])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ps_output_is_filtered_by_pid_and_keeps_spaces_in_cmd() {
        let out = "UID PID PPID C STIME TTY TIME CMD\nroot 1 0 0 10:00 ? 00:00:01 /sbin/init splash\nroot 42 1 0 10:01 ? 00:00:00 sleep 100\n";
        let (titles, rows) = parse_ps(out, &HashSet::from([42])).unwrap();
        assert_eq!(titles.len(), 8);
        assert_eq!(rows, vec![vec!["root", "42", "1", "0", "10:01", "?", "00:00:00", "sleep 100"]]);
        assert!(parse_ps("USER X\n", &HashSet::new()).is_err());
    }

    #[test]
    fn proc_table_sees_this_process() {
        let me = std::process::id() as i32;
        let (titles, rows) = from_proc(&HashSet::from([me]));
        assert_eq!(titles[1], "PID");
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0][1], me.to_string());
    }
}
