//! What the test bed says about an outer VM that stopped making progress,
//! taken from outside it before QEMU is killed: the state and CPU time of
//! each of QEMU's threads (from /proc) and each emulated CPU's registers
//! (from QEMU's monitor, over the QMP socket), each sampled twice.
//!
//! It tells apart the hangs seen in the nested test bed: TCG threads that
//! spin with the outer kernel's RIP stuck (the emulation's livelock),
//! threads asleep with the monitor silent (QEMU's main loop blocked), and
//! an outer kernel that is idle and alive (then the hang is the command's).
//! It only reads; it never signals or pauses QEMU.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

/// Between the two samples.
const SAMPLE_GAP: Duration = Duration::from_secs(2);
/// How long the monitor gets to answer; a blocked main loop never does.
const MONITOR_WAIT: Duration = Duration::from_secs(5);

/// One of QEMU's threads at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ThreadSample {
    tid: u32,
    name: String,
    /// `R` running, `S` sleeping, `D` in an uninterruptible wait...
    state: char,
    /// utime + stime, in clock ticks.
    ticks: u64,
}

/// The report, as lines for the console's tail.
pub fn take(qemu_pid: u32, qmp: &Path) -> String {
    let first_threads = threads(qemu_pid);
    let first_regs = registers(qmp);
    std::thread::sleep(SAMPLE_GAP);
    let second_threads = threads(qemu_pid);
    let second_regs = registers(qmp);
    let mut out = String::from("testbed: the outer VM's state before it was stopped:\n");
    out.push_str(&describe_threads(&first_threads, &second_threads, SAMPLE_GAP));
    match (first_regs, second_regs) {
        (Ok(a), Ok(b)) => out.push_str(&describe_cpus(&a, &b)),
        (Err(e), _) | (_, Err(e)) => {
            let _ = writeln!(out, "testbed:   QEMU's monitor: {e}");
        }
    }
    out
}

fn threads(pid: u32) -> Vec<ThreadSample> {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return Vec::new() };
    let mut out: Vec<ThreadSample> = dir
        .filter_map(|e| e.ok())
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .filter_map(|s| parse_stat(&s))
        .collect();
    out.sort_by_key(|t| t.tid);
    out
}

/// A `/proc/PID/task/TID/stat` line: `tid (comm) state ... utime stime`
/// (fields 14 and 15); comm may hold spaces and parentheses, so the fields
/// are counted from the last `)`.
fn parse_stat(s: &str) -> Option<ThreadSample> {
    let open = s.find('(')?;
    let close = s.rfind(')')?;
    let tid = s[..open].trim().parse().ok()?;
    let name = s[open + 1..close].to_string();
    let rest: Vec<&str> = s[close + 1..].split_whitespace().collect();
    let state = rest.first()?.chars().next()?;
    // rest[0] is field 3 (state); utime is field 14, stime field 15.
    let utime: u64 = rest.get(11)?.parse().ok()?;
    let stime: u64 = rest.get(12)?.parse().ok()?;
    Some(ThreadSample { tid, name, state, ticks: utime + stime })
}

/// One line per thread that used CPU between the samples or is named like
/// a vCPU: its state and its share of a core.
fn describe_threads(a: &[ThreadSample], b: &[ThreadSample], gap: Duration) -> String {
    // SAFETY: sysconf has no preconditions.
    let hz = match unsafe { libc::sysconf(libc::_SC_CLK_TCK) } {
        n if n > 0 => n as f64,
        _ => 100.0,
    };
    let mut out = String::new();
    for t in b {
        let before = a.iter().find(|x| x.tid == t.tid).map_or(t.ticks, |x| x.ticks);
        let busy = (t.ticks.saturating_sub(before)) as f64 / hz / gap.as_secs_f64() * 100.0;
        if busy >= 1.0 || t.name.contains("CPU") {
            let _ =
                writeln!(out, "testbed:   QEMU thread {} '{}': state {}, {busy:.0}% of a core", t.tid, t.name, t.state);
        }
    }
    if out.is_empty() {
        out.push_str("testbed:   QEMU's threads: none found, or none busy\n");
    }
    out
}

/// One emulated CPU as `info registers` prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct CpuRegs {
    cpu: u32,
    rip: String,
    /// The rest of the RIP line: flags, CPL, halted.
    flags: String,
}

/// `info registers -a` of every CPU, through QMP's human-monitor-command.
fn registers(qmp: &Path) -> Result<Vec<CpuRegs>, String> {
    let text = monitor(qmp, "info registers -a", MONITOR_WAIT)?;
    Ok(parse_registers(&text))
}

fn parse_registers(text: &str) -> Vec<CpuRegs> {
    let mut out = Vec::new();
    let mut cpu = None;
    for line in text.lines() {
        let line = line.trim();
        if let Some(n) = line.strip_prefix("CPU#") {
            cpu = n.trim().parse().ok();
        } else if let (Some(rest), Some(c)) = (line.strip_prefix("RIP="), cpu) {
            let (rip, flags) = rest.split_once(' ').unwrap_or((rest, ""));
            out.push(CpuRegs { cpu: c, rip: rip.to_string(), flags: flags.trim().to_string() });
            cpu = None;
        }
    }
    out
}

fn describe_cpus(a: &[CpuRegs], b: &[CpuRegs]) -> String {
    let mut out = String::new();
    for r in b {
        let moved = match a.iter().find(|x| x.cpu == r.cpu) {
            Some(x) if x.rip == r.rip => "RIP unchanged",
            Some(x) => &format!("RIP was {}", x.rip),
            None => "",
        };
        let _ = writeln!(out, "testbed:   CPU {}: RIP={} {} ({moved})", r.cpu, r.rip, r.flags);
    }
    if out.is_empty() {
        out.push_str("testbed:   QEMU's monitor printed no registers\n");
    }
    out
}

