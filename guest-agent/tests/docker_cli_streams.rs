//! Exec and attach streams as Docker's clients use them, against
//! `berth-agent` in process mode: an exec's output framed by its *start*
//! request's `Tty` (docker-py's `exec_start(socket=True)`), Docker's exit
//! codes for a command that cannot run, detached exec starts, the detach
//! keys on attach and on an exec's TTY (ctrl-p ctrl-q, `detachKeys`), and
//! `attach?logs=1&stream=0`. Raw HTTP where the docker CLI would hide what
//! the engine sends; the real CLI (under `script` for a terminal) where it
//! shows what a person sees.
//!
//! Needs root (namespaces, mounts), `/bin/busybox` (busybox-static),
//! `skopeo`, `docker-registry`, `script` (bsdutils) and the docker CLI.

mod containers_fixture;
mod engine_fixture;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use berth_http::{Endpoint, Reply, Request, blocking};
use containers_fixture::{Daemon, output_within};
use engine_fixture::docker_cli;

/// A request whose connection is taken over, as docker-py's `socket=True`
/// and the CLI do: the status line, and the stream after the headers.
struct Hijacked {
    status: u16,
    head: String,
    conn: UnixStream,
}

fn hijack(d: &Daemon, path: &str, body: &str) -> Hijacked {
    let mut conn = UnixStream::connect(&d.sock).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        conn,
        "POST {path} HTTP/1.1\r\nHost: docker\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(conn.read(&mut byte).unwrap(), 1, "the engine closed before its headers: {head:?}");
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    Hijacked { status, head, conn }
}

impl Hijacked {
    /// Everything until the engine closes the stream.
    fn read_all(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        self.conn.read_to_end(&mut out).unwrap();
        out
    }

    /// Reads until `want` has arrived (or 10 s pass).
    fn read_until(&mut self, want: &[u8]) -> Vec<u8> {
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        while !got.windows(want.len()).any(|w| w == want) {
            match self.conn.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
        got
    }

    /// Whether the engine closes the stream within `limit` (what it sends
    /// until then is dropped).
    fn closes_within(&mut self, limit: Duration) -> bool {
        self.conn.set_read_timeout(Some(limit)).unwrap();
        let mut buf = [0u8; 4096];
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            match self.conn.read(&mut buf) {
                Ok(0) => return true,
                Ok(_) => {}
                Err(_) => return false,
            }
        }
        false
    }
}

fn frame(stream: u8, data: &[u8]) -> Vec<u8> {
    let mut f = vec![stream, 0, 0, 0];
    f.extend_from_slice(&(data.len() as u32).to_be_bytes());
    f.extend_from_slice(data);
    f
}

/// One plain request to the engine, its whole reply.
fn send(d: &Daemon, req: Request) -> Reply {
    let engine = blocking::Client::new(Endpoint::Unix(d.sock.clone())).unwrap().timeout(Duration::from_secs(10));
    engine.send(req, 1 << 20).unwrap()
}

/// `POST /containers/{c}/exec` with `body`; the exec's id.
fn create_exec(d: &Daemon, c: &str, body: serde_json::Value) -> String {
    let reply = send(d, Request::post(format!("/v1.50/containers/{c}/exec")).json(&body));
    assert_eq!(reply.status, 201, "{}", reply.text());
    let v: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
    v["Id"].as_str().unwrap().to_string()
}

fn exec_inspect(d: &Daemon, id: &str) -> serde_json::Value {
    serde_json::from_slice(&send(d, Request::get(format!("/v1.50/exec/{id}/json"))).body).unwrap()
}

fn now_secs() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

fn running_box(d: &Daemon, name: &str) {
    d.ok(&["run", "-d", "--name", name, "busybox", "sleep", "1000"]);
}

