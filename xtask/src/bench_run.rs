//! `cargo xtask bench run`, runtime half: create + start + wait of the same
//! busybox `true` container through berth's runtime (the real shim and
//! libcontainer, via `berth-agent bench-runtime`) against runc (Debian's;
//! crun refuses this host's hybrid cgroup layout, see DESIGN.md) running
//! the same bundle (berth's own config.json with Docker's defaults: seccomp
//! profile, masked paths, capabilities, namespaces), in the same run.
//! Prints both medians and their ratio.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::error::{Error, IoContext, Result};
use crate::{paths, process};

/// Medians in milliseconds and berth's ratio to runc (goal ≤ 1.0).
pub struct RuntimeBench {
    pub berth_ms: f64,
    pub runc_ms: f64,
    pub ratio: f64,
}

pub fn runtime_level(rounds: usize) -> Result<RuntimeBench> {
    let runc = which("runc").ok_or_else(|| Error::Missing {
        what: "runc".into(),
        fix: "apt-get install runc (the peer of the runtime-level bench)".into(),
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
    let mut peer = Vec::with_capacity(rounds);
    // One warm-up each; berth's rounds, then the peer's.
    let berth_out = process::output(
        Command::new(&agent)
            .arg("bench-runtime")
            .arg("--layer")
            .arg(&rootfs)
            .arg("--peer-bundle")
            .arg(&bundle)
            .args(["--rounds", &(rounds + 1).to_string()]),
    )?;
    let mut berth_rounds: Vec<f64> = berth_out
        .lines()
        .filter_map(|l| l.strip_prefix("round ").and_then(|r| r.split_whitespace().nth(1)).and_then(|v| v.parse().ok()))
        .collect();
    if berth_rounds.len() != rounds + 1 {
        return Err(Error::Invalid(format!(
            "bench-runtime printed {} rounds, expected {}",
            berth_rounds.len(),
            rounds + 1
        )));
    }
    berth_rounds.remove(0);
    berth.extend(berth_rounds);
    for round in 0..=rounds {
        let id = format!("berth-bench-runc-{}-{round}", std::process::id());
        let t = Instant::now();
        let status = Command::new(&runc)
            .args(["run", "--bundle"])
            .arg(&bundle)
            .arg(&id)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .status()
            .map_err(|e| Error::Command { command: "runc run".into(), detail: e.to_string() })?;
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        if !status.success() {
            return Err(Error::Command { command: format!("runc run {id}"), detail: status.to_string() });
        }
        if round > 0 {
            peer.push(ms);
        }
    }
    let (berth_ms, runc_ms) = (median(&mut berth), median(&mut peer));
    let ratio = berth_ms / runc_ms;
    println!("runtime create+start+wait of busybox `true` ({rounds} rounds, medians):");
    println!("  berth (shim + libcontainer): {berth_ms:8.2} ms   rounds {:?}", round2(&berth));
    println!("  runc {:<23} {runc_ms:8.2} ms   rounds {:?}", "(Debian):", round2(&peer));
    println!("  ratio berth/runc: {ratio:.2} (goal ≤ 1.0)");
    Ok(RuntimeBench { berth_ms, runc_ms, ratio })
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
fn agent_binary() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("BERTH_AGENT_BIN") {
        return Ok(PathBuf::from(p));
    }
    process::run(Command::new(env!("CARGO")).args(["build", "--release", "-p", "berth-agent"]))?;
    Ok(paths::target_dir().join("release/berth-agent"))
}

/// Debian's static busybox and its applet links: the same tree is berth's
/// only layer and runc's rootfs.
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