/// Runs one human monitor command over QMP and returns its text.
fn monitor(qmp: &Path, command: &str, wait: Duration) -> Result<String, String> {
    let stream = UnixStream::connect(qmp).map_err(|e| format!("cannot connect to {}: {e}", qmp.display()))?;
    stream.set_read_timeout(Some(wait)).map_err(|e| e.to_string())?;
    stream.set_write_timeout(Some(wait)).map_err(|e| e.to_string())?;
    let mut writer = stream.try_clone().map_err(|e| e.to_string())?;
    let mut reader = BufReader::new(stream);
    let silent = |e: std::io::Error| format!("no answer within {:?} ({e}): QEMU's main loop is blocked", wait);
    // The greeting, then capabilities negotiation, then the command.
    reply(&mut reader).map_err(silent)?;
    writer.write_all(b"{\"execute\":\"qmp_capabilities\"}\n").map_err(|e| e.to_string())?;
    reply(&mut reader).map_err(silent)?;
    let request = serde_json::json!({"execute": "human-monitor-command", "arguments": {"command-line": command}});
    writer.write_all(format!("{request}\n").as_bytes()).map_err(|e| e.to_string())?;
    let answer = reply(&mut reader).map_err(silent)?;
    match answer.get("return").and_then(|r| r.as_str()) {
        Some(text) => Ok(text.to_string()),
        None => Err(format!("the monitor answered {answer}")),
    }
}

/// The next QMP message that is not an asynchronous event.
fn reply(reader: &mut impl BufRead) -> std::io::Result<serde_json::Value> {
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "the monitor closed"));
        }
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else { continue };
        if v.get("event").is_none() {
            return Ok(v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thread_name_with_spaces_and_parentheses_is_read() {
        let stat = "4242 (CPU 0/TCG) R 1 2 3 4 5 6 7 8 9 10 1500 250 0 0 20 0 1 0 100 0 0";
        let t = parse_stat(stat).unwrap();
        assert_eq!(t, ThreadSample { tid: 4242, name: "CPU 0/TCG".into(), state: 'R', ticks: 1750 });
        let odd = "7 (a) b) S 1 2 3 4 5 6 7 8 9 10 3 4 0";
        assert_eq!(parse_stat(odd).unwrap().name, "a) b");
        assert!(parse_stat("garbage").is_none());
    }

    #[test]
    fn a_busy_vcpu_thread_is_shown_with_its_share_and_an_idle_one_by_name() {
        let t = |tid, name: &str, ticks| ThreadSample { tid, name: name.into(), state: 'R', ticks };
        let a = [t(1, "qemu", 10), t(2, "CPU 0/TCG", 100), t(3, "CPU 1/TCG", 100), t(4, "worker", 5)];
        let b = [t(1, "qemu", 10), t(2, "CPU 0/TCG", 100 + 200), t(3, "CPU 1/TCG", 100), t(4, "worker", 5)];
        // 200 ticks in 2 s at the usual 100 Hz is a whole core.
        let text = describe_threads(&a, &b, Duration::from_secs(2));
        assert!(text.contains("'CPU 0/TCG': state R, 100% of a core"), "{text}");
        assert!(text.contains("'CPU 1/TCG': state R, 0% of a core"), "{text}");
        assert!(!text.contains("worker") && !text.contains("'qemu'"), "{text}");
    }

    #[test]
    fn registers_are_read_per_cpu_and_a_stuck_rip_is_named() {
        let dump = |rip0: &str| {
            format!(
                "CPU#0\nRAX=0 RBX=0\nRIP={rip0} RFL=00000246 [---Z-P-] CPL=0 II=0 A20=1 SMM=0 HLT=0\n\
                 CPU#1\nRAX=0\nRIP=ffffffff81e0f2a0 RFL=00000246 [---Z-P-] CPL=0 II=0 A20=1 SMM=0 HLT=1\n"
            )
        };
        let a = parse_registers(&dump("ffffffff81000010"));
        let b = parse_registers(&dump("ffffffff81000020"));
        assert_eq!(b.len(), 2);
        assert_eq!(b[1].rip, "ffffffff81e0f2a0");
        assert!(b[1].flags.ends_with("HLT=1"));
        let text = describe_cpus(&a, &b);
        assert!(text.contains("CPU 0: RIP=ffffffff81000020") && text.contains("RIP was ffffffff81000010"), "{text}");
        assert!(text.contains("CPU 1: RIP=ffffffff81e0f2a0") && text.contains("RIP unchanged"), "{text}");
    }

    #[test]
    fn a_monitor_that_is_not_there_is_said_so() {
        let d = tempfile::tempdir().unwrap();
        let e = monitor(&d.path().join("qmp.sock"), "info registers", MONITOR_WAIT).unwrap_err();
        assert!(e.contains("cannot connect"), "{e}");
    }

    /// A monitor that greets and then never answers is a blocked main loop.
    #[test]
    fn a_silent_monitor_is_called_blocked() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("qmp.sock");
        let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            s.write_all(b"{\"QMP\": {}}\n").unwrap();
            std::thread::sleep(Duration::from_secs(1));
        });
        let e = monitor(&path, "info registers", Duration::from_millis(200)).unwrap_err();
        assert!(e.contains("main loop is blocked"), "{e}");
        server.join().unwrap();
    }
}
