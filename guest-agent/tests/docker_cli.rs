//! The engine as a daemon on this host, driven by the real docker CLI.

mod engine_fixture;
use engine_fixture::{docker_cli, spawn_engine, wait_for_socket};

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

struct Daemon {
    child: Child,
    sock: PathBuf,
    _dir: tempfile::TempDir,
}

impl Daemon {
    fn start() -> Daemon {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("docker.sock");
        let child = spawn_engine(&sock, &dir.path().join("root"), Stdio::piped());
        wait_for_socket(&sock);
        Daemon { child, sock, _dir: dir }
    }

    fn docker(&self, args: &[&str]) -> (bool, String, String) {
        let out = Command::new(docker_cli())
            .args(args)
            .env("DOCKER_HOST", format!("unix://{}", self.sock.display()))
            .env("DOCKER_CONFIG", self._dir.path().join("docker-config"))
            .output()
            .expect("run docker");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn docker_version_and_info_reach_the_engine() {
    let d = Daemon::start();
    let (ok, out, err) =
        d.docker(&["version", "--format", "{{.Server.Version}} {{.Server.APIVersion}} {{.Server.Os}}"]);
    assert!(ok, "docker version failed: {err}");
    assert_eq!(out.trim(), format!("{} 1.50 linux", env!("CARGO_PKG_VERSION")));

    let (ok, out, err) = d.docker(&["info", "--format", "{{.OSType}} {{.Driver}} {{.Swarm.LocalNodeState}}"]);
    assert!(ok, "docker info failed: {err}");
    assert_eq!(out.trim(), "linux overlay2 inactive");
}

#[test]
fn old_clients_negotiate_down() {
    let d = Daemon::start();
    let out = Command::new(docker_cli())
        .args(["version", "--format", "{{.Client.APIVersion}}"])
        .env("DOCKER_HOST", format!("unix://{}", d.sock.display()))
        .env("DOCKER_API_VERSION", "1.41")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "1.41");
}

#[test]
fn a_second_engine_on_a_live_socket_refuses_and_a_stale_one_is_replaced() {
    let mut d = Daemon::start();
    let root2 = d._dir.path().join("root2");
    let out = Command::new(env!("CARGO_BIN_EXE_berth-agent"))
        .arg("--listen")
        .arg(format!("unix://{}", d.sock.display()))
        .arg("--root")
        .arg(&root2)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("in use"), "{}", String::from_utf8_lossy(&out.stderr));

    // kill -9 leaves the socket file behind; the next engine takes it over.
    d.child.kill().unwrap();
    d.child.wait().unwrap();
    assert!(d.sock.exists());
    d.child = spawn_engine(&d.sock, &d._dir.path().join("root"), Stdio::piped());
    wait_for_socket(&d.sock);
    let (ok, _, err) = d.docker(&["version"]);
    assert!(ok, "{err}");
}

#[test]
fn bad_listen_address_is_one_clear_line() {
    let out =
        Command::new(env!("CARGO_BIN_EXE_berth-agent")).args(["--listen", "tcp://0.0.0.0:2375"]).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("only served on loopback"), "{err}");
}
