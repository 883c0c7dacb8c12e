//! What the containers half of the docker-CLI tests stands on: a real
//! `docker-registry` on loopback seeded with a one-layer busybox image
//! (built here from Debian's static `/bin/busybox`, pushed with skopeo),
//! and the engine as a process pulling from it, driven by the docker CLI.

#![allow(dead_code)] // not every test file uses every helper

use std::net::TcpListener;
use std::path::Path;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::engine_fixture::{docker_cli, wait_for_socket};

/// Seconds since the epoch, as `docker events --since/--until` take them.
pub fn now_secs() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

pub struct Registry {
    child: Child,
    host: String,
    _dir: tempfile::TempDir,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Registry {
    pub fn start() -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let cfg = dir.path().join("config.yml");
        std::fs::write(
            &cfg,
            format!(
                "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n",
                dir.path().join("data").display()
            ),
        )
        .unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&cfg)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("docker-registry (Debian package docker-registry)");
        let host = format!("127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(&host).is_err() {
            assert!(Instant::now() < deadline, "registry did not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
        Registry { child, host, _dir: dir }
    }
}

pub fn sha256_hex(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

/// A tar header with every numeric field set (a zeroed uid field is not a
/// number to a strict reader).
pub fn header() -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(1_700_000_000);
    h
}

/// A one-layer busybox image as a docker-archive tar.
pub fn busybox_archive(out: &Path) {
    busybox_archive_as(out, "busybox:latest", serde_json::json!({}));
}

/// [`busybox_archive`] tagged `tag`, with the keys of `extra` added to the
/// image's `config` (a `Healthcheck`, a `Shell`…).
pub fn busybox_archive_as(out: &Path, tag: &str, extra: serde_json::Value) {
    let busybox = std::fs::read("/bin/busybox").expect("/bin/busybox (Debian package busybox-static)");
    let list = Command::new("/bin/busybox").arg("--list").output().unwrap();
    let mut layer = tar::Builder::new(Vec::new());
    let dir = |b: &mut tar::Builder<Vec<u8>>, name: &str, mode: u32| {
        let mut h = header();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(mode);
        h.set_size(0);
        h.set_mtime(1_700_000_000);
        b.append_data(&mut h, name, &[][..]).unwrap();
    };
    let file = |b: &mut tar::Builder<Vec<u8>>, name: &str, mode: u32, data: &[u8]| {
        let mut h = header();
        h.set_mode(mode);
        h.set_size(data.len() as u64);
        h.set_mtime(1_700_000_000);
        b.append_data(&mut h, name, data).unwrap();
    };
    for (d, m) in [
        ("bin", 0o755),
        ("etc", 0o755),
        ("tmp", 0o1777),
        ("root", 0o700),
        ("home", 0o755),
        ("var", 0o755),
        ("proc", 0o555),
        ("sys", 0o555),
        ("dev", 0o755),
    ] {
        dir(&mut layer, d, m);
    }
    file(&mut layer, "bin/busybox", 0o755, &busybox);
    for applet in String::from_utf8_lossy(&list.stdout).lines().filter(|a| !a.is_empty() && *a != "busybox") {
        let mut h = header();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_mode(0o777);
        h.set_size(0);
        h.set_mtime(1_700_000_000);
        layer.append_link(&mut h, format!("bin/{applet}"), "busybox").unwrap();
    }
    file(
        &mut layer,
        "etc/passwd",
        0o644,
        b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n",
    );
    file(&mut layer, "etc/group", 0o644, b"root:x:0:\nnobody:x:65534:\n");
    let layer = layer.into_inner().unwrap();
    let diff_id = sha256_hex(&layer);
    let mut image_config = serde_json::json!({
        "Cmd": ["sh"], "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
    });
    if let (Some(base), Some(extra)) = (image_config.as_object_mut(), extra.as_object()) {
        base.extend(extra.clone());
    }
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux", "created": "2023-11-14T22:13:20Z",
        "config": image_config,
        "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{diff_id}")]},
        "history": [{"created": "2023-11-14T22:13:20Z", "created_by": "busybox-static"}],
    })
    .to_string();
    let config_hex = sha256_hex(config.as_bytes());
    let manifest = serde_json::json!([{
        "Config": format!("{config_hex}.json"),
        "RepoTags": [tag],
        "Layers": [format!("{diff_id}/layer.tar")],
    }])
    .to_string();
    let mut ar = tar::Builder::new(std::fs::File::create(out).unwrap());
    let mut add = |name: &str, data: &[u8]| {
        let mut h = header();
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        ar.append_data(&mut h, name, data).unwrap();
    };
    add(&format!("{config_hex}.json"), config.as_bytes());
    add(&format!("{diff_id}/layer.tar"), &layer);
    add("manifest.json", manifest.as_bytes());
    ar.finish().unwrap();
}

/// Pushes busybox to `reg` as `<reg>/busybox:latest`.
pub fn seed(reg: &Registry, dir: &Path) -> String {
    let archive = dir.join("busybox.tar");
    busybox_archive(&archive);
    let target = format!("{}/busybox:latest", reg.host);
    let out = Command::new("skopeo")
        .args(["copy", "--quiet", "--dest-tls-verify=false"])
        .arg(format!("docker-archive:{}", archive.display()))
        .arg(format!("docker://{target}"))
        .output()
        .expect("skopeo (Debian package skopeo)");
    assert!(out.status.success(), "skopeo copy: {}", String::from_utf8_lossy(&out.stderr));
    target
}

