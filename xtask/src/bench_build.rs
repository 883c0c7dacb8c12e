//! `cargo xtask bench build`: the classic builder (`docker build` through
//! berth's engine as a daemon, process mode, the real docker CLI with
//! `DOCKER_BUILDKIT=0`) against `podman build` (buildah) on the same
//! context and Dockerfile, in the same run, rounds interleaved. Prints
//! each round, the medians per phase and the ratios berth/podman.
//!
//! The Dockerfile has three stages `FROM` the Debian fixture, RUN steps in
//! each and a COPY of the fixture's whole tree (~6,600 files) into the
//! middle one, whose result the last stage copies. Three phases a round:
//! a cold build into a fresh engine root and a fresh podman store (the
//! base image loaded into both beforehand, untimed), a rebuild with
//! nothing changed (every step from the cache), and a rebuild after one
//! file of the tree changed (the COPY and every later step run again).
//! The goals (issue 18): cold ≤ 0.8, no change ≤ 0.3, one file ≤ 0.5.
//!
//! Each phase checks what it measured: the no-change rebuild gives the
//! cold build's image ID on both sides, the one-file rebuild a new one
//! (the last stage copies the changed file, so its image changes too).
//! Every build starts after a `sync` (untimed): an fsync in one build
//! would otherwise wait for the writeback of the build before it.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::bench_engine::{Engine, build_agent, docker_cli, podman, require, timed};
use crate::error::{Error, IoContext, Result};
use crate::fixtures;
use crate::guest_boot::median;
use crate::process;

const DOCKERFILE: &str = r#"FROM docker.io/library/debian:bookworm AS base
RUN mkdir -p /opt/app && echo base > /opt/app/stage
ENV APP_HOME=/opt/app

FROM base AS tree
COPY tree /opt/tree
RUN find /opt/tree | wc -l > /opt/app/count

FROM docker.io/library/debian:bookworm
COPY --from=tree /opt/app/count /opt/tree/etc/berth-bench-marker /
RUN test -s /count && echo "files: $(cat /count), $(cat /berth-bench-marker)"
CMD ["cat", "/count"]
"#;

const TAG: &str = "bench/build:latest";
/// The one file the third phase changes, inside the copied tree.
const MARKER: &str = "tree/etc/berth-bench-marker";

