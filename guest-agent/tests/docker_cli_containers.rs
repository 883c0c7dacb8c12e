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

mod containers_fixture;
mod engine_fixture;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use berth_http::{Endpoint, Request, blocking};
use containers_fixture::{Daemon, output_within};
use engine_fixture::docker_cli;

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

/// An engine that does not plumb networks still gives each container a
/// namespace whose loopback is up, as Docker's sandboxes have (a new
/// namespace's `lo` is down: 127.0.0.1 would be "Network is unreachable").
#[test]
fn loopback_is_up_without_network_plumbing() {
    let d = Daemon::start();
    let check = "ip -o link show lo | grep -o '<[^>]*>'; ping -c 1 -W 2 127.0.0.1 >/dev/null && echo reached";
    for network in ["default", "none"] {
        assert_eq!(
            d.ok(&["run", "--rm", "--network", network, "busybox", "sh", "-c", check]),
            "<LOOPBACK,UP,LOWER_UP>\nreached\n",
            "{network}"
        );
    }
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
    // The exit of a container its policy restarts is recorded as
    // `restarting` before `wait` answers (moby's SetRestarting), so a
    // plain `rm` right after is refused; `rm -f` removes it.
    d.ok(&["run", "-d", "--name", "again", "--restart", "always", "busybox", "sleep", "1"]);
    d.ok(&["wait", "again"]);
    let (ok, _, err) = d.docker(&["rm", "again"]);
    assert!(!ok && err.contains("stop the container before removing or force remove"), "{err}");
    d.ok(&["rm", "-f", "again"]);
    assert!(!d.docker(&["inspect", "again"]).0, "rm -f of a restarting container leaves it");
}

