//! stdin, TTY, exec, pause/resume, stats/top, reconnect after the engine's
//! handle is gone.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;
use crate::runtime::{AttachStreams, ContainerState, ExecRequest, RuntimeError};

const ALL: AttachStreams = AttachStreams { stdin: true, stdout: true, stderr: true };

#[tokio::test]
async fn stdin_reaches_the_container_and_half_close_is_eof() {
    let f = Fixture::new();
    let mut req = f.request(&["sh", "-c", "cat; echo done"]);
    req.config.open_stdin = Some(true);
    req.config.stdin_once = Some(true);
    let shim = f.rt.create(req).await.expect("create");
    let mut io = shim.attach(ALL).await.expect("attach");
    shim.start().await.expect("start");
    io.write_all(b"hello\n").await.expect("write stdin");
    io.shutdown().await.expect("half-close");
    let (out, _) = read_frames(io).await;
    assert_eq!(out, "hello\ndone\n");
    assert_eq!(shim.wait_exit().await.expect("wait").code, 0);
    shim.delete().await.expect("delete");
}

#[tokio::test]
async fn a_tty_gives_raw_bytes_a_terminal_and_resizes() {
    let f = Fixture::new();
    let mut req = f.request(&["sh", "-c", "read line; tty; stty size; echo got:$line"]);
    req.config.tty = Some(true);
    req.config.open_stdin = Some(true);
    req.host_config.console_size = Some(vec![30, 100]);
    let shim = f.rt.create(req).await.expect("create");
    let mut io = shim.attach(ALL).await.expect("attach");
    shim.start().await.expect("start");
    shim.resize(120, 40).await.expect("resize");
    io.write_all(b"abc\n").await.expect("write");
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), io.read_to_end(&mut out)).await.expect("in time").expect("read");
    let out = String::from_utf8_lossy(&out);
    assert!(out.contains("/dev/pts/0"), "{out}");
    assert!(out.contains("40 120"), "resized: {out}");
    assert!(out.contains("got:abc\r\n"), "terminal line endings, no frames: {out}");
    assert_eq!(shim.wait_exit().await.expect("wait").code, 0);
    shim.delete().await.expect("delete");
}

#[tokio::test]
async fn exec_runs_in_the_container_with_its_own_exit_code() {
    let f = Fixture::new();
    let shim = f.rt.create(f.request(&["sh", "-c", "echo marker > /tmp/m; sleep 100"])).await.expect("create");
    shim.start().await.expect("start");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let req = ExecRequest {
        cmd: vec!["sh".into(), "-c".into(), "cat /tmp/m; echo $FOO; hostname; exit 7".into()],
        env: vec!["FOO=bar".into()],
        attach: AttachStreams { stdin: false, stdout: true, stderr: true },
        ..Default::default()
    };
    let (handle, io) = shim.exec("exec1", req).await.expect("exec");
    assert!(handle.pid() > 0);
    let (out, _) = read_frames(io).await;
    assert_eq!(out, format!("marker\nbar\n{}\n", &shim.id()[..12]));
    let exit = handle.wait_exit().await.expect("exec exit");
    assert_eq!(exit.code, 7);
    let started = exit.started_at.expect("an exec's exit says when it started");
    assert!(started <= exit.finished_at, "{exit:?}");

    // stdin with half-close, as `docker exec -i`.
    let req = ExecRequest { cmd: vec!["cat".into()], attach: ALL, ..Default::default() };
    let (_h, mut io) = shim.exec("exec2", req).await.expect("exec");
    io.write_all(b"piped\n").await.expect("write");
    io.shutdown().await.expect("half-close");
    assert_eq!(read_frames(io).await.0, "piped\n");

    // A terminal for the exec although the container has none (`exec -it`
    // into a `run -d`), with the container's environment plus the exec's.
    let req = ExecRequest {
        cmd: vec!["sh".into(), "-c".into(), "tty; echo $FOO-$HOSTNAME; exit 4".into()],
        env: vec!["FOO=tty".into()],
        tty: true,
        attach: ALL,
        ..Default::default()
    };
    let (h, mut io) = shim.exec("exec4", req).await.expect("exec with a tty");
    let mut raw = Vec::new();
    io.read_to_end(&mut raw).await.expect("read the terminal");
    let text = String::from_utf8_lossy(&raw);
    assert!(text.contains("/dev/pts/"), "{text}");
    assert!(text.contains(&format!("tty-{}", &shim.id()[..12])), "{text}");
    assert_eq!(h.wait_exit().await.expect("exec exit").code, 4);
    // Its exit collected, the shim keeps nothing of it.
    let again = h.wait_exit().await.expect_err("forgotten");
    assert!(again.to_string().contains("no such exec"), "{again}");

    let req = ExecRequest { cmd: vec!["nope".into()], ..Default::default() };
    match shim.exec("exec3", req).await {
        Err(RuntimeError::Exec { code, .. }) => assert_eq!(code, 127),
        other => panic!("expected 127, got {other:?}"),
    }
    shim.kill(libc::SIGKILL).await.expect("kill");
    shim.wait_exit().await.expect("wait");
    shim.delete().await.expect("delete");
}

