//! `cargo xtask bench pull`: pulling and unpacking a multi-layer image from
//! a loopback registry — berth's engine (through its API, in process mode)
//! against `skopeo copy docker://… oci:…` followed by `umoci unpack`
//! (Debian's skopeo and umoci), in the same run, rounds interleaved. Prints
//! each round, the medians and the ratio berth/peer (the goal is ≤ 0.7).
//!
//! The image is the four-layer Debian fixture, pushed once by skopeo (so
//! its layers are gzip, as on any registry). Each round starts from empty
//! state on both sides: a fresh engine root, a fresh OCI layout and bundle.
//! Only the pull is timed for berth (the engine is started and answering
//! before the clock starts), and copy + unpack for the peer.

use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::error::{Error, IoContext, Result};
use crate::fixtures::{self, debian};
use crate::guest_boot::median;
use crate::{images, prereq, process};

const IMAGE: &str = "bench/debian-layered:bookworm";

pub fn run(rounds: usize) -> Result<()> {
    let skopeo = prereq::tool("skopeo", "skopeo")?;
    let umoci = prereq::tool("umoci", "umoci")?;
    let registry_bin = prereq::tool("docker-registry", "docker-registry")?;
    let fixtures = fixtures::build(fixtures::Set::All)?;
    let archive =
        fixtures.debian_layered.ok_or_else(|| Error::Invalid("the layered Debian fixture is missing".into()))?;
    let agent = images::agent::build_static()?;
    let work = tempfile::tempdir().at(std::env::temp_dir())?;
    let registry = Registry::start(&registry_bin, work.path())?;
    let reference = format!("{}/{IMAGE}", registry.host);
    process::output(
        Command::new(&skopeo)
            .args(["copy", "--quiet", "--dest-tls-verify=false"])
            .arg(format!("docker-archive:{}:{}", archive.display(), debian::LAYERED_TAG))
            .arg(format!("docker://{reference}")),
    )?;
    println!("image: {reference} (4 gzip layers, from {})", archive.display());

    let (mut berth_times, mut peer_times) = (Vec::new(), Vec::new());
    let (mut berth_cpu, mut peer_cpu) = (Vec::new(), Vec::new());
    for round in 1..=rounds {
        // Alternate who goes first, so neither always gets a warm page cache;
        // each starts on a synced disk, or one contender's fsync would pay
        // for the other's dirty pages.
        let (b, p) = if round % 2 == 1 {
            let b = berth_pull(&agent, work.path(), &reference)?;
            (b, peer_pull(&skopeo, &umoci, work.path(), &reference)?)
        } else {
            let p = peer_pull(&skopeo, &umoci, work.path(), &reference)?;
            (berth_pull(&agent, work.path(), &reference)?, p)
        };
        println!(
            "round {round}: berth pull {:.3} s (cpu {:.2} s), skopeo copy + umoci unpack {:.3} s (cpu {:.2} s)",
            b.wall, b.cpu, p.wall, p.cpu
        );
        berth_times.push(b.wall);
        peer_times.push(p.wall);
        berth_cpu.push(b.cpu);
        peer_cpu.push(p.cpu);
    }
    let (b, p) = (median(berth_times.into_iter()), median(peer_times.into_iter()));
    let (bc, pc) = (median(berth_cpu.into_iter()), median(peer_cpu.into_iter()));
    println!("median of {rounds}: berth {b:.3} s (cpu {bc:.2} s), skopeo+umoci {p:.3} s (cpu {pc:.2} s)");
    println!("ratio berth/peer: {:.2} wall (goal <= 0.7), {:.2} cpu", b / p, bc / pc);
    Ok(())
}

/// Wall-clock and CPU (user + system) seconds of one contender's round.
/// CPU time is what to read on a busy machine: wall time there mostly
/// measures the neighbours.
struct Took {
    wall: f64,
    cpu: f64,
}

