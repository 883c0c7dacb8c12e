//! The real docker CLI (28.x) against `berth-agent` in process mode, for
//! what issue 15 found missing: `docker commit`, `docker update`, `docker
//! diff`'s kinds, `--group-add`, prune's reclaimed space, `docker kill`'s
//! recorded exit, and `docker load` of something that is no archive.
//!
//! Same fixture as `docker_cli_containers.rs`: a one-layer busybox image
//! (no /etc/hosts, /etc/resolv.conf or /etc/hostname in it: the runtime
//! makes those mount points in the writable layer) pulled from a loopback
//! `docker-registry`. Needs root, busybox-static, skopeo, docker-registry
//! and the docker CLI.

mod containers_fixture;
mod engine_fixture;

use std::time::Duration;

use berth_http::{Endpoint, Request, blocking};
use containers_fixture::Daemon;

fn api(d: &Daemon) -> blocking::Client {
    blocking::Client::new(Endpoint::Unix(d.sock.clone())).expect("client").timeout(Duration::from_secs(60))
}

fn json(body: &[u8]) -> serde_json::Value {
    serde_json::from_slice(body).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(body)))
}

/// `docker diff` lists only what the container did, with Docker's kinds;
/// `docker commit` makes of it a child image that runs with the change,
/// and its config and history are Docker's.
#[test]
fn diff_then_commit_makes_a_runnable_child_image() {
    let d = Daemon::start();
    d.ok(&["run", "--name", "touched", "busybox", "touch", "/test"]);
    assert_eq!(d.ok(&["diff", "touched"]), "A /test\n", "the runtime's mount points are no change");
    let changes = api(&d).send(Request::get("/containers/touched/changes"), 1 << 20).expect("changes");
    assert_eq!(json(&changes.body), serde_json::json!([{"Path": "/test", "Kind": 1}]));

    d.ok(&["run", "--name", "wrote", "busybox", "sh", "-c", "echo hello > /data.txt; rm /etc/group; mkdir /srv"]);
    assert_eq!(d.ok(&["diff", "wrote"]), "A /data.txt\nC /etc\nD /etc/group\nA /srv\n");
    let id = d.ok(&[
        "commit",
        "-a",
        "Ann <ann@example.com>",
        "-m",
        "first commit",
        "-c",
        "EXPOSE 8000",
        "-c",
        r#"CMD ["cat", "/data.txt"]"#,
        "-c",
        "ENV GREETING=hi",
        "wrote",
        "mine:v1",
    ]);
    let id = id.trim();
    assert!(id.starts_with("sha256:") && id.len() == 71, "{id}");
    assert_eq!(d.ok(&["run", "--rm", "mine:v1"]), "hello\n", "the committed CMD and file");
    assert_eq!(
        d.ok(&["run", "--rm", "mine:v1", "sh", "-c", "[ -e /etc/group ] || echo gone; [ -d /srv ] && echo $GREETING"]),
        "gone\nhi\n",
        "the deletion and the new directory are in the layer"
    );
    let busybox = d.inspect("busybox", "{{.Id}}");
    assert_eq!(
        d.inspect("mine:v1", "{{.Parent}}|{{.Author}}|{{.Comment}}|{{.Config.ExposedPorts}}|{{len .RootFS.Layers}}"),
        format!("{busybox}|Ann <ann@example.com>|first commit|map[8000/tcp:{{}}]|2")
    );
    let history = d.ok(&["history", "--no-trunc", "--format", "{{.CreatedBy}}|{{.Comment}}", "mine:v1"]);
    assert!(history.starts_with("sh -c echo hello > /data.txt; rm /etc/group; mkdir /srv|first commit\n"), "{history}");

    // A bad change is Docker's 400, before anything is stored.
    let images = d.ok(&["images", "-q"]);
    let (ok, _, err) = d.docker(&["commit", "-c", "RUN rm -rf /", "wrote"]);
    assert!(!ok && err.contains("run is not a valid change command"), "{err}");
    assert_eq!(d.ok(&["images", "-q"]), images);

    // The API's answer: 201 {"Id"}; an unchanged container is an empty layer.
    let r =
        api(&d).send(Request::post("/commit?container=touched&repo=raw&pause=0").json(&serde_json::json!({})), 1 << 20);
    let r = r.expect("commit");
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    assert!(json(&r.body)["Id"].as_str().is_some_and(|s| s.starts_with("sha256:")));
    d.ok(&["run", "--name", "same", "busybox", "true"]);
    d.ok(&["commit", "same", "same:v1"]);
    assert_eq!(d.inspect("same:v1", "{{len .RootFS.Layers}}"), "1", "no change, no layer");
}

