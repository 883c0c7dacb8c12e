//! `cargo xtask bench run`, runtime half: create + start + wait of the same
//! busybox `true` container through berth's runtime (the real shim and
//! libcontainer, via `berth-agent bench-runtime`) against a peer OCI
//! runtime running the same bundle (berth's own config.json with Docker's
//! defaults: seccomp profile, masked paths, capabilities, namespaces), in
//! the same run. Prints both medians and their ratio.
//!
//! The peer is crun (Debian's) where cgroup v2 is the only hierarchy (the
//! test bed, like berth's VM); on a hybrid cgroup-v1 host like the
//! development machine crun refuses to run (see DESIGN.md), so there the
//! peer is runc.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::error::{Error, IoContext, Result};
use crate::{paths, process};

/// The OCI runtime berth is compared with; both take `run --bundle B ID`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Peer {
    Runc,
    Crun,
}

impl Peer {
    pub fn name(self) -> &'static str {
        match self {
            Peer::Runc => "runc",
            Peer::Crun => "crun",
        }
    }

    /// crun where the unified hierarchy is the only one, runc otherwise.
    pub fn for_this_host() -> Peer {
        if Path::new("/sys/fs/cgroup/cgroup.subtree_control").exists() { Peer::Crun } else { Peer::Runc }
    }
}

/// Medians in milliseconds and berth's ratio to the peer (goal ≤ 1.0).
pub struct RuntimeBench {
    pub berth_ms: f64,
    pub peer_ms: f64,
    pub ratio: f64,
}

pub fn runtime_level(rounds: usize, peer: Peer) -> Result<RuntimeBench> {
    let name = peer.name();
    let peer_exe = which(name).ok_or_else(|| Error::Missing {
        what: name.into(),
        fix: format!("apt-get install {name} (the peer of the runtime-level bench)"),
    })?;
    let agent = agent_binary()?;
    let work = tempfile::tempdir().at(std::env::temp_dir())?;
    let rootfs = work.path().join("rootfs");
    busybox_rootfs(&rootfs)?;
    // berth's warm-up round writes its own bundle here: the peer runs the
    // same config.json (Docker's defaults) on the same rootfs.
    let bundle = work.path().join("bundle");

    let rounds = rounds.max(1);
    let mut berth = Vec::with_capacity(rounds);
    let mut phases: Vec<[f64; 4]> = Vec::with_capacity(rounds);
    let mut peer = Vec::with_capacity(rounds);
    // Interleaved, round by round (`--step`: one round per line on its
    // stdin), so both see the same load on a shared host; one warm-up
    // round each, which also writes the peer's bundle.
    let mut child = Command::new(&agent)
        .arg("bench-runtime")
        .arg("--layer")
        .arg(&rootfs)
        .arg("--peer-bundle")
        .arg(&bundle)
        .arg("--step")
        .args(["--rounds", &(rounds + 1).to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| Error::Command { command: "berth-agent bench-runtime".into(), detail: e.to_string() })?;
    let (Some(mut to_berth), Some(from_berth)) = (child.stdin.take(), child.stdout.take()) else {
        return Err(Error::Invalid("bench-runtime: no pipes".into()));
    };
    let mut from_berth = std::io::BufReader::new(from_berth);
    for round in 0..=rounds {
        let (total, parts) = berth_round(&mut to_berth, &mut from_berth)?;
        let ms = peer_round(&peer_exe, name, &bundle, round)?;
        if round > 0 {
            berth.push(total);
            phases.push(parts);
            peer.push(ms);
        }
    }
    drop(to_berth);
    let status = child.wait().map_err(|e| Error::Command { command: "bench-runtime".into(), detail: e.to_string() })?;
    if !status.success() {
        return Err(Error::Command { command: "berth-agent bench-runtime".into(), detail: status.to_string() });
    }
    let (berth_ms, peer_ms) = (median(&mut berth), median(&mut peer));
    let ratio = berth_ms / peer_ms;
    let phase = |i: usize| median(&mut phases.iter().map(|p| p[i]).collect::<Vec<_>>());
    println!(
        "runtime create+start+wait(+delete) of busybox `true`, same bundle ({rounds} rounds interleaved, medians):"
    );
    println!("  berth (shim + libcontainer): {berth_ms:8.2} ms   rounds {:?}", round2(&berth));
    println!(
        "    phases: create {:.1}  start {:.1}  wait {:.1}  delete {:.1} ms",
        phase(0),
        phase(1),
        phase(2),
        phase(3)
    );
    println!("  {name} {:<23} {peer_ms:8.2} ms   rounds {:?}", "(Debian):", round2(&peer));
    println!("  ratio berth/{name}: {ratio:.2} (goal ≤ 1.0)");
    Ok(RuntimeBench { berth_ms, peer_ms, ratio })
}

/// One round of `bench-runtime --step`: its total and its four phases
/// (create, start, wait, delete) in milliseconds.
fn berth_round(to: &mut impl std::io::Write, from: &mut impl std::io::BufRead) -> Result<(f64, [f64; 4])> {
    let broken = |e: std::io::Error| Error::Command { command: "bench-runtime".into(), detail: e.to_string() };
    to.write_all(b"go\n").and_then(|()| to.flush()).map_err(broken)?;
    let mut line = String::new();
    if from.read_line(&mut line).map_err(broken)? == 0 {
        return Err(Error::Invalid("bench-runtime ended early (see its stderr)".into()));
    }
    parse_round(&line).ok_or_else(|| Error::Invalid(format!("bench-runtime printed {line:?}")))
}

/// `round <n> <total> create <ms> start <ms> wait <ms> delete <ms>`.
fn parse_round(line: &str) -> Option<(f64, [f64; 4])> {
    let w: Vec<&str> = line.strip_prefix("round ")?.split_whitespace().collect();
    let num = |i: usize| w.get(i).and_then(|v| v.parse::<f64>().ok());
    Some((num(1)?, [num(3)?, num(5)?, num(7)?, num(9)?]))
}

fn peer_round(exe: &Path, name: &str, bundle: &Path, round: usize) -> Result<f64> {
    let id = format!("berth-bench-{name}-{}-{round}", std::process::id());
    let t = Instant::now();
    let status = Command::new(exe)
        .args(["run", "--bundle"])
        .arg(bundle)
        .arg(&id)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .status()
        .map_err(|e| Error::Command { command: format!("{name} run"), detail: e.to_string() })?;
    let ms = t.elapsed().as_secs_f64() * 1000.0;
    if !status.success() {
        return Err(Error::Command { command: format!("{name} run {id}"), detail: status.to_string() });
    }
    Ok(ms)
}

fn round2(v: &[f64]) -> Vec<f64> {
    v.iter().map(|x| (x * 10.0).round() / 10.0).collect()
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 }
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?.to_str()?.split(':').map(|d| Path::new(d).join(name)).find(|p| p.is_file())
}