#[test]
fn an_execs_output_is_framed_by_its_start_request() {
    let d = Daemon::start();
    running_box(&d, "box");
    let exec = |create_tty: bool, cmd: &[&str], start_tty: bool| {
        let id = create_exec(
            &d,
            "box",
            serde_json::json!({"Cmd": cmd, "Tty": create_tty, "AttachStdout": true, "AttachStderr": true}),
        );
        let mut h = hijack(&d, &format!("/v1.50/exec/{id}/start"), &format!(r#"{{"Tty":{start_tty}}}"#));
        assert_eq!(h.status, 101, "{}", h.head);
        (h.head.clone(), h.read_all())
    };
    // docker-py's exec_start(socket=True) of a TTY exec: framed as stdout,
    // not a byte lost.
    let (head, out) = exec(true, &["printf", "yay, interactive exec!"], false);
    assert!(head.contains("application/vnd.docker.multiplexed-stream"), "{head}");
    assert_eq!(out, frame(1, b"yay, interactive exec!"));
    let (head, out) = exec(true, &["printf", "raw"], true);
    assert!(head.contains("application/vnd.docker.raw-stream"), "{head}");
    assert_eq!(out, b"raw");
    // Without a TTY: frames, or (start with Tty) stdout alone, raw.
    let cmd = ["sh", "-c", "printf out; sleep 0.2; printf err >&2"];
    let (_, out) = exec(false, &cmd, false);
    assert_eq!(out, [frame(1, b"out"), frame(2, b"err")].concat());
    let (_, out) = exec(false, &cmd, true);
    assert_eq!(out, b"out");
}

#[test]
fn exec_exit_codes_detach_and_the_cli_terminal() {
    let d = Daemon::start();
    running_box(&d, "box");
    // Docker 28's codes (moby keeps the runtime's 127 since v28.0; older
    // engines said 126 for everything): 127 not found, 126 not executable
    // or a directory; the message in the stream, on stdout.
    let out = d.run(&["exec", "box", "no-such-command"]);
    assert_eq!(out.status.code(), Some(127));
    assert!(String::from_utf8_lossy(&out.stdout).contains("executable file not found"), "{out:?}");
    assert_eq!(d.code(&["exec", "box", "/etc/passwd"]), 126);
    assert_eq!(d.code(&["exec", "box", "/etc"]), 126);
    assert_eq!(d.code(&["exec", "box", "sh", "-c", "exit 5"]), 5);

    // A detached start answers at once with an empty 200; the process runs on.
    let id = create_exec(&d, "box", serde_json::json!({"Cmd": ["sh", "-c", "sleep 1; touch /exec-done"]}));
    let started = Instant::now();
    let reply = send(&d, Request::post(format!("/v1.50/exec/{id}/start")).json(&serde_json::json!({"Detach": true})));
    assert_eq!((reply.status, reply.body.len()), (200, 0), "{}", reply.text());
    assert!(started.elapsed() < Duration::from_millis(900), "detach waited for the process");
    assert_eq!(exec_inspect(&d, &id)["Running"], true);
    let deadline = Instant::now() + Duration::from_secs(10);
    while exec_inspect(&d, &id)["Running"] == true {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(exec_inspect(&d, &id)["ExitCode"], 0);
    d.ok(&["exec", "box", "test", "-f", "/exec-done"]);

    // `docker exec -it` under a terminal: output intact from its first byte.
    let mut c = Command::new("script");
    c.args([
        "-qec",
        &format!("{} exec -it box sh -c 'echo 12345678-first-bytes'", docker_cli().display()),
        "/dev/null",
    ])
    .env("DOCKER_HOST", format!("unix://{}", d.sock.display()))
    .env("DOCKER_CONFIG", d.dir.path().join("docker-config"))
    .stdin(Stdio::piped());
    let out = output_within(c, Duration::from_secs(60), "docker exec -it", &d);
    assert!(String::from_utf8_lossy(&out.stdout).contains("12345678-first-bytes\r\n"), "{out:?}");
}

#[test]
fn the_detach_keys_end_an_attach_and_the_container_runs_on() {
    let d = Daemon::start();
    let since = now_secs().to_string();
    d.ok(&["run", "-dit", "--name", "cat", "busybox", "cat"]);
    let attach =
        |query: &str| hijack(&d, &format!("/v1.50/containers/cat/attach?stream=1&stdin=1&stdout=1{query}"), "");
    let mut h = attach("");
    assert_eq!(h.status, 101, "{}", h.head);
    h.conn.write_all(b"hello\n").unwrap();
    let echoed = h.read_until(b"hello\r\n");
    assert!(String::from_utf8_lossy(&echoed).contains("hello"), "{echoed:?}");
    // ctrl-p, ctrl-q, one at a time as a person types them.
    h.conn.write_all(b"\x10").unwrap();
    std::thread::sleep(Duration::from_millis(300));
    h.conn.write_all(b"\x11").unwrap();
    assert!(h.closes_within(Duration::from_secs(5)), "the attach did not end on ctrl-p ctrl-q");
    assert_eq!(d.inspect("cat", "{{.State.Running}}"), "true");
    // Keys of the client's choosing.
    let mut h = attach("&detachKeys=ctrl-x");
    h.conn.write_all(b"\x10\x11").unwrap();
    assert!(!h.closes_within(Duration::from_millis(500)), "the default keys are off when others are set");
    h.conn.write_all(b"\x18").unwrap();
    assert!(h.closes_within(Duration::from_secs(5)), "ctrl-x did not detach");
    assert_eq!(d.inspect("cat", "{{.State.Running}}"), "true");
    let reply = send(&d, Request::post("/v1.50/containers/cat/attach?stream=1&detachKeys=ctrl-1"));
    assert_eq!(reply.status, 400);
    assert!(reply.text().contains("Invalid detach keys (ctrl-1) provided"), "{}", reply.text());

    // An exec with a TTY detaches the same way; its process runs on.
    let id = create_exec(
        &d,
        "cat",
        serde_json::json!({"Cmd": ["cat"], "Tty": true, "AttachStdin": true, "AttachStdout": true}),
    );
    let mut h = hijack(&d, &format!("/v1.50/exec/{id}/start"), r#"{"Tty":true}"#);
    h.conn.write_all(b"\x10").unwrap();
    std::thread::sleep(Duration::from_millis(300));
    h.conn.write_all(b"\x11").unwrap();
    assert!(h.closes_within(Duration::from_secs(5)), "the exec's attach did not end on ctrl-p ctrl-q");
    assert_eq!(exec_inspect(&d, &id)["Running"], true);
    let until = (now_secs() + 1).to_string();
    let events = |what: &str| {
        d.ok(&["events", "--since", &since, "--until", &until, "--filter", what, "--format", "{{.Action}}"])
    };
    assert_eq!(events("event=detach").lines().collect::<Vec<_>>(), ["detach", "detach"]);
    assert_eq!(events("event=exec_detach").trim(), "exec_detach");

    // The docker CLI under a terminal: `docker attach`, then ctrl-p ctrl-q.
    let mut c = Command::new("script");
    c.args(["-qec", &format!("{} attach cat", docker_cli().display()), "/dev/null"])
        .env("DOCKER_HOST", format!("unix://{}", d.sock.display()))
        .env("DOCKER_CONFIG", d.dir.path().join("docker-config"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    let mut keys = child.stdin.take().unwrap();
    std::thread::sleep(Duration::from_millis(1000));
    keys.write_all(b"typed\r").unwrap();
    std::thread::sleep(Duration::from_millis(300));
    keys.write_all(b"\x10").unwrap();
    std::thread::sleep(Duration::from_millis(300));
    keys.write_all(b"\x11").unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("docker attach did not detach\n{}", d.log_tail());
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut out = String::new();
    child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    // Docker's CLI says so and exits 1 after a detach.
    assert_eq!(status.code(), Some(1), "{out}");
    assert!(out.contains("typed") && out.contains("read escape sequence"), "{out:?}");
    assert_eq!(d.inspect("cat", "{{.State.Running}}"), "true");
}

#[test]
fn attach_with_logs_and_no_stream_returns_the_log_and_ends() {
    let d = Daemon::start();
    d.ok(&["run", "--name", "said", "busybox", "sh", "-c", "echo hello; echo oops >&2"]);
    let mut h = hijack(&d, "/v1.50/containers/said/attach?logs=1&stream=0&stdout=1&stderr=1", "");
    assert_eq!(h.status, 101, "{}", h.head);
    assert_eq!(h.read_all(), [frame(1, b"hello\n"), frame(2, b"oops\n")].concat());
    let mut h = hijack(&d, "/v1.50/containers/said/attach?logs=1&stream=0&stdout=1", "");
    assert_eq!(h.read_all(), frame(1, b"hello\n"), "stdout only");
    // A running container's log so far, and the end: no live stream.
    d.ok(&["run", "-d", "--name", "live", "busybox", "sh", "-c", "echo early; exec sleep 1000"]);
    d.wait_inspect("live", "{{.State.Running}}", "true");
    let deadline = Instant::now() + Duration::from_secs(10);
    while d.ok(&["logs", "live"]) != "early\n" {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut h = hijack(&d, "/v1.50/containers/live/attach?logs=1&stream=0&stdout=1", "");
    assert_eq!(h.read_all(), frame(1, b"early\n"));
}

/// `--log-opt max-size=1k --log-opt max-file=2`: the json-file log rotates
/// as Docker's (the live file at most 1 KiB, one rotated file, nothing
/// older), `docker logs` prints what is kept, ending with the last line; a
/// bad value is refused at create and nothing is made.
#[test]
fn the_json_file_log_rotates_at_max_size_and_keeps_max_file() {
    let d = Daemon::start();
    d.ok(&[
        "run",
        "--name",
        "chatty",
        "--log-opt",
        "max-size=1k",
        "--log-opt",
        "max-file=2",
        "busybox",
        "seq",
        "1",
        "3000",
    ]);
    let path = d.inspect("chatty", "{{.LogPath}}");
    let live = std::fs::metadata(&path).expect("live log").len();
    assert!(live > 0 && live <= 1024, "live log {live} bytes");
    let older = format!("{path}.1");
    assert!(std::fs::metadata(&older).expect("rotated log").len() <= 1024);
    assert!(!std::path::Path::new(&format!("{path}.2")).exists(), "max-file=2 keeps two files");
    let out = d.ok(&["logs", "chatty"]);
    assert!(out.ends_with("2999\n3000\n") && !out.starts_with("1\n"), "{out}");
    assert_eq!(d.ok(&["logs", "--tail", "2", "chatty"]), "2999\n3000\n");

    let (ok, _, err) = d.docker(&["create", "--name", "bad", "--log-opt", "max-size=lots", "busybox"]);
    assert!(!ok && err.contains("invalid size"), "{err}");
    let (ok, _, err) =
        d.docker(&["create", "--name", "bad", "--log-opt", "max-file=0", "--log-opt", "max-size=1k", "busybox"]);
    assert!(!ok && err.contains("max-file cannot be less than 1"), "{err}");
    assert_eq!(d.ok(&["ps", "-aq", "--filter", "name=bad"]), "");
}
