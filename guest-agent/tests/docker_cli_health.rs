//! Health checks through the real docker CLI (28.x) against `berth-agent`
//! in process mode: `--health-*` and an image's `HEALTHCHECK`, probes run as
//! execs in the container, `State.Health` in inspect, `(healthy)` in `ps`,
//! the `health` filter, `health_status` events, the monitor stopping with
//! the container and coming back with it (and with an engine restart).
//!
//! Needs root (namespaces, mounts), `/bin/busybox` (busybox-static),
//! `skopeo`, `docker-registry` and the docker CLI.

mod containers_fixture;
mod engine_fixture;

use std::time::{Duration, Instant};

use containers_fixture::{Daemon, busybox_archive_as, now_secs};

/// Polls `docker ps` for `name` until its STATUS contains `want`.
fn wait_ps_status(d: &Daemon, name: &str, want: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = d.ok(&["ps", "-a", "--filter", &format!("name=^{name}$"), "--format", "{{.Status}}"]);
        if status.contains(want) {
            return status;
        }
        assert!(Instant::now() < deadline, "{name}: {status:?}, waited for {want:?}\n{}", d.log_tail());
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn health_checks_run_in_the_container_and_show_everywhere() {
    let d = Daemon::start();
    let since = now_secs().to_string();
    // A check that passes: the probe runs inside the container (it sees
    // the container's own file).
    d.ok(&[
        "run",
        "-d",
        "--name",
        "ok",
        "--health-interval",
        "200ms",
        "--health-cmd",
        "test -f /ready && echo fine",
        "busybox",
        "sh",
        "-c",
        "touch /ready; exec sleep 1000",
    ]);
    d.ok(&[
        "run",
        "-d",
        "--name",
        "bad",
        "--health-interval",
        "200ms",
        "--health-cmd",
        "echo nope; exit 3",
        "--health-retries",
        "2",
        "busybox",
        "sleep",
        "1000",
    ]);
    d.ok(&["run", "-d", "--name", "plain", "busybox", "sleep", "1000"]);
    let status = wait_ps_status(&d, "ok", "(healthy)");
    assert!(status.starts_with("Up "), "{status}");
    wait_ps_status(&d, "bad", "(unhealthy)");
    assert_eq!(d.inspect("ok", "{{.State.Health.Status}} {{.State.Health.FailingStreak}}"), "healthy 0");
    d.wait_inspect("ok", "{{len .State.Health.Log}}", "5");
    let last = d.inspect("ok", "{{with index .State.Health.Log 4}}{{.ExitCode}} {{printf \"%q\" .Output}}{{end}}");
    assert_eq!(last, r#"0 "fine\n""#);
    let times = d.inspect("ok", "{{with index .State.Health.Log 0}}{{.Start}} {{.End}}{{end}}");
    // The CLI read both as times (it prints Go's format).
    assert_eq!(times.matches(" +0000 UTC").count(), 2, "{times}");
    assert_eq!(d.inspect("bad", "{{.State.Health.Status}}"), "unhealthy");
    assert!(d.inspect("bad", "{{.State.Health.FailingStreak}}").parse::<i64>().unwrap() >= 2);
    assert_eq!(d.inspect("bad", "{{with index .State.Health.Log 0}}{{.ExitCode}} {{.Output}}{{end}}"), "3 nope");
    assert_eq!(d.inspect("plain", "{{.State.Health}}"), "<nil>");
    assert_eq!(
        d.inspect("ok", "{{json .Config.Healthcheck}}"),
        r#"{"Test":["CMD-SHELL","test -f /ready && echo fine"],"Interval":200000000}"#
    );

    // `ps --filter health=`.
    let names =
        |h: &str| d.ok(&["ps", "--filter", &format!("health={h}"), "--format", "{{.Names}}"]).trim().to_string();
    assert_eq!(names("healthy"), "ok");
    assert_eq!(names("unhealthy"), "bad");
    assert_eq!(names("none"), "plain");
    assert_eq!(names("starting"), "");
    let (ok, _, err) = d.docker(&["ps", "--filter", "health=fine"]);
    assert!(!ok && err.contains("invalid filter 'health=fine'"), "{err}");

    // `health_status` events, and the probes' exec events.
    let ev = d.past_events(&since, &["event=health_status"], "{{.Action}} {{.Actor.Attributes.name}}");
    assert!(ev.lines().any(|l| l == "health_status: healthy ok"), "{ev}");
    assert!(ev.lines().any(|l| l == "health_status: unhealthy bad"), "{ev}");
    let ev = d.past_events(&since, &["container=ok", "event=exec_die"], "{{.Actor.Attributes.exitCode}}");
    assert!(ev.lines().filter(|l| *l == "0").count() >= 5, "{ev}");

    // The monitor stops with the container (Docker then says unhealthy),
    // and a new run starts over from "starting" with the log kept.
    d.ok(&["stop", "-t", "0", "ok"]);
    assert_eq!(d.inspect("ok", "{{.State.Health.Status}}"), "unhealthy");
    let log = d.inspect("ok", "{{json .State.Health.Log}}");
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(d.inspect("ok", "{{json .State.Health.Log}}"), log, "no probe while stopped");
    d.ok(&["start", "ok"]);
    wait_ps_status(&d, "ok", "(healthy)");
    // Paused: no probes; unpaused: probes again.
    d.ok(&["pause", "ok"]);
    assert_eq!(d.inspect("ok", "{{.State.Health.Status}}"), "unhealthy");
    d.ok(&["unpause", "ok"]);
    d.wait_inspect("ok", "{{.State.Health.Status}}", "healthy");
}

#[test]
fn timeouts_start_periods_and_bad_settings() {
    let d = Daemon::start();
    // A probe past its timeout is killed and counts as a failure (-1).
    d.ok(&[
        "run",
        "-d",
        "--name",
        "slow",
        "--health-cmd",
        "echo started; exec sleep 60",
        "--health-interval",
        "200ms",
        "--health-timeout",
        "300ms",
        "--health-retries",
        "1",
        "busybox",
        "sleep",
        "1000",
    ]);
    d.wait_inspect("slow", "{{.State.Health.Status}}", "unhealthy");
    assert_eq!(
        d.inspect("slow", "{{with index .State.Health.Log 0}}{{.ExitCode}} {{printf \"%q\" .Output}}{{end}}"),
        r#"-1 "Health check exceeded timeout (300ms): started\n""#
    );
    let procs = d.ok(&["top", "slow"]);
    assert!(procs.matches("sleep 60").count() <= 1, "killed probes do not pile up:\n{procs}");

    // Failures inside the start period do not count: still starting.
    d.ok(&[
        "run",
        "-d",
        "--name",
        "warming",
        "--health-cmd",
        "false",
        "--health-interval",
        "1h",
        "--health-start-period",
        "1h",
        "--health-start-interval",
        "200ms",
        "--health-retries",
        "1",
        "busybox",
        "sleep",
        "1000",
    ]);
    d.wait_inspect("warming", "{{ge (len .State.Health.Log) 2}}", "true");
    assert_eq!(d.inspect("warming", "{{.State.Health.Status}} {{.State.Health.FailingStreak}}"), "starting 0");
    wait_ps_status(&d, "warming", "(health: starting)");

    // Settings Docker refuses.
    let (ok, _, err) = d.docker(&["run", "-d", "--health-interval", "1ns", "busybox", "true"]);
    assert!(!ok && err.contains("Interval in Healthcheck cannot be less than 1ms"), "{err}");
    let (ok, _, err) = d.docker(&["run", "-d", "--health-retries", "-1", "busybox", "true"]);
    assert!(!ok && err.contains("--health-retries cannot be negative"), "the CLI's own check: {err}");
}

#[test]
fn the_images_healthcheck_applies_unless_turned_off() {
    let d = Daemon::start();
    let archive = d.dir.path().join("checked.tar");
    busybox_archive_as(
        &archive,
        "checked:latest",
        serde_json::json!({"Healthcheck": {"Test": ["CMD-SHELL", "echo from-image"], "Interval": 200_000_000, "Retries": 2}}),
    );
    d.ok(&["load", "-i", archive.to_str().unwrap()]);
    d.ok(&["run", "-d", "--name", "img", "checked", "sleep", "1000"]);
    wait_ps_status(&d, "img", "(healthy)");
    assert_eq!(d.inspect("img", "{{with index .State.Health.Log 0}}{{.Output}}{{end}}"), "from-image");
    // Flags without a command keep the image's command.
    d.ok(&["run", "-d", "--name", "tuned", "--health-retries", "5", "checked", "sleep", "1000"]);
    assert_eq!(
        d.inspect("tuned", "{{json .Config.Healthcheck}}"),
        r#"{"Test":["CMD-SHELL","echo from-image"],"Interval":200000000,"Retries":5}"#
    );
    // --no-healthcheck: none at all.
    d.ok(&["run", "-d", "--name", "off", "--no-healthcheck", "checked", "sleep", "1000"]);
    assert_eq!(d.inspect("off", "{{json .Config.Healthcheck.Test}}"), r#"["NONE"]"#);
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(d.inspect("off", "{{.State.Health}}"), "<nil>");
    let status = d.ok(&["ps", "--filter", "name=^off$", "--format", "{{.Status}}"]);
    assert!(status.starts_with("Up ") && !status.contains('('), "{status}");
}

#[test]
fn an_engine_restart_starts_the_monitor_again() {
    let mut d = Daemon::start();
    d.ok(&[
        "run",
        "-d",
        "--name",
        "kept",
        "--health-cmd",
        "true",
        "--health-interval",
        "200ms",
        "busybox",
        "sleep",
        "1000",
    ]);
    d.wait_inspect("kept", "{{.State.Health.Status}}", "healthy");
    d.kill9();
    d.restart_engine();
    // Docker starts a re-adopted container's health over; probes go on.
    d.wait_inspect("kept", "{{.State.Health.Status}} {{ge (len .State.Health.Log) 1}}", "healthy true");
    let before = d.inspect("kept", "{{with index .State.Health.Log 0}}{{.Start}}{{end}}");
    d.wait_inspect("kept", "{{len .State.Health.Log}}", "5");
    let deadline = Instant::now() + Duration::from_secs(10);
    while d.inspect("kept", "{{with index .State.Health.Log 0}}{{.Start}}{{end}}") == before {
        assert!(Instant::now() < deadline, "no new probes after the engine restart\n{}", d.log_tail());
        std::thread::sleep(Duration::from_millis(100));
    }
}