/// A running container is frozen while its layer is read, and thawed
/// after; `--pause=false` leaves it alone.
#[test]
fn commit_of_a_running_container_pauses_it_meanwhile() {
    let d = Daemon::start();
    d.ok(&["run", "-d", "--name", "live", "busybox", "sh", "-c", "echo run > /r; exec sleep 1000"]);
    d.wait_inspect("live", "{{.State.Status}}", "running");
    let since = containers_fixture::now_secs().to_string();
    // The file is written by the container's first command: wait for it.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while d.docker(&["exec", "live", "cat", "/r"]).1 != "run\n" {
        assert!(std::time::Instant::now() < deadline, "{}", d.log_tail());
        std::thread::sleep(Duration::from_millis(100));
    }
    d.ok(&["commit", "live", "snap"]);
    d.ok(&["commit", "--pause=false", "live", "snap2"]);
    assert_eq!(d.inspect("live", "{{.State.Status}}"), "running");
    let ev = d.past_events(&since, &["container=live", "event=pause", "event=unpause", "event=commit"], "{{.Action}}");
    // Docker thaws it once the commit is done, its event included.
    assert_eq!(ev.lines().collect::<Vec<_>>(), ["pause", "commit", "unpause", "commit"], "{ev}");
    assert_eq!(d.ok(&["run", "--rm", "snap2", "cat", "/r"]), "run\n");
}

/// The cgroup file of a running container, v2 or v1.
fn cgroup_file(id: &str, v2: &str, v1: (&str, &str)) -> String {
    let unified = std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    let path = if unified {
        format!("/sys/fs/cgroup/berth/{id}/{v2}")
    } else {
        format!("/sys/fs/cgroup/{}/berth/{id}/{}", v1.0, v1.1)
    };
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}")).trim().to_string()
}

#[test]
fn update_changes_limits_live_and_in_the_record() {
    let d = Daemon::start();
    let id = d.ok(&["run", "-d", "--name", "upd", "-m", "400m", "busybox", "sleep", "1000"]);
    let id = id.trim();
    d.ok(&["update", "--memory", "64m", "--restart", "always", "upd"]);
    assert_eq!(d.inspect("upd", "{{.HostConfig.Memory}} {{.HostConfig.RestartPolicy.Name}}"), "67108864 always");
    assert_eq!(cgroup_file(id, "memory.max", ("memory", "memory.limit_in_bytes")), "67108864");
    d.ok(&["update", "--pids-limit", "50", "--cpu-shares", "512", "upd"]);
    assert_eq!(cgroup_file(id, "pids.max", ("pids", "pids.max")), "50");
    assert_eq!(d.inspect("upd", "{{.HostConfig.PidsLimit}} {{.HostConfig.CpuShares}}"), "50 512");

    // Docker's refusals, with its words.
    let (ok, _, err) = d.docker(&["update", "--memory", "1m", "upd"]);
    assert!(!ok && err.contains("Minimum memory limit allowed is 6MB"), "{err}");
    d.ok(&["update", "--cpus", "0.5", "upd"]);
    let (ok, _, err) = d.docker(&["update", "--cpu-quota", "50000", "upd"]);
    assert!(!ok && err.contains("CPU Quota cannot be updated as NanoCPUs has already been set"), "{err}");
    d.ok(&["run", "-d", "--rm", "--name", "gone-soon", "busybox", "sleep", "1000"]);
    let (ok, _, err) = d.docker(&["update", "--restart", "always", "gone-soon"]);
    assert!(!ok && err.contains("Restart policy cannot be updated because AutoRemove is enabled"), "{err}");
    let r = api(&d).send(Request::post("/containers/upd/update").json(&serde_json::json!({"Memory": 1024})), 1 << 20);
    assert_eq!(r.expect("update").status, 400);
    let r = api(&d).send(Request::post("/containers/upd/update").json(&serde_json::json!({"PidsLimit": 60})), 1 << 20);
    let r = r.expect("update");
    assert_eq!((r.status, json(&r.body)), (200, serde_json::json!({"Warnings": []})));

    // A stopped container takes the update at its next start.
    d.ok(&["stop", "-t", "0", "upd"]);
    d.ok(&["update", "--memory", "96m", "upd"]);
    d.ok(&["start", "upd"]);
    assert_eq!(cgroup_file(id, "memory.max", ("memory", "memory.limit_in_bytes")), "100663296");
    // So does a created one (its cgroup comes with the start).
    let created = d.ok(&["create", "-m", "400m", "busybox", "sleep", "1000"]);
    let created = created.trim();
    d.ok(&["update", "--memory", "100m", created]);
    d.ok(&["start", created]);
    assert_eq!(cgroup_file(created, "memory.max", ("memory", "memory.limit_in_bytes")), "104857600");
}

