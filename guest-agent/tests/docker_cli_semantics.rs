//! Docker semantics that clients act on, checked with the real docker CLI
//! against `berth-agent` in process mode: stop signals and exit codes,
//! `top`'s process list, the `none` log driver, `--security-opt` forms and
//! the status codes of removing a container twice.
//!
//! Needs root (namespaces, mounts), `/bin/busybox` (busybox-static),
//! `skopeo`, `docker-registry` and the docker CLI.

mod containers_fixture;
mod engine_fixture;

use std::time::Duration;

use berth_http::{Endpoint, Request, blocking};
use containers_fixture::Daemon;

fn engine(d: &Daemon) -> blocking::Client {
    blocking::Client::new(Endpoint::Unix(d.sock.clone())).expect("client").timeout(Duration::from_secs(30))
}

/// `StopSignal` from the create request and from the image is what `stop`
/// sends: a process that ends cleanly on SIGINT exits 0, not SIGKILL's 137,
/// and it does so before the timeout.
#[test]
fn stop_sends_the_stop_signal_of_the_request_or_the_image() {
    let d = Daemon::start();
    let trap = r#"trap "exit 0" INT; while true; do sleep 0.1; done"#;
    d.ok(&["run", "-d", "--name", "asked", "--stop-signal", "SIGINT", "busybox", "sh", "-c", trap]);
    assert_eq!(d.inspect("asked", "{{.Config.StopSignal}}"), "SIGINT");
    let started = std::time::Instant::now();
    d.ok(&["stop", "-t", "30", "asked"]);
    assert!(started.elapsed() < std::time::Duration::from_secs(25), "stop waited for the timeout");
    assert_eq!(d.inspect("asked", "{{.State.ExitCode}}"), "0");

    // An image whose config says STOPSIGNAL SIGINT (made by import --change).
    d.ok(&["create", "--name", "tree", "busybox"]);
    let export = d.cmd(&["export", "tree"]).output().expect("docker export");
    assert!(export.status.success());
    let mut import = d
        .cmd(&["import", "-c", "STOPSIGNAL SIGINT", "-c", &format!("CMD [\"sh\", \"-c\", {trap:?}]"), "-", "sigint"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("docker import");
    std::io::Write::write_all(&mut import.stdin.take().expect("stdin"), &export.stdout).expect("write the tar");
    assert!(import.wait().expect("import").success());
    d.ok(&["run", "-d", "--name", "from-image", "sigint"]);
    assert_eq!(d.inspect("from-image", "{{.Config.StopSignal}}"), "SIGINT");
    d.ok(&["stop", "-t", "30", "from-image"]);
    assert_eq!(d.inspect("from-image", "{{.State.ExitCode}}"), "0");
}

/// A container's processes start with no signal ignored or blocked (the
/// shim's own ignored SIGPIPE is not inherited): a process killed by SIGPIPE
/// reports 128+13, a pipeline's writer dies quietly of it, and a `run`
/// whose process ends on a signal exits with 128+N.
#[test]
fn container_processes_start_with_default_signal_actions() {
    let d = Daemon::start();
    // The standard signals (1-31): none ignored, none blocked. (The C
    // library's own real-time signals are not a container's to see.)
    let status = d.ok(&["run", "--rm", "busybox", "grep", "-E", "^Sig(Ign|Blk)", "/proc/self/status"]);
    for line in status.lines() {
        let (name, mask) = line.split_once(":\t").expect("a Sig line");
        let mask = u64::from_str_radix(mask, 16).expect("a hex mask");
        assert_eq!(mask & 0x7fff_ffff, 0, "{name}: {mask:#x}");
    }
    assert_eq!(status.lines().count(), 2, "{status}");
    assert_eq!(d.code(&["run", "--rm", "busybox", "sh", "-c", r#"sh -c 'kill -PIPE $$'; exit $?"#]), 141);
    let out = d.run(&["run", "--rm", "busybox", "sh", "-c", "yes | head -n 1"]);
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "y\n");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "", "yes saw EPIPE instead of dying of SIGPIPE");
    // The container's init itself ended by a signal: 128+9.
    d.ok(&["run", "-d", "--name", "killed", "busybox", "sleep", "1000"]);
    d.ok(&["kill", "killed"]);
    d.wait_inspect("killed", "{{.State.Status}}", "exited");
    assert_eq!(d.inspect("killed", "{{.State.ExitCode}}"), "137");
}

/// A container that floods its stdout still answers `kill` and `rm -f`
/// at once (the shim's output pump yields to its other work).
#[test]
fn a_flooding_container_can_be_killed_and_removed() {
    let d = Daemon::start();
    d.ok(&["run", "-d", "--name", "flood", "busybox", "yes"]);
    d.ok(&["kill", "flood"]);
    d.ok(&["rm", "-f", "flood"]);
    d.ok(&["run", "-d", "--name", "flood2", "busybox", "yes"]);
    // Straight to rm -f: its SIGKILL may find the init reaped but not yet
    // recorded as exited, which is no error.
    d.ok(&["rm", "-f", "flood2"]);
    assert_eq!(d.ok(&["ps", "-aq"]), "");
}

/// `top` lists the container's own processes, each once: not the shim's,
/// not the engine's.
#[test]
fn top_lists_only_the_containers_processes() {
    let d = Daemon::start();
    d.ok(&["run", "-d", "--name", "two", "busybox", "sh", "-c", "sleep 100 & sleep 100"]);
    let pid = d.inspect("two", "{{.State.Pid}}");
    // The backgrounded sleep may take a moment to exist.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let rows = loop {
        let top = d.ok(&["top", "two", "-o", "pid,ppid,args"]);
        let rows: Vec<Vec<String>> =
            top.lines().skip(1).map(|l| l.split_whitespace().map(String::from).collect()).collect();
        if rows.len() >= 2 || std::time::Instant::now() > deadline {
            break rows;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    // busybox's sh execs its last command: PID 1 is a sleep, its child the
    // backgrounded one.
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert!(rows.iter().all(|r| r[2..] == ["sleep", "100"]), "{rows:?}");
    assert_eq!(rows[0][0], pid, "{rows:?}");
    assert_eq!(rows[1][1], pid, "{rows:?}");
}

/// `--log-driver none`: the output still reaches an attached client, no
/// log file is written, inspect shows an empty LogPath, and `logs` answers
/// Docker's 501.
#[test]
fn the_none_log_driver_writes_nothing_and_logs_is_a_501() {
    let d = Daemon::start();
    let out = d.ok(&["run", "--rm", "--log-driver", "none", "busybox", "echo", "attached"]);
    assert_eq!(out, "attached\n");
    let id =
        d.ok(&["run", "-d", "--name", "quiet", "--log-driver", "none", "busybox", "sh", "-c", "echo hi; sleep 1000"]);
    let id = id.trim();
    assert_eq!(d.inspect("quiet", "{{.HostConfig.LogConfig.Type}}|{{.LogPath}}"), "none|");
    let (ok, _, err) = d.docker(&["logs", "quiet"]);
    assert!(!ok && err.contains("configured logging driver does not support reading"), "{err}");
    let reply = engine(&d).send(Request::get("/containers/quiet/logs?stdout=1"), 1 << 16).expect("logs");
    assert_eq!(reply.status, 501, "{:?}", reply.body);
    // Choosing no stream is still the first complaint (400), as Docker's.
    let reply = engine(&d).send(Request::get("/containers/quiet/logs"), 1 << 16).expect("logs");
    assert_eq!(reply.status, 400);
    let files: Vec<String> = std::fs::read_dir(d.root.join("containers").join(id))
        .expect("the container's directory")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!files.iter().any(|f| f.ends_with(".log")), "{files:?}");
    // The default driver is json-file, read back as before.
    d.ok(&["run", "--name", "chatty", "busybox", "echo", "kept"]);
    assert_eq!(d.inspect("chatty", "{{.HostConfig.LogConfig.Type}}"), "json-file");
    assert_eq!(d.ok(&["logs", "chatty"]), "kept\n");
}

/// `--security-opt` as Docker reads it: a seccomp profile file (the CLI
/// sends its JSON) is applied, label and AppArmor options are accepted,
/// `no-new-privileges` in its three spellings sets the process's flag, and
/// what Docker refuses is refused with its messages.
#[test]
fn security_opts_are_read_as_docker_reads_them() {
    let d = Daemon::start();
    let profile = d.dir.path().join("no-mkdir.json");
    std::fs::write(
        &profile,
        r#"{
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [
                {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1, "comment": "no new dirs"}
            ]
        }"#,
    )
    .expect("write the profile");
    let seccomp = format!("seccomp={}", profile.display());
    let out = d.run(&["run", "--rm", "--security-opt", &seccomp, "busybox", "mkdir", "/made"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("Operation not permitted"), "{out:?}");
    assert_eq!(d.ok(&["run", "--rm", "--security-opt", &seccomp, "busybox", "sh", "-c", "echo ran"]), "ran\n");
    // --privileged runs without any filter, the profile too.
    d.ok(&["run", "--rm", "--privileged", "--security-opt", &seccomp, "busybox", "mkdir", "/made"]);
    d.ok(&["create", "--name", "profiled", "--security-opt", &seccomp, "busybox"]);
    let stored = d.inspect("profiled", "{{json .HostConfig.SecurityOpt}}");
    assert!(stored.starts_with(r#"["seccomp={"#) && stored.contains("SCMP_ACT_ALLOW"), "{stored}");

    for opts in [
        &["label=disable", "apparmor=unconfined"][..],
        &["label:disable", "label=type:container_t"][..],
        &["seccomp=unconfined", "seccomp=builtin"][..],
    ] {
        let mut args = vec!["run", "--rm"];
        for o in opts {
            args.extend(["--security-opt", o]);
        }
        args.extend(["busybox", "true"]);
        d.ok(&args);
    }
    let nnp =
        |opt: &str| d.ok(&["run", "--rm", "--security-opt", opt, "busybox", "grep", "NoNewPrivs", "/proc/self/status"]);
    for opt in ["no-new-privileges", "no-new-privileges=true", "no-new-privileges:true"] {
        assert_eq!(nnp(opt), "NoNewPrivs:\t1\n", "{opt}");
    }
    assert_eq!(nnp("no-new-privileges=false"), "NoNewPrivs:\t0\n");

    let (ok, _, err) = d.docker(&["create", "--security-opt", "foo=bar", "busybox"]);
    assert!(!ok && err.contains(r#"invalid --security-opt 2: "foo=bar""#), "{err}");
    // What the docker CLI itself would refuse, sent straight to the API.
    for (opt, message) in [
        ("bogus", r#"invalid --security-opt 1: \"bogus\""#),
        ("no-new-privileges=maybe", r#"invalid --security-opt 2: \"no-new-privileges=maybe\""#),
        ("seccomp={broken", "Decoding seccomp profile failed"),
    ] {
        let body = serde_json::json!({"Image": "busybox", "HostConfig": {"SecurityOpt": [opt]}});
        let reply = engine(&d).send(Request::post("/containers/create").json(&body), 1 << 16).expect("create");
        let text = String::from_utf8_lossy(&reply.body);
        assert_eq!(reply.status, 400, "{opt}: {text}");
        assert!(text.contains(message), "{opt}: {text}");
    }
    assert_eq!(d.ok(&["ps", "-aq"]).lines().count(), 1, "refused creates leave nothing behind");
}

/// Overlapping removals answer as moby's: while one removal is under way a
/// second `DELETE` is a 409 "removal of container X is already in
/// progress"; once it is done the container is gone (404, which compose's
/// `rm` and `down` tolerate).
#[test]
fn a_second_removal_is_a_409_while_the_first_runs_then_a_404() {
    use std::io::BufRead;
    let d = Daemon::start();
    // sleep as PID 1 ignores SIGTERM: this stop holds the container for its
    // whole timeout, and both removals wait behind it.
    d.ok(&["run", "-d", "--name", "slow", "busybox", "sleep", "1000"]);
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("now").as_secs() - 1;
    let mut events = d
        .cmd(&["events", "--since", &since.to_string(), "--filter", "container=slow", "--filter", "event=kill"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("docker events");
    let stop = std::thread::spawn({
        let mut c = d.cmd(&["stop", "-t", "15", "slow"]);
        move || c.output().expect("docker stop")
    });
    let mut line = String::new();
    std::io::BufReader::new(events.stdout.take().expect("stdout")).read_line(&mut line).expect("the kill event");
    let _ = events.kill();
    let _ = events.wait();
    // The stop has sent its SIGTERM and waits: two removals now.
    let client = engine(&d);
    let statuses: Vec<(u16, String)> = std::thread::scope(|s| {
        let removals: Vec<_> = (0..2)
            .map(|_| {
                s.spawn(|| {
                    let reply =
                        client.send(Request::new(berth_http::Method::DELETE, "/containers/slow?force=1"), 1 << 16);
                    let reply = reply.expect("delete");
                    (reply.status, String::from_utf8_lossy(&reply.body).into_owned())
                })
            })
            .collect();
        removals.into_iter().map(|r| r.join().expect("a removal")).collect()
    });
    let mut codes: Vec<u16> = statuses.iter().map(|s| s.0).collect();
    codes.sort_unstable();
    assert_eq!(codes, [204, 409], "{statuses:?}");
    let conflict = &statuses.iter().find(|s| s.0 == 409).expect("the 409").1;
    assert!(conflict.contains("removal of container slow is already in progress"), "{conflict}");
    assert!(stop.join().expect("stop").status.success());
    let reply = client.send(Request::new(berth_http::Method::DELETE, "/containers/slow?force=1"), 1 << 16);
    assert_eq!(reply.expect("delete").status, 404);
}

/// A container whose shim and process died behind the engine's back is
/// still removed (its record and runtime state go), then is a 404.
#[test]
fn an_orphaned_container_is_removed() {
    let d = Daemon::start();
    let id = d.ok(&["run", "-d", "--name", "orphan", "busybox", "sleep", "1000"]);
    let id = id.trim();
    let state = d.root.join("runtime").join(id);
    let shim = std::fs::read_to_string(state.join("shim.pid")).expect("the shim's pid");
    let init = d.inspect("orphan", "{{.State.Pid}}");
    for pid in [shim.trim(), init.as_str()] {
        let pid = nix::unistd::Pid::from_raw(pid.parse().expect("a pid"));
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL).expect("kill");
    }
    d.wait_inspect("orphan", "{{.State.Status}}", "exited");
    d.ok(&["rm", "-f", "orphan"]);
    assert!(!state.exists() && !d.root.join("containers").join(id).exists());
    let (ok, _, err) = d.docker(&["rm", "orphan"]);
    assert!(!ok && err.contains("No such container: orphan"), "{err}");
}
