//! `berth-agent bench-runtime --layer DIR --rounds N [--peer-bundle DIR]`
//! (hidden): times create + start + wait (+ delete) of a `true` container
//! through the real shim, for `cargo xtask bench run`. With
//! `--peer-bundle`, the first round's bundle (its `config.json`, with the
//! layer itself as the root and the /etc files copied beside it) is written
//! there so the peer runtime runs the very same spec: Docker's defaults
//! (seccomp profile, masked paths, capabilities, cgroup namespace). Prints
//! one line per round:
//! `round <n> <milliseconds> create <ms> start <ms> wait <ms> delete <ms>`.
//! With `--step`, each round waits for a line on stdin first (and EOF ends
//! the run), so the caller can interleave the peer's rounds with berth's
//! and both see the same load.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use bollard_stubs::models::{ContainerConfig, HostConfig, ImageConfig};

use super::{ContainerRequest, Runtime};

pub fn main(args: Vec<std::ffi::OsString>) -> ExitCode {
    let mut layer = None;
    let mut peer_bundle = None;
    let mut rounds = 5usize;
    let mut step = false;
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        match a.to_str() {
            Some("--layer") => layer = it.next().map(PathBuf::from),
            Some("--peer-bundle") => peer_bundle = it.next().map(PathBuf::from),
            Some("--step") => step = true,
            Some("--rounds") => rounds = it.next().and_then(|r| r.to_str()?.parse().ok()).unwrap_or(rounds),
            _ => {
                eprintln!("usage: berth-agent bench-runtime --layer DIR [--rounds N] [--peer-bundle DIR] [--step]");
                return ExitCode::from(2);
            }
        }
    }
    let Some(layer) = layer else {
        eprintln!("bench-runtime: --layer DIR is required");
        return ExitCode::from(2);
    };
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bench-runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(layer, rounds, peer_bundle, step)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(
    layer: PathBuf,
    rounds: usize,
    mut peer_bundle: Option<PathBuf>,
    step: bool,
) -> Result<(), super::RuntimeError> {
    let state = std::env::temp_dir().join(format!("berth-bench-{}", std::process::id()));
    let runtime = Runtime::new(state.join("runtime"))?;
    for round in 0..rounds {
        if step {
            let mut line = String::new();
            // Blocking is fine: nothing else runs in this process between
            // rounds (the shims are processes of their own).
            if std::io::stdin().read_line(&mut line).unwrap_or(0) == 0 {
                break;
            }
        }
        let id = format!("bench{}x{round}", std::process::id());
        let req = ContainerRequest {
            id,
            name: "bench".into(),
            config: ContainerConfig { cmd: Some(vec!["true".into()]), ..Default::default() },
            host_config: HostConfig::default(),
            image: ImageConfig::default(),
            layers: vec![layer.clone()],
            log_path: Some(state.join("bench.log")),
            rw_dir: None,
            netns: None,
            embedded_dns: false,
            own_addresses: Vec::new(),
            mounts: Vec::new(),
        };
        let t = Instant::now();
        let shim = runtime.create(req).await?;
        let created = t.elapsed();
        if let Some(out) = peer_bundle.take() {
            write_peer_bundle(&runtime.container_dir(shim.id()), &layer, &out)?;
        }
        shim.start().await?;
        let started = t.elapsed();
        let exit = shim.wait_exit().await?;
        let exited = t.elapsed();
        shim.delete().await?;
        let total = t.elapsed();
        let ms = |d: std::time::Duration| d.as_secs_f64() * 1000.0;
        if exit.code != 0 {
            return Err(super::RuntimeError::InvalidRequest(format!("`true` exited {}", exit.code)));
        }
        // The total first (what `cargo xtask bench run` reads), then the
        // phases: create, start, wait, delete.
        println!(
            "round {round} {:.2} create {:.2} start {:.2} wait {:.2} delete {:.2}",
            ms(total),
            ms(created),
            ms(started - created),
            ms(exited - started),
            ms(total - exited)
        );
    }
    let _ = std::fs::remove_dir_all(&state);
    Ok(())
}

/// Copies a created container's bundle for another runtime: the same
/// spec, rooted at the bare layer (the peer has no overlay of its own), its
/// /etc files beside it, and its own cgroup.
fn write_peer_bundle(
    dir: &std::path::Path,
    layer: &std::path::Path,
    out: &std::path::Path,
) -> Result<(), super::RuntimeError> {
    use super::RuntimeError;
    std::fs::create_dir_all(out).map_err(RuntimeError::io("create", out))?;
    let cfg_path = dir.join("config.json");
    let bytes = std::fs::read(&cfg_path).map_err(RuntimeError::io("read", &cfg_path))?;
    let mut spec: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| RuntimeError::io("decode", &cfg_path)(e.into()))?;
    spec["root"]["path"] = serde_json::json!(layer);
    spec["linux"]["cgroupsPath"] = serde_json::json!("/berth-peer/bench");
    // runc reads a masked comparison with the mask in `value`; berth writes
    // it the other way round for libcontainer (see spec::seccomp).
    if let Some(rules) = spec["linux"]["seccomp"]["syscalls"].as_array_mut() {
        for arg in rules.iter_mut().filter_map(|r| r["args"].as_array_mut()).flatten() {
            if arg["op"] == "SCMP_CMP_MASKED_EQ" {
                let (v, v2) = (arg["value"].clone(), arg["valueTwo"].clone());
                arg["value"] = v2;
                arg["valueTwo"] = v;
            }
        }
    }
    if let Some(mounts) = spec["mounts"].as_array_mut() {
        for m in mounts {
            let Some(src) = m["source"].as_str().map(std::path::PathBuf::from) else {
                continue;
            };
            if let Ok(rest) = src.strip_prefix(dir) {
                let copy = out.join(rest);
                std::fs::copy(&src, &copy).map_err(RuntimeError::io("copy", &src))?;
                m["source"] = serde_json::json!(copy);
            }
        }
    }
    let path = out.join("config.json");
    let text = serde_json::to_vec_pretty(&spec).map_err(|e| RuntimeError::io("encode", &path)(e.into()))?;
    std::fs::write(&path, text).map_err(RuntimeError::io("write", &path))
}