pub struct Daemon {
    child: Child,
    pub sock: PathBuf,
    pub root: PathBuf,
    pub dir: tempfile::TempDir,
    _reg: Registry,
    /// `<registry>/busybox:latest`, also tagged `busybox:latest` once
    /// [`Daemon::start`] returns.
    pub remote: String,
}

pub fn spawn(sock: &Path, root: &Path, log: &Path) -> Child {
    let log = std::fs::File::create(log).unwrap();
    Command::new(env!("CARGO_BIN_EXE_berth-agent"))
        .arg("--listen")
        .arg(format!("unix://{}", sock.display()))
        .arg("--root")
        .arg(root)
        // These tests run in the host's network namespace: no bridges there
        // (docker_cli_networks.rs runs the engine in a namespace of its own).
        .args(["--network-plumbing", "off"])
        .env("BERTH_LOG", "info")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start berth-agent")
}

impl Daemon {
    /// An engine with busybox pulled and tagged `busybox:latest`.
    pub fn start() -> Daemon {
        let d = Self::start_bare();
        let (ok, _, err) = d.docker(&["pull", "-q", &d.remote]);
        assert!(ok, "pull: {err}");
        let (ok, _, err) = d.docker(&["tag", &d.remote, "busybox:latest"]);
        assert!(ok, "tag: {err}");
        d
    }

    pub fn start_bare() -> Daemon {
        let reg = Registry::start();
        let dir = tempfile::tempdir().unwrap();
        let remote = seed(&reg, dir.path());
        let sock = dir.path().join("docker.sock");
        let root = dir.path().join("root");
        let child = spawn(&sock, &root, &dir.path().join("engine.log"));
        wait_for_socket(&sock);
        Daemon { child, sock, root, dir, _reg: reg, remote }
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(docker_cli());
        c.args(args)
            .env("DOCKER_HOST", format!("unix://{}", self.sock.display()))
            .env("DOCKER_CONFIG", self.dir.path().join("docker-config"));
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        let mut c = self.cmd(args);
        c.stdin(Stdio::null());
        output_within(c, Duration::from_secs(60), &format!("docker {}", args.join(" ")), self)
    }

    pub fn docker(&self, args: &[&str]) -> (bool, String, String) {
        let out = self.run(args);
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Runs a docker command that must succeed; returns its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let (ok, out, err) = self.docker(args);
        assert!(ok, "docker {} failed: {err}\n{out}\nengine log:\n{}", args.join(" "), self.log_tail());
        out
    }

    /// `docker events --since SINCE --until <a second from now> --filter
    /// F... --format FORMAT`: the recorded events that match, one a line.
    pub fn past_events(&self, since: &str, filters: &[&str], format: &str) -> String {
        let until = (now_secs() + 1).to_string();
        let mut args = vec!["events", "--since", since, "--until", &until];
        for f in filters {
            args.extend(["--filter", f]);
        }
        args.extend(["--format", format]);
        self.ok(&args)
    }

    pub fn code(&self, args: &[&str]) -> i32 {
        self.run(args).status.code().unwrap_or(-1)
    }

    pub fn log_tail(&self) -> String {
        let mut log = std::fs::read_to_string(self.dir.path().join("engine.log")).unwrap_or_default();
        log += &std::fs::read_to_string(self.dir.path().join("engine2.log")).unwrap_or_default();
        let lines: Vec<_> = log.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// kill -9 (the engine's containers and shims keep running).
    pub fn kill9(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// A new engine on the same root and socket.
    pub fn restart_engine(&mut self) {
        self.child = spawn(&self.sock, &self.root, &self.dir.path().join("engine2.log"));
        wait_for_socket(&self.sock);
    }

    pub fn inspect(&self, id: &str, fmt: &str) -> String {
        self.ok(&["inspect", "--format", fmt, id]).trim().to_string()
    }

    /// Polls `inspect` until `fmt` renders `want`.
    pub fn wait_inspect(&self, id: &str, fmt: &str, want: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let got = self.inspect(id, fmt);
            if got == want {
                return;
            }
            assert!(Instant::now() < deadline, "{id} {fmt}: {got:?}, waited for {want:?}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // Leave no container behind: remove them through the engine, then stop it.
        if let Ok(out) = self.cmd(&["ps", "-aq"]).output() {
            for id in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                let _ = self.cmd(&["rm", "-f", id]).output();
            }
        }
        // Volumes go too: a tmpfs volume is a mount of the test's host.
        let _ = self.cmd(&["volume", "prune", "-af"]).output();
        let _ = Command::new("kill").arg(self.child.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn output_within(mut c: Command, limit: Duration, what: &str, d: &Daemon) -> Output {
    let child = c.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn");
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(out) => out.expect("wait"),
        Err(_) => {
            let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
            panic!("{what} did not finish in {limit:?}\nengine log:\n{}", d.log_tail());
        }
    }
}