/// podman's limits on this host (see bench_engine's PODMAN_FLAGS).
const PODMAN_BUILD_FLAGS: &[&str] =
    &["--network", "none", "--layers", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"];

const PHASES: [(&str, f64); 3] = [("cold", 0.8), ("no change", 0.3), ("one file changed", 0.5)];

pub fn run(rounds: usize) -> Result<()> {
    for (tool, pkg) in [("podman", "podman"), ("runc", "runc"), ("tar", "tar")] {
        require(tool, pkg)?;
    }
    let docker = docker_cli()?;
    let agent = build_agent()?;
    let archive = fixtures::build(fixtures::Set::All)?
        .debian
        .ok_or_else(|| Error::Invalid("the Debian fixture needs root (debootstrap)".into()))?;
    let work = tempfile::tempdir().at(std::env::temp_dir())?;
    let ctx = work.path().join("ctx");
    let files = context(&archive, work.path(), &ctx)?;
    println!("context: {files} files from {} and a three-stage Dockerfile", archive.display());

    let rounds = rounds.max(1);
    let mut berth: [Vec<f64>; 3] = Default::default();
    let mut peer: [Vec<f64>; 3] = Default::default();
    for round in 1..=rounds {
        let dir = tempfile::tempdir_in(work.path()).at(work.path())?;
        let b = Berth::new(&agent, &docker, &archive, dir.path())?;
        let p = Podman::new(&archive, dir.path())?;
        let mut ids: [(String, String); 3] = Default::default();
        for (phase, (name, _)) in PHASES.iter().enumerate() {
            let marker = if phase < 2 { format!("round {round}\n") } else { format!("round {round}, changed\n") };
            std::fs::write(ctx.join(MARKER), marker).at(ctx.join(MARKER))?;
            // Alternate who goes first, so neither always gets the warm page
            // cache; each build starts with the disk written back (untimed),
            // so none pays for the writeback of the build before it.
            let (tb, tp) = if (round + phase) % 2 == 0 {
                settle()?;
                let tb = b.build(&ctx)?;
                settle()?;
                (tb, p.build(&ctx)?)
            } else {
                settle()?;
                let tp = p.build(&ctx)?;
                settle()?;
                (b.build(&ctx)?, tp)
            };
            ids[phase] = (b.last_id()?, p.last_id()?);
            println!("round {round}, {name}: berth {tb:.2} s, podman {tp:.2} s");
            berth[phase].push(tb);
            peer[phase].push(tp);
        }
        check_ids(&ids)?;
        drop(b);
        drop(p);
    }
    println!("medians of {rounds} rounds:");
    for (i, (name, goal)) in PHASES.iter().enumerate() {
        let (mb, mp) = (median(berth[i].iter().copied()), median(peer[i].iter().copied()));
        println!("  {name:<17} berth {mb:6.2} s   podman {mp:6.2} s   ratio {:.2} (goal <= {goal})", mb / mp);
    }
    Ok(())
}

/// The no-change rebuild gave the cold build's image; the one-file rebuild
/// a different one (on each side).
fn check_ids(ids: &[(String, String); 3]) -> Result<()> {
    for (side, pick) in [("berth", 0), ("podman", 1)] {
        let id = |i: usize| if pick == 0 { &ids[i].0 } else { &ids[i].1 };
        if id(0) != id(1) {
            return Err(Error::Invalid(format!("{side}: the rebuild with no change made {} (cold: {})", id(1), id(0))));
        }
        if id(2) == id(0) {
            return Err(Error::Invalid(format!("{side}: the rebuild after a change reused the cold image {}", id(0))));
        }
    }
    Ok(())
}

/// The context: the Debian fixture's tree (its one layer, unpacked) under
/// `tree/`, and the Dockerfile. Returns how many entries the tree has.
fn context(archive: &Path, work: &Path, ctx: &Path) -> Result<usize> {
    let layer = &crate::fixtures::archive::first_layer(archive)?;
    let unpacked = work.join("archive");
    std::fs::create_dir_all(&unpacked).at(&unpacked)?;
    process::output(Command::new("tar").arg("-C").arg(&unpacked).arg("-xf").arg(archive).arg(layer))?;
    let tree = ctx.join("tree");
    std::fs::create_dir_all(&tree).at(&tree)?;
    process::output(
        Command::new("tar").arg("-C").arg(&tree).arg("--numeric-owner").arg("-xf").arg(unpacked.join(layer)),
    )?;
    std::fs::remove_dir_all(&unpacked).at(&unpacked)?;
    std::fs::write(ctx.join("Dockerfile"), DOCKERFILE).at(ctx.join("Dockerfile"))?;
    Ok(process::output(Command::new("find").arg(&tree))?.lines().count())
}

/// `sync`: what earlier builds left dirty is on disk before the next one.
fn settle() -> Result<()> {
    process::output(&mut Command::new("sync")).map(drop)
}

/// The image ID a build's `--iidfile` holds.
fn read_iid(path: &Path) -> Result<String> {
    Ok(std::fs::read_to_string(path).at(path)?.trim().to_string())
}

/// berth's side: a fresh engine with the base image loaded.
struct Berth {
    engine: Engine,
    docker: PathBuf,
    config: PathBuf,
    iid: PathBuf,
}

impl Berth {
    fn new(agent: &Path, docker: &Path, archive: &Path, dir: &Path) -> Result<Berth> {
        let engine = Engine::start(agent, &dir.join("berth"))?;
        let b = Berth { engine, docker: docker.into(), config: dir.join("docker-config"), iid: dir.join("berth.iid") };
        process::output(&mut b.cli(&["load", "-q", "-i", &archive.to_string_lossy()]))?;
        Ok(b)
    }

    fn cli(&self, args: &[&str]) -> Command {
        let mut c = self.engine.docker(&self.docker, &self.config, args);
        c.env("DOCKER_BUILDKIT", "0");
        c
    }

    fn build(&self, ctx: &Path) -> Result<f64> {
        let iid = self.iid.to_string_lossy().into_owned();
        let mut cmd =
            self.cli(&["build", "-q", "--network", "none", "--iidfile", &iid, "-t", TAG, &ctx.to_string_lossy()]);
        timed(&mut cmd).inspect_err(|_| self.engine.print_log_tail())
    }

    fn last_id(&self) -> Result<String> {
        read_iid(&self.iid)
    }
}

/// podman's side: a fresh store with the base image loaded.
struct Podman {
    root: PathBuf,
    iid: PathBuf,
}

impl Podman {
    fn new(archive: &Path, dir: &Path) -> Result<Podman> {
        let p = Podman { root: dir.join("podman"), iid: dir.join("podman.iid") };
        process::output(&mut podman(&p.root, &["load", "-q", "-i", &archive.to_string_lossy()]))?;
        Ok(p)
    }

    fn build(&self, ctx: &Path) -> Result<f64> {
        let iid = self.iid.to_string_lossy().into_owned();
        let mut cmd = podman(&self.root, &["build", "-q"]);
        cmd.args(PODMAN_BUILD_FLAGS).args(["--iidfile", &iid, "-t", TAG]).arg(ctx);
        timed(&mut cmd)
    }

    fn last_id(&self) -> Result<String> {
        read_iid(&self.iid)
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        // Its store's overlay mounts go with it (the tempdir is removed after).
        let _ = podman(&self.root, &["rmi", "-a", "-f"]).output();
        let _ = Command::new("umount").arg("-R").arg(self.root.join("storage/overlay")).output();
    }
}
