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
use std::path::Path;
use std::process::Command;

use sha2::{Digest, Sha256};

use crate::bench_engine::{Engine, build_agent, docker_cli, missing, podman, require, timed};
use crate::error::{IoContext, Result};
use crate::guest_boot::median;
use crate::process;

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
    let podman = |args: &[&str]| podman(&podman_root, args);
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
    let config = work.path().join("docker-config");
    let docker_cmd = |args: &[&str]| engine.docker(&docker, &config, args);
    process::output(&mut docker_cmd(&["pull", "-q", &remote]))?;
    process::output(&mut docker_cmd(&["tag", &remote, "busybox:latest"]))?;

    let measured = measure(rounds, docker_cmd(&["run", "--rm", "busybox", "true"]), {
        let mut c = podman(&["run", "--rm"]);
        c.args(PODMAN_RUN_FLAGS).args(["busybox", "true"]);
        c
    });
    if measured.is_err() {
        engine.print_log_tail();
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