#[tokio::test]
async fn pause_freezes_and_stats_and_top_see_the_cgroup() {
    let f = Fixture::new();
    let mut req = f.request(&["sh", "-c", "sleep 100 & while true; do :; done"]);
    req.host_config.memory = Some(64 << 20);
    req.host_config.pids_limit = Some(50);
    let shim = f.rt.create(req).await.expect("create");
    let pid = shim.start().await.expect("start");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let pids = shim.top().await.expect("top");
    // The shell and its sleep, each once: on cgroup v1 every controller's
    // hierarchy lists the same processes, which `top` must not repeat.
    assert!(pids.contains(&pid), "{pids:?}");
    assert_eq!(pids.len(), 2, "{pids:?}");
    let s1 = shim.stats().await.expect("stats");
    assert!(s1.cpu_total_ns > 0 && s1.memory_usage > 0, "{s1:?}");
    assert_eq!(s1.memory_limit, 64 << 20);
    assert_eq!((s1.pids_limit, s1.pids_current >= 2), (50, true));
    assert!(s1.system_cpu_ns > 0 && s1.online_cpus >= 1);

    shim.pause().await.expect("pause");
    assert!(matches!(shim.state().await.expect("state"), ContainerState::Paused { .. }));
    let frozen = shim.stats().await.expect("stats").cpu_total_ns;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let later = shim.stats().await.expect("stats").cpu_total_ns;
    assert!(later - frozen < 20_000_000, "a frozen container burns no CPU: {frozen} → {later}");
    assert!(shim.exec("x", ExecRequest { cmd: vec!["true".into()], ..Default::default() }).await.is_err());
    shim.resume().await.expect("resume");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(shim.stats().await.expect("stats").cpu_total_ns - later > 50_000_000, "running again");

    shim.pause().await.expect("pause again");
    shim.kill(libc::SIGKILL).await.expect("kill a paused container");
    assert_eq!(shim.wait_exit().await.expect("wait").code, 137);
    shim.delete().await.expect("delete");
}

#[tokio::test]
async fn the_shim_outlives_the_engines_handle_and_logs_go_on() {
    let f = Fixture::new();
    let req = f.request(&["sh", "-c", "for i in 1 2 3 4 5 6; do echo tick$i; sleep 0.2; done"]);
    let (id, log) = (req.id.clone(), req.log_path.clone().expect("a log"));
    {
        let shim = f.rt.create(req).await.expect("create");
        shim.start().await.expect("start");
    }
    // A new runtime over the same state, as after an engine restart.
    let rt2 = Runtime::with_shim_exe(f.rt.state_root().to_path_buf(), agent_exe()).expect("runtime");
    assert!(rt2.list_ids().expect("ids").contains(&id));
    let shim = rt2.reconnect(&id).await.expect("reconnect").expect("the shim is alive");
    assert!(matches!(shim.state().await.expect("state"), ContainerState::Running { .. }));
    assert_eq!(shim.wait_exit().await.expect("wait").code, 0);
    let text = std::fs::read_to_string(&log).expect("log");
    assert_eq!(text.matches("tick").count(), 6, "{text}");
    assert_eq!(rt2.recorded_exit(&id).expect("exit.json").code, 0);
    shim.delete().await.expect("delete");
    assert!(rt2.reconnect(&id).await.expect("reconnect").is_none());
}

#[tokio::test]
async fn exec_with_a_tty_gets_a_terminal_stdin_and_resizes() {
    let f = Fixture::new();
    let shim = f.rt.create(f.request(&["sleep", "100"])).await.expect("create");
    shim.start().await.expect("start");
    let req = ExecRequest {
        cmd: vec!["sh".into(), "-c".into(), "tty; read line; stty size; echo got:$line:$TERM:$FOO; exit 3".into()],
        env: vec!["FOO=bar".into()],
        tty: true,
        console_size: Some((100, 30)),
        attach: ALL,
        ..Default::default()
    };
    let (handle, mut io) = shim.exec("tty1", req).await.expect("exec with a tty");
    handle.resize(120, 40).await.expect("resize the exec's pty");
    io.write_all(b"abc\n").await.expect("write");
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), io.read_to_end(&mut out)).await.expect("in time").expect("read");
    let out = String::from_utf8_lossy(&out);
    assert!(out.contains("/dev/pts/"), "{out}");
    assert!(out.contains("40 120"), "resized: {out}");
    assert!(out.contains("got:abc:xterm:bar\r\n"), "raw terminal bytes, TERM set, env kept: {out}");
    assert_eq!(handle.wait_exit().await.expect("exec exit").code, 3, "the shim reaps the exec as its parent");
    let leftovers: Vec<String> = std::fs::read_dir(f.rt.state_root().join(shim.id()))
        .expect("the shim's dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('e') && (n.ends_with(".sock") || n.ends_with(".json")))
        .collect();
    assert!(leftovers.is_empty(), "console socket and process.json removed: {leftovers:?}");
    // A TTY exec in a container with a non-TTY init, and a second one after it.
    let req = ExecRequest { cmd: vec!["tty".into()], tty: true, attach: ALL, ..Default::default() };
    let (handle, mut io) = shim.exec("tty2", req).await.expect("second tty exec");
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), io.read_to_end(&mut out)).await.expect("in time").expect("read");
    assert!(String::from_utf8_lossy(&out).contains("/dev/pts/"));
    assert_eq!(handle.wait_exit().await.expect("exit").code, 0);
    shim.kill(libc::SIGKILL).await.expect("kill");
    shim.wait_exit().await.expect("wait");
    shim.delete().await.expect("delete");
}