/// `kill` answers once the exit is recorded: the inspect right after sees
/// 137, every time.
#[test]
fn kill_answers_after_the_exit_is_recorded() {
    let d = Daemon::start();
    for i in 0..5 {
        let name = format!("k{i}");
        d.ok(&["run", "-d", "--name", &name, "busybox", "sleep", "1000"]);
        d.ok(&["kill", &name]);
        assert_eq!(d.inspect(&name, "{{.State.Running}} {{.State.ExitCode}}"), "false 137", "run {i}");
    }
    // Another signal answers at once; the container ends in its own time.
    d.ok(&["run", "-d", "--name", "term", "busybox", "sh", "-c", "trap 'exit 3' TERM; while :; do sleep 0.1; done"]);
    d.wait_inspect("term", "{{.State.Status}}", "running");
    d.ok(&["kill", "-s", "TERM", "term"]);
    d.wait_inspect("term", "{{.State.Running}} {{.State.ExitCode}}", "false 3");
}

#[test]
fn group_add_reaches_the_process_and_prune_counts_the_layers() {
    let d = Daemon::start();
    let groups = d.ok(&["run", "--rm", "--group-add", "nobody", "--group-add", "4242", "busybox", "id", "-G"]);
    let groups: Vec<&str> = groups.split_whitespace().collect();
    assert!(groups.contains(&"65534") && groups.contains(&"4242"), "{groups:?}");
    let (ok, _, err) = d.docker(&["run", "--rm", "--group-add", "ghosts", "busybox", "true"]);
    assert!(!ok && err.contains("unable to find group ghosts"), "{err}");

    d.ok(&["run", "--name", "wrote", "busybox", "sh", "-c", "echo hello > /data.txt"]);
    d.ok(&["run", "-d", "--name", "runs", "busybox", "sleep", "1000"]);
    let wrote = d.inspect("wrote", "{{.Id}}");
    let r = api(&d).send(Request::post("/containers/prune"), 1 << 20).expect("prune");
    let r = json(&r.body);
    assert_eq!(r["ContainersDeleted"], serde_json::json!([wrote]));
    assert_eq!(r["SpaceReclaimed"], 6, "the 6 bytes of /data.txt: {r}");
}

/// `docker load` of something that is no archive: Docker's 200 with the
/// error in the stream, which the CLI reports and exits 1 on.
#[test]
fn load_of_no_archive_fails_in_the_stream() {
    let d = Daemon::start_bare();
    let r = api(&d).send(Request::post("/images/load").bytes("application/x-tar", &b"abc"[..]), 1 << 20);
    let r = r.expect("load");
    assert_eq!(r.status, 200);
    let line = json(r.body.split(|b| *b == b'\n').next().unwrap_or_default());
    assert!(line["errorDetail"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{line}");
    let mut c = d.cmd(&["load"]);
    let mut child = c
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("docker load");
    std::io::Write::write_all(&mut child.stdin.take().expect("stdin"), b"this is not a tar").expect("write");
    let out = child.wait_with_output().expect("wait");
    assert!(!out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
}
