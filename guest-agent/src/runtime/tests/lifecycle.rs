//! Create, start, attach, wait, kill, delete.

use super::*;
use crate::runtime::{ContainerState, RuntimeError};

async fn run_to_exit(f: &Fixture, cmd: &[&str]) -> (i32, String, String) {
    let shim = f.rt.create(f.request(cmd)).await.expect("create");
    let io = shim.attach(OUT_ERR).await.expect("attach");
    shim.start().await.expect("start");
    let (out, err) = read_frames(io).await;
    let exit = shim.wait_exit().await.expect("wait");
    shim.delete().await.expect("delete");
    (exit.code, out, err)
}

#[tokio::test]
async fn exit_codes_are_the_containers_own() {
    let f = Fixture::new();
    assert_eq!(run_to_exit(&f, &["true"]).await.0, 0);
    assert_eq!(run_to_exit(&f, &["false"]).await.0, 1);
    assert_eq!(run_to_exit(&f, &["sh", "-c", "exit 3"]).await.0, 3);
}

/// Shims are forked by the launcher; a launcher killed with -9 costs
/// nothing but speed: the next create execs its shim, the one after gets
/// a new launcher, and every container runs.
#[tokio::test]
async fn containers_start_with_a_forked_shim_and_without_a_launcher() {
    let f = Fixture::new();
    let first = f.rt.launcher().pid().expect("a launcher runs");
    assert_eq!(run_to_exit(&f, &["sh", "-c", "exit 4"]).await.0, 4);
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(first as i32), nix::sys::signal::Signal::SIGKILL).expect("kill");
    // Until its socket reports the death, a request may still be queued
    // to it: give the kernel a moment to close it.
    for _ in 0..100 {
        if !Path::new(&format!("/proc/{first}/fd")).exists()
            || std::fs::read_dir(format!("/proc/{first}/fd")).map(|d| d.count()).unwrap_or(0) == 0
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(run_to_exit(&f, &["sh", "-c", "exit 5"]).await.0, 5, "exec'd shim");
    assert_eq!(run_to_exit(&f, &["sh", "-c", "exit 6"]).await.0, 6, "new launcher");
    let second = f.rt.launcher().pid().expect("a new launcher");
    assert_ne!(first, second);
}

#[tokio::test]
async fn stdout_and_stderr_arrive_as_frames_and_in_the_log() {
    let f = Fixture::new();
    let req = f.request(&["sh", "-c", "echo out; echo err >&2"]);
    let log = req.log_path.clone().expect("a log");
    let shim = f.rt.create(req).await.expect("create");
    let io = shim.attach(OUT_ERR).await.expect("attach");
    shim.start().await.expect("start");
    let (out, err) = read_frames(io).await;
    assert_eq!((out.as_str(), err.as_str()), ("out\n", "err\n"));
    assert_eq!(shim.wait_exit().await.expect("wait").code, 0);
    let text = std::fs::read_to_string(&log).expect("log");
    assert!(text.contains(r#""log":"out\n","stream":"stdout""#), "{text}");
    assert!(text.contains(r#""log":"err\n","stream":"stderr""#), "{text}");
    shim.delete().await.expect("delete");
}

#[tokio::test]
async fn missing_command_is_127_with_dockers_message() {
    let f = Fixture::new();
    let shim = f.rt.create(f.request(&["no-such-command"])).await.expect("create");
    match shim.start().await {
        Err(RuntimeError::Exec { code, message }) => {
            assert_eq!(code, 127);
            assert_eq!(message, "exec: \"no-such-command\": executable file not found in $PATH");
        }
        other => panic!("expected an exec error, got {other:?}"),
    }
    let exit = shim.wait_exit().await.expect("wait");
    assert_eq!(exit.code, 127);
    assert!(exit.error.is_some());
    shim.delete().await.expect("delete");
}

#[tokio::test]
async fn kill_ends_a_running_container_with_128_plus_signal() {
    let f = Fixture::new();
    let shim = f.rt.create(f.request(&["sleep", "100"])).await.expect("create");
    assert_eq!(shim.state().await.expect("state"), ContainerState::Created);
    let pid = shim.start().await.expect("start");
    assert!(pid > 0);
    assert!(matches!(shim.state().await.expect("state"), ContainerState::Running { .. }));
    assert!(shim.delete().await.is_err(), "a running container cannot be deleted");
    shim.kill(libc::SIGKILL).await.expect("kill");
    assert_eq!(shim.wait_exit().await.expect("wait").code, 137);
    assert!(matches!(shim.state().await.expect("state"), ContainerState::Exited(_)));
    shim.delete().await.expect("delete");
    assert!(!f.rt.state_root().join(shim.id()).exists(), "state removed by delete");
}
