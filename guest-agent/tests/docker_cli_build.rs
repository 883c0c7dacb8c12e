//! `docker build` with the real docker CLI (28.x, no buildx: the classic
//! builder, `POST /build`, with `DOCKER_BUILDKIT=0`) against `berth-agent`
//! in process mode: Dockerfiles that use every kind of step, each image
//! run and checked; the cache (hits, a one-file change invalidating from
//! its step on, surviving an engine restart); `--target`, `--build-arg`,
//! `-f` outside the context; a failing RUN's status and message with no
//! image, tag or container left; `docker history`; `--cache-from`,
//! `--add-host` in RUN steps, hard links in a COPY, tag events and
//! `builder prune`.
//!
//! Same fixture as `docker_cli_containers.rs` (busybox from a loopback
//! registry). Needs root, busybox-static, skopeo, docker-registry and the
//! docker CLI.

mod containers_fixture;
mod engine_fixture;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use containers_fixture::{Daemon, output_within};

/// `docker build ARGS` in `dir`: (success, stdout, stderr).
fn build(d: &Daemon, dir: &Path, args: &[&str]) -> (bool, String, String) {
    let mut c = d.cmd(&[&["build"], args].concat());
    c.current_dir(dir).env("DOCKER_BUILDKIT", "0").stdin(Stdio::null());
    let out = output_within(c, Duration::from_secs(120), &format!("docker build {}", args.join(" ")), d);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn build_ok(d: &Daemon, dir: &Path, args: &[&str]) -> String {
    let (ok, out, err) = build(d, dir, args);
    assert!(ok, "docker build {} failed: {err}\n{out}\nengine log:\n{}", args.join(" "), d.log_tail());
    out
}

fn write(dir: &Path, files: &[(&str, &str)]) {
    for (name, text) in files {
        let p = dir.join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
}

fn containers(d: &Daemon) -> String {
    d.ok(&["ps", "-aq"])
}

#[test]
fn a_dockerfile_of_every_step_builds_a_runnable_image() {
    let d = Daemon::start();
    let ctx = tempfile::tempdir().unwrap();
    let c = ctx.path();
    let mut tar = tar::Builder::new(Vec::new());
    let mut h = containers_fixture::header();
    h.set_size(6);
    tar.append_data(&mut h, "inside/tarred.txt", &b"tarred"[..]).unwrap();
    std::fs::write(c.join("bundle.tar"), tar.into_inner().unwrap()).unwrap();
    write(
        c,
        &[
            ("app/main.sh", "#!/bin/sh\necho main $GREETING\n"),
            ("app/data/one.txt", "one\n"),
            ("notes/a.md", "a"),
            ("notes/b.md", "b"),
            (
                "Dockerfile",
                r#"ARG BASE=busybox
FROM ${BASE} AS builder
ARG WHO=world
ENV GREETING="hello ${WHO}" EMPTY=
RUN echo "building for $WHO" && mkdir -p /out && echo built > /out/artifact && rm /etc/group
RUN <<EOF
echo from heredoc > /out/heredoc
echo ${EMPTY:-dflt} > /out/expanded
EOF

FROM busybox
LABEL org.example.kind=test version="1.0"
MAINTAINER Ann <ann@example.com>
WORKDIR /srv
WORKDIR app
COPY --from=builder /out/ /built/
COPY app/ ./
COPY --chown=1000:1000 --chmod=640 notes/*.md /notes/
ADD bundle.tar /unpacked/
ENV GREETING=hi \
    PATH=/srv/app:$PATH
USER 1000:1000
EXPOSE 8080 53/udp
VOLUME /data
HEALTHCHECK --interval=5s --retries=3 CMD true
STOPSIGNAL SIGQUIT
ONBUILD RUN echo triggered > /tmp/triggered
CMD ["sh", "main.sh"]
"#,
            ),
        ],
    );
    let out = build_ok(&d, c, &["-t", "every:v1", "-t", "every:latest", "--build-arg", "WHO=tests", "."]);
    assert!(out.contains("Step 1/23 : ARG BASE=busybox\n"), "{out}");
    assert!(out.contains("Step 2/23 : FROM ${BASE} AS builder\n"), "{out}");
    assert!(out.contains(" ---> Running in "), "{out}");
    assert!(out.contains("building for tests\n"), "the RUN's output: {out}");
    assert!(
        out.contains("Successfully tagged every:v1\n") && out.contains("Successfully tagged every:latest\n"),
        "{out}"
    );
    let id = d.inspect("every:v1", "{{.Id}}");
    assert!(out.contains(&format!("Successfully built {}\n", &id[7..19])), "{out}");
    assert_eq!(containers(&d), "", "no build container is left");

    assert_eq!(d.ok(&["run", "--rm", "every:v1"]), "main hi\n", "CMD, WORKDIR and ENV");
    let check = "id -u; id -g; pwd; cat /built/artifact /built/heredoc /built/expanded /unpacked/inside/tarred.txt; echo; \
                 ls /srv/app; ls /srv/app/data; stat -c '%u:%g %a' /notes/a.md /notes/b.md; [ -e /etc/group ] && echo group";
    assert_eq!(
        d.ok(&["run", "--rm", "every:v1", "sh", "-c", check]),
        "1000\n1000\n/srv/app\nbuilt\nfrom heredoc\ndflt\ntarred\ndata\nmain.sh\none.txt\n1000:1000 640\n1000:1000 640\ngroup\n",
        "only the last stage's files; the builder's deletion of /etc/group stays in the builder"
    );
    assert_eq!(
        d.inspect(
            "every:v1",
            "{{.Config.User}}|{{.Config.ExposedPorts}}|{{.Config.Volumes}}|{{.Config.StopSignal}}|{{.Config.OnBuild}}|{{.Author}}|{{index .Config.Labels \"version\"}}|{{.Config.Healthcheck.Test}}"
        ),
        "1000:1000|map[53/udp:{} 8080/tcp:{}]|map[/data:{}]|SIGQUIT|[RUN echo triggered > /tmp/triggered]|Ann <ann@example.com>|1.0|[CMD-SHELL true]"
    );
    let history = d.ok(&["history", "--no-trunc", "--format", "{{.CreatedBy}}", "every:v1"]);
    let lines: Vec<&str> = history.lines().collect();
    assert_eq!(lines[0], r#"/bin/sh -c #(nop)  CMD ["sh" "main.sh"]"#, "{history}");
    assert!(lines.contains(&"/bin/sh -c #(nop)  USER 1000:1000"), "{history}");
    assert!(lines.contains(&"/bin/sh -c #(nop) WORKDIR /srv/app"), "{history}");
    assert!(
        lines.iter().any(|l| l.starts_with("/bin/sh -c #(nop) COPY dir:") && l.ends_with(" in /srv/app/ ")),
        "{history}"
    );
    assert!(
        lines.iter().any(|l| l.starts_with("/bin/sh -c #(nop) ADD file:") && l.ends_with(" in /unpacked/ ")),
        "{history}"
    );

    // ONBUILD triggers run in a child build.
    let child = tempfile::tempdir().unwrap();
    write(child.path(), &[("Dockerfile", "FROM every:v1\nRUN cat /tmp/triggered\n")]);
    let out = build_ok(&d, child.path(), &["-q", "-t", "child", "."]);
    let cid = d.inspect("child", "{{.Id}}");
    assert_eq!(out.trim(), cid, "-q prints the ID only");
    assert_eq!(d.ok(&["run", "--rm", "child", "cat", "/tmp/triggered"]), "triggered\n");
    assert_eq!(d.inspect("child", "{{.Config.OnBuild}}"), "[]", "a child does not inherit the triggers");
}

#[test]
fn the_cache_is_reused_until_a_file_changes_and_survives_a_restart() {
    let mut d = Daemon::start();
    let ctx = tempfile::tempdir().unwrap();
    let c = ctx.path();
    write(
        c,
        &[
            ("a.txt", "a1"),
            ("b.txt", "b1"),
            (
                "Dockerfile",
                "FROM busybox\nRUN echo one > /one\nCOPY a.txt /a.txt\nRUN cat /a.txt > /copied\nCOPY b.txt /b.txt\nCMD [\"cat\", \"/copied\"]\n",
            ),
        ],
    );
    let first = build_ok(&d, c, &["-t", "cached", "."]);
    assert!(!first.contains("Using cache"), "{first}");
    let id = d.inspect("cached", "{{.Id}}");
    let again = build_ok(&d, c, &["-t", "cached", "."]);
    assert_eq!(again.matches(" ---> Using cache\n").count(), 5, "{again}");
    assert!(!again.contains("Running in"), "{again}");
    assert_eq!(d.inspect("cached", "{{.Id}}"), id, "the same image");

    // A new mtime is no change; new bytes are, from that step on.
    let f = std::fs::File::options().write(true).open(c.join("a.txt")).unwrap();
    f.set_modified(std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000)).unwrap();
    drop(f);
    let touched = build_ok(&d, c, &["-t", "cached", "."]);
    assert_eq!(touched.matches(" ---> Using cache\n").count(), 5, "mtimes are not content: {touched}");
    std::fs::write(c.join("a.txt"), "a2").unwrap();
    let changed = build_ok(&d, c, &["-t", "cached", "."]);
    let steps: Vec<&str> = changed.split("Step ").skip(1).collect();
    assert!(steps[1].contains("Using cache"), "RUN before the change: {changed}");
    for s in &steps[2..] {
        assert!(!s.contains("Using cache"), "every step from the change on runs again: {changed}");
    }
    assert_eq!(d.ok(&["run", "--rm", "cached"]), "a2");

    d.kill9();
    d.restart_engine();
    let after = build_ok(&d, c, &["-t", "cached", "."]);
    assert_eq!(after.matches(" ---> Using cache\n").count(), 5, "the cache survives a restart: {after}");
    let nocache = build_ok(&d, c, &["--no-cache", "-t", "cached", "."]);
    assert!(!nocache.contains("Using cache"), "{nocache}");
    let pruned = d.ok(&["builder", "prune", "-f"]);
    assert!(pruned.contains("Total"), "{pruned}");
    let cold = build_ok(&d, c, &["-t", "cached2", "."]);
    assert!(!cold.contains("Using cache"), "a pruned cache is cold: {cold}");
}

#[test]
fn target_build_args_and_a_dockerfile_outside_the_context() {
    let d = Daemon::start();
    let ctx = tempfile::tempdir().unwrap();
    let c = ctx.path();
    write(
        c,
        &[(
            "Dockerfile",
            "FROM busybox AS first\nARG MSG=default\nRUN echo \"$MSG\" > /msg\nFROM first AS second\nRUN echo second > /second\n\
             FROM busybox\nRUN false\n",
        )],
    );
    build_ok(&d, c, &["--target", "second", "-t", "t:second", "."]);
    assert_eq!(d.ok(&["run", "--rm", "t:second", "cat", "/msg", "/second"]), "default\nsecond\n");
    build_ok(&d, c, &["--target", "first", "--build-arg", "MSG=given", "-t", "t:first", "."]);
    assert_eq!(d.ok(&["run", "--rm", "t:first", "cat", "/msg"]), "given\n");
    let history = d.ok(&["history", "--no-trunc", "--format", "{{.CreatedBy}}", "t:first"]);
    assert!(history.starts_with("|1 MSG=given /bin/sh -c echo \"$MSG\" > /msg\n"), "{history}");
    let (ok, _, err) = build(&d, c, &["--target", "nope", "."]);
    assert!(!ok && err.contains("failed to reach build target nope in Dockerfile"), "{err}");

    let elsewhere = tempfile::tempdir().unwrap();
    write(elsewhere.path(), &[("Build.docker", "FROM busybox\nCOPY hello.txt /\nCMD [\"cat\", \"/hello.txt\"]\n")]);
    write(c, &[("hello.txt", "hello from the context\n")]);
    let file = elsewhere.path().join("Build.docker");
    build_ok(&d, c, &["-f", file.to_str().unwrap(), "-t", "outside", "."]);
    assert_eq!(d.ok(&["run", "--rm", "outside"]), "hello from the context\n");

    // A lone Dockerfile on stdin.
    let mut cmd = d.cmd(&["build", "-t", "stdin", "-"]);
    cmd.env("DOCKER_BUILDKIT", "0").stdin(std::fs::File::open(&file).unwrap());
    let out = output_within(cmd, Duration::from_secs(60), "docker build -", &d);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("hello.txt"), "no context: the COPY fails: {err}");
}

#[test]
fn a_failing_run_leaves_no_image_tag_or_container() {
    let d = Daemon::start();
    let ctx = tempfile::tempdir().unwrap();
    let c = ctx.path();
    write(c, &[("Dockerfile", "FROM busybox\nRUN echo before\nRUN false\nRUN echo never\n")]);
    let (ok, out, err) = build(&d, c, &["-t", "broken", "."]);
    assert!(!ok, "{out}");
    assert!(err.contains("The command '/bin/sh -c false' returned a non-zero code: 1"), "{err}");
    assert!(!out.contains("never"), "{out}");
    assert_eq!(d.code(&["image", "inspect", "broken"]), 1, "no tag");
    assert_eq!(containers(&d), "", "the failed step's container is removed");
    let (_, _, e) = d.docker(&["image", "inspect", "broken"]);
    assert!(e.contains("No such image"), "{e}");
    let mut cmd = d.cmd(&["build", "-t", "broken", "."]);
    cmd.current_dir(c).env("DOCKER_BUILDKIT", "0");
    assert_eq!(output_within(cmd, Duration::from_secs(60), "build", &d).status.code(), Some(1));

    write(c, &[("Dockerfile", "FROM busybox\nRUN exit 7\n")]);
    let mut cmd = d.cmd(&["build", "."]);
    cmd.current_dir(c).env("DOCKER_BUILDKIT", "0");
    let out = output_within(cmd, Duration::from_secs(60), "build", &d);
    assert_eq!(out.status.code(), Some(7), "the CLI exits with the RUN's code");

    for (file, want) in [
        ("FROM busybox\nFOO bar\n", "unknown instruction"),
        ("FROM busybox\nCOPY missing.txt /\n", "file not found in build context"),
        ("FROM busybox\nCOPY ../escape /\n", "forbidden path outside the build context"),
        ("FROM busybox\nADD http://127.0.0.1:9/x /\n", "no network"),
    ] {
        write(c, &[("Dockerfile", file)]);
        let (ok, _, err) = build(&d, c, &["-t", "bad", "."]);
        assert!(!ok && err.contains(want), "{file}: {err}");
        assert_eq!(containers(&d), "", "{file}");
    }
    let (ok, _, err) = build(&d, c, &["--squash", "."]);
    assert!(!ok && err.contains("squash"), "{err}");
}

/// A `# syntax=` line (BuildKit's frontend) is accepted with a note that
/// the classic builder ignores it, and the build goes on.
#[test]
fn a_syntax_directive_is_noted_and_ignored() {
    let d = Daemon::start();
    let ctx = tempfile::tempdir().unwrap();
    write(ctx.path(), &[("Dockerfile", "# syntax=docker/dockerfile:1.7\nFROM busybox\nRUN echo built > /b\n")]);
    let out = build_ok(&d, ctx.path(), &["-t", "syntax", "."]);
    assert!(out.contains("# syntax=docker/dockerfile:1.7 is ignored: the classic builder"), "{out}");
    assert_eq!(d.ok(&["run", "--rm", "syntax", "cat", "/b"]), "built\n");
}

/// The CLI applies `.dockerignore` (with `!` exceptions) to what it sends;
/// `COPY .` copies what arrived.
#[test]
fn dockerignore_exceptions_reach_the_image() {
    let d = Daemon::start();
    let ctx = tempfile::tempdir().unwrap();
    let c = ctx.path();
    write(
        c,
        &[
            (".dockerignore", "*.log\n!keep.log\nsecret/\n"),
            ("a.log", "x"),
            ("keep.log", "kept"),
            ("secret/key", "k"),
            ("src/main.txt", "main"),
            ("Dockerfile", "FROM busybox\nCOPY . /ctx/\nCMD [\"sh\", \"-c\", \"cd /ctx && find . -type f | sort\"]\n"),
        ],
    );
    build_ok(&d, c, &["-t", "ignored", "."]);
    assert_eq!(
        d.ok(&["run", "--rm", "ignored"]),
        "./.dockerignore\n./Dockerfile\n./keep.log\n./src/main.txt\n",
        "a.log and secret/ stay out, keep.log comes back in"
    );
}

#[test]
fn cache_from_extra_hosts_hard_links_tag_events_and_builder_prune() {
    let d = Daemon::start();
    let ctx = tempfile::tempdir().unwrap();
    let c = ctx.path();
    write(
        c,
        &[
            (
                "Dockerfile",
                "FROM busybox\nCOPY tree /tree\nRUN cat /etc/hosts > /hosts\nRUN stat -c %i /tree/z /tree/a > /inodes\n",
            ),
            ("tree/z", "linked\n"),
        ],
    );
    // A hard link sorted before its target (Debian's tree has many).
    std::fs::hard_link(c.join("tree/z"), c.join("tree/a")).unwrap();
    let started = chrono_now();
    build_ok(&d, c, &["--add-host", "built.test:10.1.2.3", "-t", "cf:one", "."]);
    let hosts = d.ok(&["run", "--rm", "cf:one", "cat", "/hosts"]);
    assert!(hosts.contains("10.1.2.3\tbuilt.test"), "RUN steps see --add-host: {hosts}");
    let inodes = d.ok(&["run", "--rm", "cf:one", "cat", "/inodes"]);
    let lines: Vec<&str> = inodes.lines().collect();
    assert!(lines.len() == 2 && lines[0] == lines[1], "the hard link stays one file: {inodes}");

    // --cache-from naming nothing that exists: no local hits (moby's ImageCache).
    let cold = build_ok(&d, c, &["--cache-from", "nosuch:tag", "-t", "cf:two", "."]);
    assert!(!cold.contains("Using cache"), "{cold}");
    // --cache-from the first image: its chain is reused, step by step.
    let warm = build_ok(&d, c, &["--cache-from", "cf:one", "-t", "cf:three", "."]);
    assert_eq!(warm.matches("Using cache").count(), 3, "{warm}");

    let events = d.ok(&[
        "events",
        "--since",
        &started,
        "--until",
        &chrono_now(),
        "--filter",
        "type=image",
        "--format",
        "{{.Action}} {{.Actor.Attributes.name}}",
    ]);
    assert!(events.lines().any(|l| l == "tag cf:one"), "a built image's tag is an event: {events}");
    let pruned = d.ok(&["builder", "prune", "-f"]);
    assert!(pruned.contains("Total"), "{pruned}");
    let again = build_ok(&d, c, &["-t", "cf:four", "."]);
    assert!(!again.contains("Using cache"), "builder prune clears the cache: {again}");
}

/// One raw tar entry (the tar crate refuses `..` and absolute names).
fn raw_entry(name: &str, kind: tar::EntryType, link: &str, data: &[u8]) -> Vec<u8> {
    let mut h = tar::Header::new_old();
    h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
    h.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
    h.set_entry_type(kind);
    h.set_mode(0o644);
    h.set_size(data.len() as u64);
    h.set_cksum();
    let mut out = h.as_bytes().to_vec();
    out.extend_from_slice(data);
    out.resize(out.len().div_ceil(512) * 512, 0);
    out
}

/// Every path under the engine's root but its logs, and the mounts under
/// it: what a refused build must leave as it found them.
fn footprint(d: &Daemon) -> (Vec<String>, usize) {
    let mut paths = Vec::new();
    let mut todo = vec![d.root.clone()];
    while let Some(dir) = todo.pop() {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let p = e.path();
            let rel = p.strip_prefix(&d.root).unwrap().to_string_lossy().into_owned();
            if rel.starts_with("log") || rel.ends_with(".log") {
                continue;
            }
            if e.file_type().unwrap().is_dir() {
                todo.push(p);
            }
            paths.push(rel);
        }
    }
    paths.sort();
    // The engine's own mounts only: other tests run beside this one.
    let root = d.root.to_string_lossy().into_owned();
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap().lines().filter(|l| l.contains(&root)).count();
    (paths, mounts)
}

/// A hostile context (`..`, an absolute name, a hard link out, a symlink
/// out that a COPY then names) fails the build with a clear line, and
/// leaves no image, tag, container, layer, context directory or mount.
#[test]
fn a_hostile_context_is_refused_and_leaves_nothing() {
    let d = Daemon::start();
    let ctx = tempfile::tempdir().unwrap();
    // One good build first, so that what a first build makes once (its
    // directories) is there before the count.
    write(ctx.path(), &[("Dockerfile", "FROM busybox\nRUN true\n")]);
    build_ok(&d, ctx.path(), &["-q", "-t", "good", "."]);
    let dockerfile = b"FROM busybox\nCOPY . /ctx/\n";
    let df = |rest: Vec<u8>| [raw_entry("Dockerfile", tar::EntryType::Regular, "", dockerfile), rest].concat();
    let before = footprint(&d);
    let images = d.ok(&["images", "-aq"]);
    for (what, body, want) in [
        ("dot-dot", df(raw_entry("../escape", tar::EntryType::Regular, "", b"x")), "points outside the context"),
        ("absolute", df(raw_entry("/etc/abs", tar::EntryType::Regular, "", b"x")), "points outside the context"),
        (
            "hard link out",
            df(raw_entry("ln", tar::EntryType::Link, "../../etc/passwd", b"")),
            "points outside the context",
        ),
    ] {
        let tar = ctx.path().join(format!("{what}.tar"));
        std::fs::write(&tar, [body, vec![0; 1024]].concat()).unwrap();
        let mut cmd = d.cmd(&["build", "-t", "hostile", "-"]);
        cmd.env("DOCKER_BUILDKIT", "0").stdin(std::fs::File::open(&tar).unwrap());
        let out = output_within(cmd, Duration::from_secs(60), "docker build - < hostile.tar", &d);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains(want), "{what}: {err}");
        assert_eq!(footprint(&d), before, "{what}: the engine's root and the mounts are as before");
    }
    // A symlink out of the context is kept as a link: a COPY through it
    // reads the context's own tree, never the engine's /etc.
    let body = [
        raw_entry("Dockerfile", tar::EntryType::Regular, "", b"FROM busybox\nCOPY out/passwd /stolen\n"),
        raw_entry("out", tar::EntryType::Symlink, "/etc", b""),
        vec![0; 1024],
    ]
    .concat();
    let tar = ctx.path().join("symlink.tar");
    std::fs::write(&tar, body).unwrap();
    let mut cmd = d.cmd(&["build", "-t", "hostile", "-"]);
    cmd.env("DOCKER_BUILDKIT", "0").stdin(std::fs::File::open(&tar).unwrap());
    let out = output_within(cmd, Duration::from_secs(60), "docker build - < symlink.tar", &d);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("out/passwd"), "{err}");
    assert_eq!(d.code(&["image", "inspect", "hostile"]), 1, "no tag");
    assert_eq!(containers(&d), "", "no build container");
    assert_eq!(d.ok(&["images", "-aq"]), images, "no image");
    assert_eq!(footprint(&d).1, before.1, "no mount");
}

/// Now as Unix seconds, as `docker events --since/--until` take it.
fn chrono_now() -> String {
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    format!("{}.{:09}", t.as_secs(), t.subsec_nanos())
}
