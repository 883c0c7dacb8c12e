//! What every docker-CLI test file needs: the engine as a real process in
//! process mode, and the docker CLI to drive it.

#![allow(dead_code)] // each test file uses its own part of it

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `berth-agent --listen unix://SOCK --root ROOT`, stdout discarded.
pub fn spawn_engine(sock: &Path, root: &Path, stderr: Stdio) -> Child {
    Command::new(env!("CARGO_BIN_EXE_berth-agent"))
        .arg("--listen")
        .arg(format!("unix://{}", sock.display()))
        .arg("--root")
        .arg(root)
        // These tests run in the host's network namespace: no bridges there
        // (docker_cli_networks.rs runs the engine in a namespace of its own).
        .args(["--network-plumbing", "off"])
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .expect("start berth-agent")
}

pub fn wait_for_socket(sock: &Path) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::os::unix::net::UnixStream::connect(sock).is_err() {
        assert!(Instant::now() < deadline, "engine did not listen on {}", sock.display());
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The docker CLI this machine kind ships at /usr/local/bin/docker, or
/// Debian's docker.io client.
pub fn docker_cli() -> PathBuf {
    for p in ["/usr/local/bin/docker", "/usr/bin/docker"] {
        if Path::new(p).exists() {
            return PathBuf::from(p);
        }
    }
    panic!("no docker CLI: install Debian's docker.io package (client only is enough)");
}
