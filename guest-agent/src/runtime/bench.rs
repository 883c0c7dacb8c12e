//! `berth-agent bench-runtime --layer DIR --rounds N` (hidden): times
//! create + start + wait (+ delete) of a `true` container through the real
//! shim, for `cargo xtask bench run`. Prints one line per round:
//! `round <n> <milliseconds>`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use bollard_stubs::models::{ContainerConfig, HostConfig, ImageConfig};

use super::{ContainerRequest, Runtime};

pub fn main(args: Vec<std::ffi::OsString>) -> ExitCode {
    let mut layer = None;
    let mut rounds = 5usize;
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        match a.to_str() {
            Some("--layer") => layer = it.next().map(PathBuf::from),
            Some("--rounds") => {
                rounds = it
                    .next()
                    .and_then(|r| r.to_str()?.parse().ok())
                    .unwrap_or(rounds)
            }
            _ => {
                eprintln!("usage: berth-agent bench-runtime --layer DIR [--rounds N]");
                return ExitCode::from(2);
            }
        }
    }
    let Some(layer) = layer else {
        eprintln!("bench-runtime: --layer DIR is required");
        return ExitCode::from(2);
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bench-runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(layer, rounds)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(layer: PathBuf, rounds: usize) -> Result<(), super::RuntimeError> {
    let state = std::env::temp_dir().join(format!("berth-bench-{}", std::process::id()));
    let runtime = Runtime::new(state.join("runtime"))?;
    for round in 0..rounds {
        let id = format!("bench{}x{round}", std::process::id());
        let req = ContainerRequest {
            id,
            name: "bench".into(),
            config: ContainerConfig {
                cmd: Some(vec!["true".into()]),
                ..Default::default()
            },
            host_config: HostConfig::default(),
            image: ImageConfig::default(),
            layers: vec![layer.clone()],
            log_path: state.join("bench.log"),
        };
        let t = Instant::now();
        let shim = runtime.create(req).await?;
        shim.start().await?;
        let exit = shim.wait_exit().await?;
        shim.delete().await?;
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        if exit.code != 0 {
            return Err(super::RuntimeError::InvalidRequest(format!(
                "`true` exited {}",
                exit.code
            )));
        }
        println!("round {round} {ms:.2}");
    }
    let _ = std::fs::remove_dir_all(&state);
    Ok(())
}