/// One pull into a fresh engine: start it, wait for /_ping, then time
/// `POST /images/create` to the end of its reply; CPU from the engine's
/// /proc/PID/stat before and after.
fn berth_pull(agent: &Path, work: &Path, reference: &str) -> Result<Took> {
    let dir = tempfile::tempdir_in(work).at(work)?;
    let sock = dir.path().join("engine.sock");
    let child = Command::new(agent)
        .arg("--listen")
        .arg(format!("unix://{}", sock.display()))
        .arg("--root")
        .arg(dir.path().join("root"))
        .args(["--network-plumbing", "off"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| Error::Command { command: agent.display().to_string(), detail: e.to_string() })?;
    let _engine = KillOnDrop(child);
    let deadline = Instant::now() + Duration::from_secs(20);
    while UnixStream::connect(&sock).is_err() {
        if Instant::now() > deadline {
            return Err(Error::Invalid(format!("the engine did not listen on {}", sock.display())));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let (name, tag) = reference.rsplit_once(':').unwrap_or((reference, "latest"));
    let pid = _engine.0.id();
    let cpu_before = process_cpu(pid)?;
    sync_disks();
    let started = Instant::now();
    let reply = http_post(&sock, &format!("/images/create?fromImage={name}&tag={tag}"))?;
    let took = Took { wall: started.elapsed().as_secs_f64(), cpu: process_cpu(pid)? - cpu_before };
    if !reply.contains("Downloaded newer image") || reply.contains("\"error\"") {
        let tail: String = reply.chars().rev().take(400).collect::<Vec<_>>().into_iter().rev().collect();
        return Err(Error::Invalid(format!("berth's pull failed: {tail}")));
    }
    Ok(took)
}

/// skopeo into a fresh OCI layout, then umoci into a fresh bundle; CPU
/// from the rusage of reaped children (nothing else is reaped meanwhile).
fn peer_pull(skopeo: &Path, umoci: &Path, work: &Path, reference: &str) -> Result<Took> {
    let dir = tempfile::tempdir_in(work).at(work)?;
    // The placement hint berth's store gives its unpack directory (see
    // guest-agent's fsutil::spread_subdirs), given to the peer's too: the
    // ratio then compares the tools, not where ext4 puts their inodes.
    let _ = Command::new("chattr").arg("+T").arg(dir.path()).status();
    let layout = dir.path().join("oci");
    let cpu_before = children_cpu();
    sync_disks();
    let started = Instant::now();
    process::output(
        Command::new(skopeo)
            .args(["copy", "--quiet", "--src-tls-verify=false"])
            .arg(format!("docker://{reference}"))
            .arg(format!("oci:{}:bench", layout.display())),
    )?;
    process::output(
        Command::new(umoci)
            .arg("unpack")
            .arg("--image")
            .arg(format!("{}:bench", layout.display()))
            .arg(dir.path().join("bundle")),
    )?;
    Ok(Took { wall: started.elapsed().as_secs_f64(), cpu: children_cpu() - cpu_before })
}

fn sync_disks() {
    // SAFETY: sync(2) has no preconditions.
    unsafe { libc::sync() };
}

/// utime + stime of a live process, in seconds.
fn process_cpu(pid: u32) -> Result<f64> {
    let path = format!("/proc/{pid}/stat");
    let stat = std::fs::read_to_string(&path).at(&path)?;
    // Fields after the `(comm)`, which may contain spaces: state is 3rd.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    Ok((ticks(11) + ticks(12)) / hz.max(1.0))
}

/// user + system seconds of all reaped children so far.
fn children_cpu() -> f64 {
    // SAFETY: zeroed rusage is a valid value; getrusage only writes to it.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: a valid pointer to a rusage owned by this frame.
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut ru) };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(ru.ru_utime) + secs(ru.ru_stime)
}

/// `POST path` to the engine on `sock`, its reply body as text, read to
/// the end (no timeout: the pull takes as long as it takes).
fn http_post(sock: &Path, path: &str) -> Result<String> {
    let client = berth_http::blocking::Client::new(berth_http::Endpoint::Unix(sock.to_path_buf()))?;
    // Pull progress is a few JSON lines a layer; far below this.
    let reply = client.send(berth_http::Request::post(path), 64 << 20)?;
    Ok(reply.text())
}

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Debian's docker-registry on a free loopback port, storage under `work`.
struct Registry {
    _child: KillOnDrop,
    host: String,
}

impl Registry {
    fn start(bin: &Path, work: &Path) -> Result<Registry> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .at("127.0.0.1:0")?;
        let host = format!("127.0.0.1:{port}");
        let storage: PathBuf = work.join("registry");
        let config = work.join("registry.yml");
        let text = format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {host}\n",
            storage.display()
        );
        std::fs::write(&config, text).at(&config)?;
        let child = Command::new(bin)
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| Error::Command { command: bin.display().to_string(), detail: e.to_string() })?;
        let reg = Registry { _child: KillOnDrop(child), host };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(&reg.host).is_err() {
            if Instant::now() > deadline {
                return Err(Error::Invalid(format!("docker-registry did not listen on {}", reg.host)));
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        Ok(reg)
    }
}
