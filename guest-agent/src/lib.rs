//! `berth-agent` as a library: the engine, the guest's init and the
//! container runtime, behind one entry point ([`run`]) that the binary
//! calls. A library so that integration tests link the engine's code
//! instead of `#[path]`-including its sources.
//!
//! Owns the process's start: which role this invocation plays (shim,
//! shim launcher, runtime benchmark, PID 1, daemon), the command line (its
//! settings merged with a daemon.json by `daemon_config`) and the log
//! subscriber. Must never export engine internals: the public
//! surface is `run` alone.

mod api;
mod build;
mod children;
mod confined;
mod container;
mod daemon_config;
mod durable;
mod engine;
mod error_kind;
mod host_shares;
mod image;
mod init;
mod listen;
mod log_file;
mod loopback;
mod network;
mod runtime;
mod server;
mod shell;
mod tar_bounds;
mod unpoisoned;
mod volume;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;

use listen::ListenAddr;

#[derive(Parser)]
#[command(name = "berth-agent", version, about = "berth's guest agent and container engine")]
struct Cli {
    /// Where to serve the Docker API: unix:///path, vsock://:PORT or
    /// tcp://127.0.0.1:PORT; repeatable.
    #[arg(long, default_value = "unix:///run/berth/docker.sock")]
    listen: Vec<ListenAddr>,
    /// The engine's state directory.
    #[arg(long, default_value = "/var/lib/berth")]
    root: PathBuf,
    /// Settings in Docker's daemon.json format (`registry-mirrors`,
    /// `insecure-registries`, `max-concurrent-downloads`).
    #[arg(long, value_name = "PATH")]
    config_file: Option<PathBuf>,
    /// A Docker Hub mirror (`https://host[:port][/path]`), tried before
    /// the Hub; repeatable, tried in order.
    #[arg(long = "registry-mirror", value_name = "URL")]
    registry_mirrors: Vec<String>,
    /// A registry (`host[:port]`, or a CIDR) spoken to over HTTPS without
    /// certificate checks, or plain HTTP; repeatable.
    #[arg(long = "insecure-registry", value_name = "HOST[:PORT]")]
    insecure_registries: Vec<String>,
    /// `on`: the engine makes networks real in the network namespace it
    /// runs in (bridges, veths, addresses, the embedded DNS), as dockerd
    /// does on a host; `off`: networks are records and containers get
    /// loopback only.
    #[arg(long, value_name = "on|off", default_value = "on", value_parser = ["on", "off"])]
    network_plumbing: String,
}

/// The whole program: `main.rs` only calls this.
pub fn run() -> ExitCode {
    // The container shim (hidden): dispatched before anything else starts a
    // thread, because libcontainer clones from the shim.
    if std::env::args_os().nth(1).is_some_and(|a| a == "shim") {
        return runtime::shim::main(std::env::args_os().skip(2).collect());
    }
    if std::env::args_os().nth(1).is_some_and(|a| a == runtime::launcher::ARG) {
        return runtime::launcher::main();
    }
    if std::env::args_os().nth(1).is_some_and(|a| a == "bench-runtime") {
        return runtime::bench::main(std::env::args_os().skip(2).collect());
    }
    if std::process::id() == 1 {
        init::run_as_pid1();
    }
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("BERTH_LOG").unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .init();
    let flags = daemon_config::Flags {
        config_file: cli.config_file.clone(),
        registry_mirrors: cli.registry_mirrors.clone(),
        insecure_registries: cli.insecure_registries.clone(),
    };
    let registries = match daemon_config::registry_config(&flags) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("berth-agent: {e}");
            return ExitCode::FAILURE;
        }
    };
    let opened = engine::Engine::open(&cli.root, false).and_then(|e| match cli.network_plumbing.as_str() {
        "on" => e.with_network_plumbing(),
        _ => Ok(e),
    });
    let engine = match opened {
        Ok(e) => Arc::new(e.with_registries(registries)),
        Err(e) => {
            eprintln!("berth-agent: {e}");
            return ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("berth-agent: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(server::serve(engine, &cli.listen)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("berth-agent: {e}");
            ExitCode::FAILURE
        }
    }
}