/// The release agent (built here unless `BERTH_AGENT_BIN` names one).
pub fn agent_binary() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("BERTH_AGENT_BIN") {
        return Ok(PathBuf::from(p));
    }
    process::run(Command::new(env!("CARGO")).args(["build", "--release", "-p", "berth-agent"]))?;
    Ok(paths::target_dir().join("release/berth-agent"))
}

/// Debian's static busybox and its applet links: the same tree is berth's
/// only layer and the peer's rootfs.
fn busybox_rootfs(root: &Path) -> Result<()> {
    for sub in ["bin", "etc", "tmp", "proc", "sys", "dev", "root"] {
        std::fs::create_dir_all(root.join(sub)).at(root.join(sub))?;
    }
    let busybox = Path::new("/bin/busybox");
    if !busybox.exists() {
        return Err(Error::Missing { what: "/bin/busybox".into(), fix: "apt-get install busybox-static".into() });
    }
    std::fs::copy(busybox, root.join("bin/busybox")).at(root.join("bin/busybox"))?;
    let list = process::output(Command::new(busybox).arg("--list"))?;
    for applet in list.lines().filter(|a| *a != "busybox") {
        let link = root.join("bin").join(applet);
        if !link.exists() {
            std::os::unix::fs::symlink("busybox", &link).at(&link)?;
        }
    }
    std::fs::write(root.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").at(root.join("etc/passwd"))?;
    std::fs::write(root.join("etc/group"), "root:x:0:\n").at(root.join("etc/group"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_lines_parse_and_bad_ones_do_not() {
        let (total, p) =
            parse_round("round 3 120.50 create 10.00 start 60.25 wait 5.00 delete 45.25\n").expect("parses");
        assert_eq!((total, p), (120.5, [10.0, 60.25, 5.0, 45.25]));
        assert!(parse_round("round 3 120.50").is_none(), "an agent without phases is refused");
        assert!(parse_round("error: x").is_none());
    }
}
