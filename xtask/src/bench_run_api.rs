//! `cargo xtask bench run`, the API half: `docker run --rm busybox true`
//! through berth's Docker API (the engine as a daemon on this host, in
//! process mode, driven by the real docker CLI) against Debian's podman
//! doing the same, interleaved in the same run; prints the medians and the
//! ratio berth/podman (goal ≤ 0.5).
//!
//! Both get the same one-layer busybox image, built here from Debian's
//! static `/bin/busybox`: podman loads it as a docker-archive, berth pulls
//! it from a Debian `docker-registry` on loopback (skopeo pushes it there).
//! Podman runs with the only flags that work on this host (DESIGN.md).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::error::{Error, IoContext, Result};
use crate::guest_boot::median;
use crate::{paths, process};

/// Podman's flags on a host with cgroup v1 controllers and a 20000 hard
/// limit on open files (DESIGN.md, "This machine").
const PODMAN_FLAGS: &[&str] = &["--runtime", "runc", "--cgroup-manager", "cgroupfs"];
const PODMAN_RUN_FLAGS: &[&str] = &["--network", "none", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"];

pub fn run(rounds: usize) -> Result<()> {
    for (tool, pkg) in
        [("podman", "podman"), ("runc", "runc"), ("skopeo", "skopeo"), ("docker-registry", "docker-registry")]
    {
        require(tool, pkg)?;
    }
    if !Path::new("/bin/busybox").exists() {
        return Err(missing("/bin/busybox", "busybox-static"));
    }
    let docker = docker_cli()?;
    let agent = build_agent()?;
    let work = tempfile::tempdir().at(std::env::temp_dir())?;
    let archive = work.path().join("busybox.tar");
    busybox_archive(work.path(), &archive)?;

    // podman: its own storage, so nothing on the host is touched.
    let podman_root = work.path().join("podman");
    let podman = |args: &[&str]| {
        let mut c = Command::new("podman");
        c.args(PODMAN_FLAGS)
            .arg("--root")
            .arg(podman_root.join("storage"))
            .arg("--runroot")
            .arg(podman_root.join("run"))
            .args(args);
        c
    };
    process::output(&mut podman(&["load", "-q", "-i", &archive.to_string_lossy()]))?;

    // berth: the engine as a daemon, busybox pulled through its API.
    let registry = berth_test_support::registry::TestRegistry::try_start().at("docker-registry")?;
    let remote = format!("{}/busybox:latest", registry.host);
    process::output(
        Command::new("skopeo")
            .args(["copy", "--quiet", "--dest-tls-verify=false"])
            .arg(format!("docker-archive:{}", archive.display()))
            .arg(format!("docker://{remote}")),
    )?;
    let engine = Engine::start(&agent, work.path())?;
    let docker_cmd = |args: &[&str]| {
        let mut c = Command::new(&docker);
        c.args(args)
            .env("DOCKER_HOST", format!("unix://{}", engine.sock.display()))
            .env("DOCKER_CONFIG", work.path().join("docker-config"));
        c
    };
    process::output(&mut docker_cmd(&["pull", "-q", &remote]))?;
    process::output(&mut docker_cmd(&["tag", &remote, "busybox:latest"]))?;

    let measured = measure(rounds, docker_cmd(&["run", "--rm", "busybox", "true"]), {
        let mut c = podman(&["run", "--rm"]);
        c.args(PODMAN_RUN_FLAGS).args(["busybox", "true"]);
        c
    });
    if measured.is_err() {
        let log = std::fs::read_to_string(work.path().join("engine.log")).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(20).collect();
        eprintln!("engine log (last lines):");
        for l in tail.iter().rev() {
            eprintln!("  {l}");
        }
    }
    // Shims outlive the engine by design: remove what is left through it.
    if let Ok(ids) = process::output(&mut docker_cmd(&["ps", "-aq"])) {
        for id in ids.split_whitespace() {
            let _ = process::output(&mut docker_cmd(&["rm", "-f", id]));
        }
    }
    drop(engine);
    drop(registry);
    measured
}

fn measure(rounds: usize, mut run_berth: Command, mut run_podman: Command) -> Result<()> {
    // One unmeasured round each: caches, page cache, first-run setup.
    timed(&mut run_berth)?;
    timed(&mut run_podman)?;
    let (mut b, mut p) = (Vec::new(), Vec::new());
    for round in 1..=rounds {
        let tb = timed(&mut run_berth)?;
        let tp = timed(&mut run_podman)?;
        println!("round {round}: berth {:.1} ms, podman {:.1} ms", tb * 1e3, tp * 1e3);
        b.push(tb);
        p.push(tp);
    }
    let (mb, mp) = (median(b.into_iter()), median(p.into_iter()));
    println!("median of {rounds}: docker run --rm busybox true: berth {:.1} ms, podman {:.1} ms", mb * 1e3, mp * 1e3);
    println!("ratio berth/podman: {:.2} (goal <= 0.5)", mb / mp);
    Ok(())
}

fn timed(cmd: &mut Command) -> Result<f64> {
    let t = Instant::now();
    process::output(cmd)?;
    Ok(t.elapsed().as_secs_f64())
}

fn missing(what: &str, pkg: &str) -> Error {
    Error::Missing { what: what.into(), fix: format!("apt-get install {pkg}") }
}

fn require(tool: &str, pkg: &str) -> Result<()> {
    let found = std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()));
    if found { Ok(()) } else { Err(missing(tool, pkg)) }
}

