//! The real docker CLI (28.x) against `berth-agent` in process mode: the
//! containers half of the Docker API, with real namespaces and cgroups.
//!
//! The busybox image is built here from Debian's static `/bin/busybox`
//! (one layer: the binary, its applet links, /etc/passwd), pushed with
//! skopeo to a Debian `docker-registry` on loopback and pulled by the
//! engine through the API, as `docker run` does on a 404.
//!
//! Needs root (namespaces, mounts), `/bin/busybox` (busybox-static),
//! `skopeo`, `docker-registry` and the docker CLI.

use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

struct Registry {
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

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Registry {
    fn start() -> Registry {
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

fn sha256_hex(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

/// A tar header with every numeric field set (a zeroed uid field is not a
/// number to a strict reader).
fn header() -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(1_700_000_000);
    h
}

/// A one-layer busybox image as a docker-archive tar.
fn busybox_archive(out: &Path) {
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
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux", "created": "2023-11-14T22:13:20Z",
        "config": {"Cmd": ["sh"], "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]},
        "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{diff_id}")]},
        "history": [{"created": "2023-11-14T22:13:20Z", "created_by": "busybox-static"}],
    })
    .to_string();
    let config_hex = sha256_hex(config.as_bytes());
    let manifest = serde_json::json!([{
        "Config": format!("{config_hex}.json"),
        "RepoTags": ["busybox:latest"],
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
fn seed(reg: &Registry, dir: &Path) -> String {
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

struct Daemon {
    child: Child,
    sock: PathBuf,
    root: PathBuf,
    dir: tempfile::TempDir,
    _reg: Registry,
    /// `<registry>/busybox:latest`, also tagged `busybox:latest` once
    /// [`Daemon::start`] returns.
    remote: String,
}

fn spawn(sock: &Path, root: &Path, log: &Path) -> Child {
    let log = std::fs::File::create(log).unwrap();
    Command::new(env!("CARGO_BIN_EXE_berth-agent"))
        .arg("--listen")
        .arg(format!("unix://{}", sock.display()))
        .arg("--root")
        .arg(root)
        .env("BERTH_LOG", "info")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start berth-agent")
}

fn wait_for_socket(sock: &Path) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::os::unix::net::UnixStream::connect(sock).is_err() {
        assert!(Instant::now() < deadline, "engine did not listen on {}", sock.display());
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl Daemon {
    /// An engine with busybox pulled and tagged `busybox:latest`.
    fn start() -> Daemon {
        let d = Self::start_bare();
        let (ok, _, err) = d.docker(&["pull", "-q", &d.remote]);
        assert!(ok, "pull: {err}");
        let (ok, _, err) = d.docker(&["tag", &d.remote, "busybox:latest"]);
        assert!(ok, "tag: {err}");
        d
    }

    fn start_bare() -> Daemon {
        let reg = Registry::start();
        let dir = tempfile::tempdir().unwrap();
        let remote = seed(&reg, dir.path());
        let sock = dir.path().join("docker.sock");
        let root = dir.path().join("root");
        let child = spawn(&sock, &root, &dir.path().join("engine.log"));
        wait_for_socket(&sock);
        Daemon { child, sock, root, dir, _reg: reg, remote }
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(docker_cli());
        c.args(args)
            .env("DOCKER_HOST", format!("unix://{}", self.sock.display()))
            .env("DOCKER_CONFIG", self.dir.path().join("docker-config"));
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        let mut c = self.cmd(args);
        c.stdin(Stdio::null());
        output_within(c, Duration::from_secs(60), &format!("docker {}", args.join(" ")), self)
    }

    fn docker(&self, args: &[&str]) -> (bool, String, String) {
        let out = self.run(args);
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Runs a docker command that must succeed; returns its stdout.
    fn ok(&self, args: &[&str]) -> String {
        let (ok, out, err) = self.docker(args);
        assert!(ok, "docker {} failed: {err}\n{out}\nengine log:\n{}", args.join(" "), self.log_tail());
        out
    }

    fn code(&self, args: &[&str]) -> i32 {
        self.run(args).status.code().unwrap_or(-1)
    }

    fn log_tail(&self) -> String {
        let mut log = std::fs::read_to_string(self.dir.path().join("engine.log")).unwrap_or_default();
        log += &std::fs::read_to_string(self.dir.path().join("engine2.log")).unwrap_or_default();
        let lines: Vec<_> = log.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// kill -9 (the engine's containers and shims keep running).
    fn kill9(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// A new engine on the same root and socket.
    fn restart_engine(&mut self) {
        self.child = spawn(&self.sock, &self.root, &self.dir.path().join("engine2.log"));
        wait_for_socket(&self.sock);
    }

    fn inspect(&self, id: &str, fmt: &str) -> String {
        self.ok(&["inspect", "--format", fmt, id]).trim().to_string()
    }

    /// Polls `inspect` until `fmt` renders `want`.
    fn wait_inspect(&self, id: &str, fmt: &str, want: &str) {
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

fn output_within(mut c: Command, limit: Duration, what: &str, d: &Daemon) -> Output {
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

fn docker_cli() -> PathBuf {
    for p in ["/usr/local/bin/docker", "/usr/bin/docker"] {
        if Path::new(p).exists() {
            return PathBuf::from(p);
        }
    }
    panic!("no docker CLI: install Debian's docker.io package (client only is enough)");
}

#[test]
fn run_rm_pulls_on_404_prints_and_removes() {
    let d = Daemon::start_bare();
    // No image yet: create answers 404, the CLI pulls and creates again.
    let out = d.run(&["run", "--rm", &d.remote, "echo", "hi"]);
    assert!(out.status.success(), "{}\n{}", String::from_utf8_lossy(&out.stderr), d.log_tail());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hi\n");
    assert_eq!(d.ok(&["ps", "-aq"]), "", "--rm left the container");
    // stdout and stderr are both delivered, in their own streams.
    let out = d.run(&["run", "--rm", &d.remote, "sh", "-c", "echo out; echo err >&2"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "out\n");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "err\n");
    // stdin reaches the container; its EOF ends it.
    let mut c = d.cmd(&["run", "--rm", "-i", &d.remote, "sh", "-c", "tr a-z A-Z"]);
    let mut child = c.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(b"shout\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "SHOUT\n", "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn exit_codes_are_what_the_cli_expects() {
    let d = Daemon::start();
    assert_eq!(d.code(&["run", "--rm", "busybox", "true"]), 0);
    assert_eq!(d.code(&["run", "--rm", "busybox", "sh", "-c", "exit 3"]), 3);
    assert_eq!(d.code(&["run", "--rm", "busybox", "no-such-command"]), 127);
    assert_eq!(d.code(&["run", "--rm", "busybox", "/etc/passwd"]), 126, "not executable");
    assert_eq!(d.code(&["run", "--rm", "--name", "bad name", "busybox", "true"]), 125, "engine refuses");
    // A signal ends a process with 128+N. (From an inner shell: the
    // container's PID 1 ignores SIGKILL sent from inside its namespace.)
    assert_eq!(d.code(&["run", "--rm", "busybox", "sh", "-c", "sh -c 'kill -9 $$'; exit $?"]), 137);
    assert_eq!(d.ok(&["ps", "-aq"]), "", "--rm containers are gone, failed ones too");
}

#[test]
fn detached_container_lifecycle() {
    let d = Daemon::start();
    let id = d.ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "--label",
        "app=web",
        "busybox",
        "sh",
        "-c",
        "echo started; exec sleep 1000",
    ]);
    let id = id.trim();
    assert_eq!(id.len(), 64);
    let ps = d.ok(&["ps", "--format", "{{.Names}} {{.Image}} {{.Status}}"]);
    assert!(ps.starts_with("web busybox Up "), "{ps}");
    assert_eq!(d.ok(&["ps", "-q", "--filter", "label=app=web"]).trim(), &id[..12]);
    assert_eq!(d.ok(&["ps", "-q", "--filter", "status=exited"]).trim(), "");

    d.wait_inspect("web", "{{.State.Status}}", "running");
    assert_eq!(
        d.inspect("web", "{{.Name}} {{.Path}} {{.Args}} {{.State.Running}} {{.RestartCount}}"),
        "/web sh [-c echo started; exec sleep 1000] true 0"
    );
    assert!(d.inspect("web", "{{.State.Pid}}").parse::<i64>().unwrap() > 1);
    assert_eq!(d.inspect("web", "{{.Config.Hostname}}"), &id[..12]);

    // logs
    let deadline = Instant::now() + Duration::from_secs(10);
    while d.ok(&["logs", "web"]) != "started\n" {
        assert!(Instant::now() < deadline, "logs never showed the output");
        std::thread::sleep(Duration::from_millis(100));
    }
    let ts = d.ok(&["logs", "-t", "web"]);
    assert!(ts.contains('T') && ts.ends_with("Z started\n"), "{ts}");

    // exec
    assert_eq!(d.ok(&["exec", "web", "sh", "-c", "echo $((6*7))"]), "42\n");
    assert_eq!(d.code(&["exec", "web", "sh", "-c", "exit 5"]), 5);
    assert_eq!(d.code(&["exec", "web", "no-such-command"]), 127);
    d.ok(&["exec", "-d", "web", "sh", "-c", "echo detached > /tmp/d"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while d.docker(&["exec", "web", "cat", "/tmp/d"]).1 != "detached\n" {
        assert!(Instant::now() < deadline, "detached exec never ran");
        std::thread::sleep(Duration::from_millis(100));
    }

    // top
    let top = d.ok(&["top", "web"]);
    assert!(
        top.lines().next().unwrap().split_whitespace().eq(["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]),
        "{top}"
    );
    assert!(top.contains("sleep 1000"), "{top}");

    // stats
    let stats = d.ok(&["stats", "--no-stream", "--format", "{{.Name}} {{.MemUsage}} {{.PIDs}}", "web"]);
    assert!(stats.starts_with("web ") && stats.trim().ends_with(" 1"), "{stats}");

    // pause / unpause
    d.ok(&["pause", "web"]);
    assert_eq!(d.inspect("web", "{{.State.Status}} {{.State.Paused}}"), "paused true");
    assert!(d.ok(&["ps", "--format", "{{.Status}}"]).contains("(Paused)"));
    d.ok(&["unpause", "web"]);
    assert_eq!(d.inspect("web", "{{.State.Status}}"), "running");

    // rename
    d.ok(&["rename", "web", "web2"]);
    assert_eq!(d.inspect(id, "{{.Name}}"), "/web2");
    let (ok, _, err) = d.docker(&["run", "-d", "--name", "web2", "busybox", "true"]);
    assert!(!ok && err.contains("is already in use"), "{err}");

    // rm without -f refuses a running container
    let (ok, _, err) = d.docker(&["rm", "web2"]);
    assert!(!ok && err.contains("stop the container before removing or force remove"), "{err}");

    // restart: a new process, same container
    let pid1 = d.inspect("web2", "{{.State.Pid}}");
    d.ok(&["restart", "-t", "1", "web2"]);
    d.wait_inspect("web2", "{{.State.Status}}", "running");
    assert_ne!(d.inspect("web2", "{{.State.Pid}}"), pid1);

    // stop: SIGTERM is ignored by sleep as PID 1, so it takes the timeout then SIGKILL
    let t0 = Instant::now();
    d.ok(&["stop", "-t", "1", "web2"]);
    assert!(t0.elapsed() < Duration::from_secs(15));
    assert_eq!(d.inspect("web2", "{{.State.Status}} {{.State.ExitCode}}"), "exited 137");
    assert!(d.ok(&["ps", "-a", "--format", "{{.Status}}"]).starts_with("Exited (137)"));
    assert_eq!(d.ok(&["ps", "-q"]).trim(), "");

    // start again, kill, wait
    d.ok(&["start", "web2"]);
    d.ok(&["kill", "--signal", "KILL", "web2"]);
    assert_eq!(d.ok(&["wait", "web2"]).trim(), "137");

    d.ok(&["rm", "web2"]);
    assert_eq!(d.ok(&["ps", "-aq"]), "");
    let (ok, _, err) = d.docker(&["inspect", "web2"]);
    assert!(!ok && err.contains("No such object"), "{err}");
}

#[test]
fn logs_follow_until_the_container_exits() {
    let d = Daemon::start();
    let id = d.ok(&["run", "-d", "busybox", "sh", "-c", "for i in 1 2 3; do echo line$i; sleep 0.3; done"]);
    let out = d.ok(&["logs", "-f", id.trim()]);
    assert_eq!(out, "line1\nline2\nline3\n");
    assert_eq!(d.ok(&["logs", "--tail", "1", id.trim()]), "line3\n");
    assert_eq!(d.inspect(id.trim(), "{{.State.Status}} {{.State.ExitCode}}"), "exited 0");
}

/// Runs `cmd` under a pseudo-terminal with `script`, as a person would.
fn with_pty(d: &Daemon, cmd: &str) -> String {
    let mut c = Command::new("script");
    c.args(["-qec", cmd, "/dev/null"])
        .env("DOCKER_HOST", format!("unix://{}", d.sock.display()))
        .env("DOCKER_CONFIG", d.dir.path().join("docker-config"))
        .stdin(Stdio::piped());
    let out = output_within(c, Duration::from_secs(60), cmd, d);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn run_it_gets_a_terminal() {
    let d = Daemon::start();
    let out =
        with_pty(&d, &format!("{} run -it --rm busybox sh -c 'tty; stty size; echo done'", docker_cli().display()));
    assert!(out.contains("/dev/pts/0") || out.contains("/dev/console"), "{out}");
    assert!(out.contains("done"), "{out}");
}

#[test]
fn exec_it_gets_a_terminal() {
    let d = Daemon::start();
    d.ok(&["run", "-d", "--name", "box", "busybox", "sleep", "1000"]);
    let out = with_pty(&d, &format!("{} exec -it box sh -c 'tty; echo exec-ok'", docker_cli().display()));
    assert!(out.contains("/dev/pts/"), "{out}\n{}", d.log_tail());
    assert!(out.contains("exec-ok"), "{out}");
}

#[test]
fn cp_both_ways_and_export() {
    let d = Daemon::start();
    d.ok(&[
        "run",
        "-d",
        "--name",
        "box",
        "busybox",
        "sh",
        "-c",
        "mkdir -p /data && echo inside > /data/f && exec sleep 1000",
    ]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while d.docker(&["exec", "box", "cat", "/data/f"]).1 != "inside\n" {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(100));
    }
    let host = d.dir.path().join("cp");
    std::fs::create_dir_all(&host).unwrap();
    d.ok(&["cp", "box:/data/f", host.join("f").to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(host.join("f")).unwrap(), "inside\n");
    d.ok(&["cp", "box:/data", host.join("data").to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(host.join("data/f")).unwrap(), "inside\n");

    std::fs::write(host.join("up.txt"), "from host\n").unwrap();
    d.ok(&["cp", host.join("up.txt").to_str().unwrap(), "box:/tmp/"]);
    assert_eq!(d.ok(&["exec", "box", "cat", "/tmp/up.txt"]), "from host\n");
    std::fs::create_dir_all(host.join("tree/sub")).unwrap();
    std::fs::write(host.join("tree/sub/x"), "x\n").unwrap();
    d.ok(&["cp", host.join("tree").to_str().unwrap(), "box:/tmp/tree"]);
    assert_eq!(d.ok(&["exec", "box", "cat", "/tmp/tree/sub/x"]), "x\n");

    let (ok, _, err) = d.docker(&["cp", "box:/no/such", host.to_str().unwrap()]);
    assert!(!ok && err.contains("Could not find the file"), "{err}");

    let export = d.dir.path().join("export.tar");
    d.ok(&["export", "-o", export.to_str().unwrap(), "box"]);
    let mut ar = tar::Archive::new(std::fs::File::open(&export).unwrap());
    let names: Vec<String> =
        ar.entries().unwrap().map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned()).collect();
    assert!(names.iter().any(|n| n.ends_with("bin/busybox")), "{names:?}");
    assert!(names.iter().any(|n| n.ends_with("data/f")), "{names:?}");
}

#[test]
fn engine_killed_with_9_reattaches() {
    let mut d = Daemon::start();
    let id = d.ok(&[
        "run",
        "-d",
        "--name",
        "ticker",
        "busybox",
        "sh",
        "-c",
        "i=0; while true; do i=$((i+1)); echo tick$i; sleep 0.2; done",
    ]);
    let id = id.trim().to_string();
    d.ok(&["run", "-d", "--name", "short", "busybox", "sh", "-c", "sleep 1; exit 4"]);
    // Exits while no engine runs: `always` brings it back when the engine
    // starts; `unless-stopped` stopped by the user stays down.
    d.ok(&["run", "-d", "--name", "phoenix", "--restart", "always", "busybox", "sleep", "2"]);
    d.ok(&["run", "-d", "--name", "resting", "--restart", "unless-stopped", "busybox", "sleep", "1000"]);
    d.ok(&["stop", "-t", "0", "resting"]);
    // A container whose record is lost (as if the engine died between
    // creating its shim and saving it): the next engine stops it and
    // removes its runtime state.
    let ghost = d.ok(&["run", "-d", "--name", "ghost", "busybox", "sleep", "1000"]).trim().to_string();
    let ghost_pid = d.inspect(&ghost, "{{.State.Pid}}");
    let phoenix_started = d.inspect("phoenix", "{{.State.StartedAt}}");
    std::thread::sleep(Duration::from_millis(500));
    d.kill9();
    std::fs::remove_dir_all(d.root.join("containers").join(&ghost)).unwrap();
    std::thread::sleep(Duration::from_millis(2500));
    d.restart_engine();
    // The engine answers once it has reconciled its containers.
    d.ok(&["ps"]);
    assert!(!d.root.join("runtime").join(&ghost).exists(), "orphaned runtime state left\n{}", d.log_tail());
    assert!(!Path::new(&format!("/proc/{ghost_pid}")).exists(), "orphaned container still runs");
    // "short" exits while no engine watches... or after: either way 4.
    std::thread::sleep(Duration::from_millis(1500));
    let deadline = Instant::now() + Duration::from_secs(20);
    while d.inspect("phoenix", "{{.State.StartedAt}}") == phoenix_started {
        assert!(Instant::now() < deadline, "phoenix was not restarted by the new engine\n{}", d.log_tail());
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(d.inspect("resting", "{{.State.Status}}"), "exited");
    let ps = d.ok(&["ps", "--format", "{{.Names}}", "--filter", "name=ticker"]);
    assert_eq!(ps.trim(), "ticker", "{ps}");
    assert!(!d.ok(&["ps", "--format", "{{.Names}}"]).contains("short"));
    d.wait_inspect("short", "{{.State.Status}} {{.State.ExitCode}}", "exited 4");
    let before = d.ok(&["logs", "ticker"]).lines().count();
    std::thread::sleep(Duration::from_millis(1000));
    let after = d.ok(&["logs", "ticker"]).lines().count();
    assert!(after > before, "logs stopped growing after the engine restart ({before} → {after})");
    assert_eq!(d.ok(&["exec", "ticker", "echo", "still here"]), "still here\n");
    d.ok(&["stop", "-t", "1", &id]);
    assert_eq!(d.inspect(&id, "{{.State.Status}}"), "exited");
}

#[test]
fn restart_policies() {
    let d = Daemon::start();
    d.ok(&["run", "-d", "--name", "flaky", "--restart", "on-failure:2", "busybox", "sh", "-c", "exit 1"]);
    d.wait_inspect("flaky", "{{.RestartCount}} {{.State.Status}}", "2 exited");
    assert_eq!(d.inspect("flaky", "{{.State.ExitCode}}"), "1");
    d.ok(&["run", "-d", "--name", "always", "--restart", "always", "busybox", "sh", "-c", "sleep 0.2"]);
    d.wait_inspect("always", "{{ge .RestartCount 2}}", "true");
    d.ok(&["stop", "always"]);
    assert_eq!(d.inspect("always", "{{.State.Status}}"), "exited");
}

#[test]
fn events_prune_and_images_in_use() {
    let d = Daemon::start();
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs().to_string();
    d.ok(&["run", "--name", "once", "busybox", "true"]);
    d.ok(&["create", "--name", "idle", "busybox", "true"]);
    d.ok(&["run", "-d", "--name", "live", "busybox", "sleep", "1000"]);
    let until = (std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 1).to_string();
    let ev = d.ok(&[
        "events",
        "--since",
        &since,
        "--until",
        &until,
        "--filter",
        "container=once",
        "--format",
        "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}",
    ]);
    let actions: Vec<&str> = ev.lines().collect();
    assert_eq!(
        actions,
        ["container create once", "container attach once", "container start once", "container die once"],
        "{ev}"
    );

    // An image used by a container cannot be removed, even by force while it runs.
    // Removing one of two tags only untags; the last one is refused.
    d.ok(&["rmi", &d.remote]);
    let (ok, _, err) = d.docker(&["rmi", "busybox"]);
    assert!(!ok && err.contains("must force"), "{err}\n{}", d.log_tail());
    let (ok, _, err) = d.docker(&["rmi", "-f", &d.inspect("live", "{{.Image}}")]);
    assert!(!ok && err.contains("running container"), "{err}\n{}", d.log_tail());

    let out = d.ok(&["container", "prune", "-f"]);
    assert!(out.contains("Deleted Containers:"), "{out}");
    let left = d.ok(&["ps", "-a", "--format", "{{.Names}}"]);
    assert_eq!(left.trim(), "live", "prune keeps running containers only");
    d.ok(&["rm", "-f", "live"]);
    assert_eq!(d.ok(&["ps", "-aq"]), "");
}