#[test]
fn events_prune_and_images_in_use() {
    let d = Daemon::start();
    let since = containers_fixture::now_secs().to_string();
    d.ok(&["run", "--name", "once", "busybox", "true"]);
    d.ok(&["create", "--name", "idle", "busybox", "true"]);
    d.ok(&["run", "-d", "--name", "live", "busybox", "sleep", "1000"]);
    let ev = d.past_events(&since, &["container=once"], "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}");
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

#[test]
fn start_attach_and_tty_logs() {
    let d = Daemon::start();
    // start -a streams the run and exits with its code, every time.
    d.ok(&["create", "--name", "sa", "busybox", "sh", "-c", "echo from-start-a; exit 2"]);
    for _ in 0..2 {
        let out = d.run(&["start", "-a", "sa"]);
        assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(String::from_utf8_lossy(&out.stdout), "from-start-a\n");
    }
    // attach to a running container: its output from then on, its code.
    d.ok(&["run", "-d", "--name", "at", "busybox", "sh", "-c", "sleep 1; echo attached-out; exit 4"]);
    let out = d.run(&["attach", "at"]);
    assert_eq!(out.status.code(), Some(4));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "attached-out\n");
    // A TTY's output is one raw stream, in the log too.
    let out = d.run(&["run", "-t", "--name", "tl", "busybox", "sh", "-c", "echo tty-line; echo tty-err >&2"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "tty-line\r\ntty-err\r\n");
    assert_eq!(d.ok(&["logs", "tl"]), "tty-line\r\ntty-err\r\n");
    // run -d --rm: gone once it exits.
    d.ok(&["run", "-d", "--rm", "--name", "dr", "busybox", "true"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while d.ok(&["ps", "-a", "--format", "{{.Names}}"]).contains("dr") {
        assert!(Instant::now() < deadline, "run -d --rm left its container");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Reads `reply`'s body until `pred` holds for what was read (or a piece
/// takes over 10 s to come).
fn read_until(reply: &mut blocking::Response<'_>, pred: impl Fn(&str) -> bool) -> String {
    let mut got = Vec::new();
    while !pred(&String::from_utf8_lossy(&got)) {
        match reply.chunk(Duration::from_secs(10)) {
            Ok(Some(piece)) => got.extend_from_slice(&piece),
            Ok(None) | Err(_) => break,
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

#[test]
fn wait_headers_come_first_and_attach_works_without_upgrade() {
    let d = Daemon::start();
    d.ok(&["create", "--name", "nu", "busybox", "sh", "-c", "sleep 0.5; echo no-upgrade; exit 6"]);
    // `stream` returns once a reply's head is in (or fails after 10 s).
    let engine = blocking::Client::new(Endpoint::Unix(d.sock.clone())).unwrap().timeout(Duration::from_secs(10));
    let mut wait = engine.stream(Request::post("/v1.50/containers/nu/wait?condition=next-exit")).unwrap();
    // The status line and headers arrive before the container even starts.
    assert_eq!(wait.status(), 200);
    let mut attach = engine.stream(Request::post("/containers/nu/attach?stream=1&stdout=1&stderr=1")).unwrap();
    assert_eq!(attach.status(), 200);
    let kind = attach.header("content-type").unwrap_or_default();
    assert!(kind.contains("application/vnd.docker.multiplexed-stream"), "{:?}", attach.headers());
    d.ok(&["start", "nu"]);
    let out = read_until(&mut attach, |s| s.contains("no-upgrade"));
    assert!(out.contains("no-upgrade\n"), "{out:?}");
    let body = read_until(&mut wait, |s| s.contains("StatusCode"));
    assert!(body.contains(r#""StatusCode":6"#) && body.contains(r#""Error":null"#), "{body}");
}

/// The writable layer is the container's, not the run's: files written in
/// one run are there after stop/start, after a restart policy's restart and
/// for `cp` from the stopped container; `rm` removes it.
#[test]
fn the_writable_layer_survives_stop_start_and_policy_restarts() {
    let d = Daemon::start();
    d.ok(&["run", "-d", "--name", "xx", "busybox", "sh", "-c", "echo hi > /f; sleep 1000"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while d.docker(&["exec", "xx", "cat", "/f"]).1 != "hi\n" {
        assert!(Instant::now() < deadline, "{}", d.log_tail());
        std::thread::sleep(Duration::from_millis(100));
    }
    d.ok(&["exec", "xx", "sh", "-c", "echo kept > /etc/added; rm /bin/ls"]);
    d.ok(&["stop", "-t", "1", "xx"]);
    // cp from the stopped container sees the layer.
    let host = d.dir.path().join("cp-f");
    d.ok(&["cp", "xx:/etc/added", host.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(&host).unwrap(), "kept\n");
    d.ok(&["start", "xx"]);
    assert_eq!(d.ok(&["exec", "xx", "cat", "/f", "/etc/added"]), "hi\nkept\n");
    let (ok, _, _) = d.docker(&["exec", "xx", "ls", "/"]);
    assert!(!ok, "a file deleted from the image stays deleted (its whiteout is kept)");
    // `docker diff` from the kept layer.
    let diff = d.ok(&["diff", "xx"]);
    for line in ["A /f", "C /etc", "A /etc/added", "D /bin/ls"] {
        assert!(diff.lines().any(|l| l == line), "{line} in:\n{diff}");
    }
    // `ps -s` and `inspect --size`: /f (3 bytes) and /etc/added (5) at least.
    let size_rw: i64 = d.ok(&["inspect", "--size", "--format", "{{.SizeRw}}", "xx"]).trim().parse().unwrap();
    assert!((8..100_000).contains(&size_rw), "SizeRw {size_rw}");
    let ps = d.ok(&["ps", "-s", "--filter", "name=xx", "--format", "{{.Size}}"]);
    assert!(ps.contains("B (virtual "), "{ps}");
    d.ok(&["restart", "-t", "1", "xx"]);
    assert_eq!(d.ok(&["exec", "xx", "cat", "/etc/added"]), "kept\n");
    let rw = d.root.join("containers");
    d.ok(&["rm", "-f", "xx"]);
    let left: Vec<_> = std::fs::read_dir(&rw).map(|r| r.flatten().map(|e| e.path()).collect()).unwrap_or_default();
    assert!(left.is_empty(), "rm removes the writable layer: {left:?}");

    // A restart policy's new run sees the previous run's files.
    d.ok(&[
        "run",
        "-d",
        "--name",
        "counter",
        "--restart",
        "on-failure:3",
        "busybox",
        "sh",
        "-c",
        "echo x >> /runs; [ $(wc -l < /runs) -ge 3 ] || exit 1; sleep 1000",
    ]);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (ok, out, _) = d.docker(&["exec", "counter", "cat", "/runs"]);
        if ok && out == "x\nx\nx\n" {
            break;
        }
        assert!(Instant::now() < deadline, "runs: {out:?}\n{}", d.log_tail());
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn info_counts_containers_and_images() {
    let d = Daemon::start();
    let fmt = "{{.Containers}} {{.ContainersRunning}} {{.ContainersPaused}} {{.ContainersStopped}} {{.Images}}";
    // One image (busybox, pulled and tagged by Daemon::start: one ID, two tags).
    d.ok(&["run", "-d", "--name", "up1", "busybox", "sleep", "1000"]);
    d.ok(&["run", "-d", "--name", "up2", "busybox", "sleep", "1000"]);
    d.ok(&["run", "--name", "done1", "busybox", "true"]);
    d.ok(&["create", "--name", "new1", "busybox", "true"]);
    d.ok(&["pause", "up2"]);
    assert_eq!(d.ok(&["info", "--format", fmt]).trim(), "4 1 1 2 1", "{}", d.log_tail());
    d.ok(&["rm", "-f", "up1", "up2", "done1", "new1"]);
    assert_eq!(d.ok(&["info", "--format", fmt]).trim(), "0 0 0 0 1");
}

/// Networks as records: create, ls, inspect with Containers, aliases in the
/// container's NetworkSettings, `ps --filter network`, connect/disconnect,
/// rm refused while in use and for predefined networks.
#[test]
fn networks_are_recorded_and_containers_join_them() {
    let d = Daemon::start();
    let ls = d.ok(&["network", "ls", "--format", "{{.Name}} {{.Driver}} {{.Scope}}"]);
    for want in ["bridge bridge local", "host host local", "none null local"] {
        assert!(ls.lines().any(|l| l == want), "{ls}");
    }
    let id = d.ok(&["network", "create", "--label", "team=a", "--subnet", "10.77.0.0/24", "front"]).trim().to_string();
    assert_eq!(id.len(), 64, "{id}");
    let (ok, _, err) = d.docker(&["network", "create", "front"]);
    assert!(!ok && err.contains("already exists"), "{err}");
    d.ok(&["run", "-d", "--name", "web", "--network", "front", "--network-alias", "www", "busybox", "sleep", "1000"]);
    d.ok(&["run", "-d", "--name", "other", "busybox", "sleep", "1000"]);
    assert_eq!(
        d.ok(&["network", "inspect", "front", "--format", "{{range .Containers}}{{.Name}}{{end}}"]).trim(),
        "web"
    );
    assert_eq!(
        d.inspect(
            "web",
            "{{json .NetworkSettings.Networks.front.Aliases}} {{.NetworkSettings.Networks.front.NetworkID}}"
        ),
        format!("[\"www\"] {id}")
    );
    assert_eq!(d.inspect("other", "{{range $k, $v := .NetworkSettings.Networks}}{{$k}}{{end}}"), "bridge");
    assert_eq!(d.ok(&["ps", "--filter", "network=front", "--format", "{{.Names}}"]).trim(), "web");
    assert_eq!(d.ok(&["ps", "--filter", "volume=data", "--format", "{{.Names}}"]).trim(), "", "no volumes yet");
    assert_eq!(d.ok(&["network", "ls", "--filter", "label=team=a", "--format", "{{.Name}}"]).trim(), "front");

    d.ok(&["network", "connect", "--alias", "o", "front", "other"]);
    let names = d.ok(&["network", "inspect", "front", "--format", "{{range .Containers}}{{.Name}} {{end}}"]);
    let mut names: Vec<&str> = names.split_whitespace().collect();
    names.sort();
    assert_eq!(names, ["other", "web"]);
    d.ok(&["network", "disconnect", "front", "other"]);
    assert_eq!(d.inspect("other", "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}").trim(), "bridge");

    let (ok, _, err) = d.docker(&["network", "rm", "front"]);
    assert!(!ok && err.contains("active endpoints"), "in use: {err}");
    let (ok, _, err) = d.docker(&["network", "rm", "bridge"]);
    assert!(!ok && err.contains("pre-defined"), "{err}");
    let (ok, _, err) = d.docker(&["run", "--name", "lost", "--network", "nope", "busybox", "true"]);
    assert!(!ok && err.contains("network nope not found"), "{err}");
    // As Docker: the create succeeds, the start fails, the container stays.
    assert_eq!(d.inspect("lost", "{{.State.Status}}"), "created");
    d.ok(&["network", "create", "nope"]);
    d.ok(&["start", "lost"]);
    assert_eq!(
        d.ok(&["network", "inspect", "nope", "--format", "{{range .Containers}}{{.Name}}{{end}}"]).trim(),
        "lost"
    );
    d.ok(&["rm", "-f", "lost"]);
    d.ok(&["network", "rm", "nope"]);

    d.ok(&["rm", "-f", "web", "other"]);
    d.ok(&["network", "rm", "front"]);
    assert!(!d.docker(&["network", "inspect", "front"]).0);
}