fn docker_cli() -> Result<PathBuf> {
    ["/usr/local/bin/docker", "/usr/bin/docker"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .ok_or_else(|| missing("the docker CLI", "docker.io"))
}

/// The engine as users run it: a release build.
fn build_agent() -> Result<PathBuf> {
    process::run(
        Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .current_dir(paths::workspace_root())
            .args(["build", "--release", "-p", "berth-agent"]),
    )?;
    Ok(paths::target_dir().join("release/berth-agent"))
}

struct Engine {
    child: Child,
    sock: PathBuf,
}

impl Engine {
    fn start(agent: &Path, dir: &Path) -> Result<Engine> {
        let sock = dir.join("docker.sock");
        let log = std::fs::File::create(dir.join("engine.log")).at(dir.join("engine.log"))?;
        let child = Command::new(agent)
            .arg("--listen")
            .arg(format!("unix://{}", sock.display()))
            .arg("--root")
            // Short: the runtime's per-container socket paths hang off it
            // and must fit in a sockaddr_un (108 bytes).
            .arg(dir.join("r"))
            .args(["--network-plumbing", "off"])
            .env("BERTH_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .at(agent)?;
        let engine = Engine { child, sock };
        wait_until(Duration::from_secs(30), || std::os::unix::net::UnixStream::connect(&engine.sock).is_ok())
            .map_err(|()| Error::Invalid("the engine did not listen within 30 s".into()))?;
        Ok(engine)
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        // SIGTERM: the engine removes its socket on the way out.
        let _ = Command::new("kill").arg(self.child.id().to_string()).status();
        let _ = wait_until(Duration::from_secs(10), || matches!(self.child.try_wait(), Ok(Some(_))));
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_until(limit: Duration, mut ready: impl FnMut() -> bool) -> std::result::Result<(), ()> {
    let deadline = Instant::now() + limit;
    while !ready() {
        if Instant::now() > deadline {
            return Err(());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

fn sha256_file(p: &Path) -> Result<String> {
    let bytes = std::fs::read(p).at(p)?;
    Ok(hex::encode(Sha256::digest(&bytes)))
}

/// A one-layer busybox image as a docker-archive tar: the static binary,
/// its applet links, /etc/passwd and /etc/group. Built with GNU tar.
fn busybox_archive(work: &Path, out: &Path) -> Result<()> {
    let rootfs = work.join("busybox-rootfs");
    for d in ["bin", "etc", "tmp", "root", "proc", "sys", "dev"] {
        std::fs::create_dir_all(rootfs.join(d)).at(rootfs.join(d))?;
    }
    std::fs::copy("/bin/busybox", rootfs.join("bin/busybox")).at("/bin/busybox")?;
    let applets = process::output(Command::new("/bin/busybox").arg("--list"))?;
    for a in applets.lines().filter(|a| !a.is_empty() && *a != "busybox") {
        let link = rootfs.join("bin").join(a);
        std::os::unix::fs::symlink("busybox", &link).at(&link)?;
    }
    std::fs::write(rootfs.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").at(rootfs.join("etc/passwd"))?;
    std::fs::write(rootfs.join("etc/group"), "root:x:0:\n").at(rootfs.join("etc/group"))?;
    let stage = work.join("busybox-archive");
    std::fs::create_dir_all(&stage).at(&stage)?;
    let layer = stage.join("layer.tar");
    process::output(
        Command::new("tar")
            .args(["--owner=0", "--group=0", "--numeric-owner", "-C"])
            .arg(&rootfs)
            .arg("-cf")
            .arg(&layer)
            .arg("."),
    )?;
    let diff_id = sha256_file(&layer)?;
    let config = format!(
        r#"{{"architecture":"amd64","os":"linux","config":{{"Cmd":["sh"],"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]}},"rootfs":{{"type":"layers","diff_ids":["sha256:{diff_id}"]}}}}"#
    );
    let config_name = format!("{}.json", hex::encode(Sha256::digest(config.as_bytes())));
    std::fs::write(stage.join(&config_name), &config).at(stage.join(&config_name))?;
    let manifest = format!(r#"[{{"Config":"{config_name}","RepoTags":["busybox:latest"],"Layers":["layer.tar"]}}]"#);
    let mut f = std::fs::File::create(stage.join("manifest.json")).at(stage.join("manifest.json"))?;
    f.write_all(manifest.as_bytes()).at(stage.join("manifest.json"))?;
    process::output(Command::new("tar").arg("-C").arg(&stage).arg("-cf").arg(out).args([
        "manifest.json",
        &config_name,
        "layer.tar",
    ]))?;
    Ok(())
}
