"""berth's own Docker-style commands against its process engine: output
and exit codes as docker's, and the errors a user meets."""

import json
import os
import subprocess


def berth(env, *args, check=True, input=None, process=True):
    cmd = [os.environ["BERTH_BIN"], *(["--isolation", "process"] if process else []), *args]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120, input=input)
    if check:
        assert r.returncode == 0, f"berth {' '.join(args)}: rc={r.returncode}\n{r.stdout}\n{r.stderr}"
    return r


def test_version_and_info(engine):
    r = berth(engine, "version")
    assert "Client: berth" in r.stdout and "API version:      1.50" in r.stdout
    assert berth(engine, "info", "--format", "{{.OSType}}").stdout.strip() == "linux"


def test_engine_is_reused_not_restarted(engine):
    r = berth(engine, "version")
    assert "starting the process engine" not in r.stderr
    assert "process engine running" in berth(engine, "engine", "status", process=False).stdout


def test_pull_images_tag_history_rmi(engine, registry, busybox):
    ref = f"{registry}/library/busybox:latest"
    out = berth(engine, "pull", ref).stdout
    assert out.strip().endswith(ref), out
    rows = berth(engine, "images", "--format", "json").stdout.splitlines()
    repos = {(json.loads(r)["Repository"], json.loads(r)["Tag"]) for r in rows}
    assert ("busybox", "latest") in repos
    table = berth(engine, "images").stdout.splitlines()
    assert table[0].split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    berth(engine, "tag", "busybox", "compat/berth:one")
    assert berth(engine, "inspect", "--format", "{{.Config.Cmd}}", "compat/berth:one").stdout.strip() == '["sh"]'
    assert len(berth(engine, "history", "-q", "compat/berth:one").stdout.split()) >= 1
    assert "Untagged: compat/berth:one" in berth(engine, "rmi", "compat/berth:one").stdout


def test_unknown_command_and_flag_are_clap_errors(engine):
    r = berth(engine, "frobnicate", check=False)
    assert r.returncode == 2 and "unrecognized subcommand" in r.stderr
    r = berth(engine, "ps", "--bogus", check=False)
    assert r.returncode == 2 and "unexpected argument" in r.stderr


def test_unreachable_engine_is_one_line_naming_the_socket(engine, tmp_path):
    env = dict(engine)
    env["DOCKER_HOST"] = f"unix://{tmp_path}/nothing.sock"
    r = berth(env, "images", check=False, process=False)
    assert r.returncode == 1
    assert r.stderr.count("\n") == 1 and f"{tmp_path}/nothing.sock" in r.stderr and "DOCKER_HOST" in r.stderr


def test_missing_image_says_what_docker_says(engine, registry, containers):
    r = berth(engine, "run", "--rm", f"{registry}/library/nope", "true", check=False)
    assert f"Unable to find image '{registry}/library/nope:latest' locally" in r.stderr
    assert r.returncode == 125


def test_login_refused_by_the_registry_keeps_no_credentials(engine, registry):
    r = berth(engine, "login", "-u", "x", "--password-stdin", "127.0.0.1:1", input="y\n", check=False)
    assert r.returncode == 1
    assert not os.path.exists(os.path.join(engine["XDG_CONFIG_HOME"], "berth", "auth.json"))


def test_context_use_persists_and_bad_values_change_nothing(engine):
    env = dict(engine)
    env.pop("DOCKER_HOST")
    assert berth(env, "context", "use", "nonsense", check=False, process=False).returncode == 1
    assert berth(env, "context", "show", process=False).stdout.strip() == "machine:default"
    berth(env, "context", "use", "process", process=False)
    assert berth(env, "context", "show", process=False).stdout.strip() == "process"
    assert berth(env, "info", "--format", "{{.OSType}}", process=False).stdout.strip() == "linux"


def test_completion_and_man(engine, tmp_path):
    assert "_berth()" in berth(engine, "completion", "bash", process=False).stdout
    berth(engine, "man", str(tmp_path), process=False)
    assert (tmp_path / "berth-run.1").exists()


def test_run_rm_echo_hi(engine, busybox, containers):
    r = berth(engine, "run", "--rm", "busybox", "echo", "hi")
    assert r.stdout == "hi\n"


def test_run_exit_codes(engine, busybox, containers):
    assert berth(engine, "run", "--rm", "busybox", "sh", "-c", "exit 7", check=False).returncode == 7
    assert berth(engine, "run", "--rm", "busybox", "no-such-command", check=False).returncode == 127


def test_detached_ps_logs_exec_stop_rm(engine, busybox, containers):
    cid = berth(engine, "run", "-d", "--name", "compat-berth", "busybox", "sh", "-c", "echo up; sleep 300").stdout.strip()
    try:
        assert len(cid) == 64
        assert "compat-berth" in berth(engine, "ps", "--format", "{{.Names}}").stdout
        assert berth(engine, "exec", "compat-berth", "echo", "in").stdout == "in\n"
        assert berth(engine, "exec", "compat-berth", "sh", "-c", "exit 4", check=False).returncode == 4
        assert "up" in berth(engine, "logs", "compat-berth").stdout
        berth(engine, "stop", "-t", "1", "compat-berth")
        assert berth(engine, "wait", "compat-berth").stdout.strip() in ("137", "143", "0")
    finally:
        berth(engine, "rm", "-f", "compat-berth", check=False)


def test_run_health_flags_until_ps_says_healthy(engine, busybox, containers):
    """`berth run --health-*`: the engine probes, `berth ps` shows Docker's
    `(healthy)`; `--no-healthcheck` conflicts with the other flags."""
    import time

    cid = berth(engine, "run", "-d", "--name", "compat-health", "--health-cmd", "true",
                "--health-interval", "200ms", "--health-retries", "1", "busybox", "sleep", "300").stdout.strip()
    try:
        deadline = time.time() + 30
        status = ""
        while "(healthy)" not in status:
            assert time.time() < deadline, status
            time.sleep(0.2)
            status = berth(engine, "ps", "--filter", "name=compat-health", "--format", "{{.Status}}").stdout
        hc = json.loads(berth(engine, "inspect", cid).stdout)[0]["Config"]["Healthcheck"]
        assert hc["Test"] == ["CMD-SHELL", "true"] and hc["Interval"] == 200_000_000 and hc["Retries"] == 1
        r = berth(engine, "run", "--rm", "--no-healthcheck", "--health-cmd", "true", "busybox", "true", check=False)
        assert r.returncode != 0 and "conflicts with --health-* options" in r.stderr
    finally:
        berth(engine, "rm", "-f", "compat-health", check=False)


def test_commit_and_update(engine, busybox, containers):
    berth(engine, "run", "-d", "--name", "compat-commit", "busybox", "sh", "-c", "echo kept > /kept; sleep 300")
    try:
        for _ in range(50):
            if berth(engine, "exec", "compat-commit", "cat", "/kept", check=False).stdout == "kept\n":
                break
        image = berth(engine, "commit", "-m", "from berth", "-c", 'CMD ["cat", "/kept"]', "compat-commit",
                      "compat-committed:v1").stdout.strip()
        assert image.startswith("sha256:")
        assert berth(engine, "run", "--rm", "compat-committed:v1").stdout == "kept\n"
        assert berth(engine, "update", "--memory", "64m", "--restart", "always", "compat-commit").stdout == "compat-commit\n"
        state = json.loads(berth(engine, "inspect", "compat-commit").stdout)[0]["HostConfig"]
        assert (state["Memory"], state["RestartPolicy"]["Name"]) == (64 << 20, "always")
        r = berth(engine, "update", "--memory", "1m", "compat-commit", check=False)
        assert r.returncode == 1 and "Minimum memory limit allowed is 6MB" in r.stderr
    finally:
        berth(engine, "rm", "-f", "compat-commit", check=False)
        berth(engine, "rmi", "compat-committed:v1", check=False)


def test_build_flags_dockerignore_and_a_failing_run(engine, busybox, containers, tmp_path):
    """`berth build`: -t (twice), -f from outside the context, --build-arg,
    --target, --label, --iidfile, -q, --no-cache, .dockerignore with `!`;
    a failing RUN exits with its code and Docker's message."""
    ctx = tmp_path / "ctx"
    (ctx / "logs").mkdir(parents=True)
    (ctx / "logs" / "a.log").write_text("x")
    (ctx / "logs" / "keep.log").write_text("kept")
    (ctx / ".dockerignore").write_text("logs/*.log\n!logs/keep.log\n")
    (ctx / "Dockerfile").write_text(
        "FROM busybox AS base\nARG WHO=nobody\nRUN echo \"for $WHO\" > /who\n"
        "FROM base\nCOPY logs/ /logs/\nCMD [\"sh\", \"-c\", \"cat /who; ls /logs\"]\n")
    iid = tmp_path / "iid"
    r = berth(engine, "build", "-t", "compat-build:a", "-t", "compat-build:b", "--build-arg", "WHO=berth",
              "--label", "made.by=berth", "--iidfile", str(iid), str(ctx))
    assert r.stdout.startswith("Sending build context to the engine"), r.stdout
    # The labels come as a last LABEL step, as moby's classic builder adds them.
    assert "Step 1/7 : FROM busybox AS base" in r.stdout and 'Step 7/7 : LABEL "made.by"="berth"' in r.stdout, r.stdout
    assert "Successfully tagged compat-build:b" in r.stdout
    image = json.loads(berth(engine, "inspect", "compat-build:a").stdout)[0]
    assert iid.read_text() == image["Id"] and image["Config"]["Labels"]["made.by"] == "berth"
    assert json.loads(berth(engine, "inspect", "compat-build:b").stdout)[0]["Id"] == image["Id"]
    assert berth(engine, "run", "--rm", "compat-build:a").stdout == "for berth\nkeep.log\n"

    again = berth(engine, "build", "-t", "compat-build:a", "--build-arg", "WHO=berth", "--label", "made.by=berth",
                  str(ctx)).stdout
    assert "Using cache" in again and "Running in" not in again, again
    fresh = berth(engine, "build", "--no-cache", "-q", "-t", "compat-build:c", "--build-arg", "WHO=berth",
                  str(ctx)).stdout
    assert fresh.startswith("sha256:") and fresh.count("\n") == 1, fresh
    berth(engine, "build", "-q", "--target", "base", "-t", "compat-build:base", str(ctx))
    assert berth(engine, "run", "--rm", "compat-build:base", "cat", "/who").stdout == "for nobody\n"

    outside = tmp_path / "Other.dockerfile"
    outside.write_text("FROM busybox\nCOPY logs/keep.log /k\nRUN exit 5\n")
    r = berth(engine, "build", "-f", str(outside), "-t", "compat-build:fail", str(ctx), check=False)
    assert r.returncode == 5, (r.stdout, r.stderr)
    assert "The command '/bin/sh -c exit 5' returned a non-zero code: 5" in r.stderr
    assert berth(engine, "inspect", "compat-build:fail", check=False).returncode != 0
    for tag in "abc":
        berth(engine, "rmi", f"compat-build:{tag}", check=False)
    berth(engine, "rmi", "compat-build:base", check=False)


def test_build_on_a_terminal_shows_the_step_under_way(engine, busybox, containers, tmp_path):
    """On a terminal `berth build` keeps one spinner line naming the step,
    and every line of the build still reaches the screen."""
    import pty
    import select

    (tmp_path / "Dockerfile").write_text("FROM busybox\nRUN echo from-the-run && sleep 1\n")
    pid, fd = pty.fork()
    if pid == 0:
        os.execve(os.environ["BERTH_BIN"],
                  [os.environ["BERTH_BIN"], "--isolation", "process", "build", "-t", "compat-tty", str(tmp_path)],
                  engine)
    out = b""
    while True:
        ready, _, _ = select.select([fd], [], [], 120)
        assert ready, out
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    _, status = os.waitpid(pid, 0)
    text = out.decode(errors="replace")
    assert os.waitstatus_to_exitcode(status) == 0, text
    # The RUN's own line is printed above the spinner (after its erase).
    assert "Step 2/2 : RUN echo from-the-run" in text and "\x1b[2Kfrom-the-run " in text, text
    assert "Successfully tagged compat-tty:latest" in text, text
    # indicatif redraws its line in place: a carriage return or an erase.
    assert "\x1b[2K" in text or "\r" in text.replace("\r\n", ""), text
    berth(engine, "rmi", "compat-tty", check=False)


def test_cp_both_ways_streams_and_strips_setuid(engine, busybox, containers, tmp_path):
    """`berth cp`: a directory into a container and out again, to a new
    name, as a tar on stdout and from stdin; a setuid file of the container
    arrives on the host without its setuid bit."""
    import stat
    import tarfile
    import io

    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "sub" / "f.txt").write_text("hello")
    (src / "big.bin").write_bytes(os.urandom(3 << 20))
    berth(engine, "run", "-d", "--name", "compat-cp", "busybox", "sleep", "300")
    try:
        berth(engine, "exec", "compat-cp", "sh", "-c", "echo s > /suid && chmod 4755 /suid")
        berth(engine, "cp", str(src), "compat-cp:/in")
        assert berth(engine, "exec", "compat-cp", "cat", "/in/sub/f.txt").stdout == "hello"
        out = tmp_path / "out"
        berth(engine, "cp", "compat-cp:/in", str(out))
        assert (out / "big.bin").read_bytes() == (src / "big.bin").read_bytes()
        berth(engine, "cp", "compat-cp:/suid", str(tmp_path / "suid"))
        mode = stat.S_IMODE(os.stat(tmp_path / "suid").st_mode)
        assert mode == 0o755, oct(mode)
        r = subprocess.run([os.environ["BERTH_BIN"], "--isolation", "process", "cp", "compat-cp:/in/sub", "-"],
                           env=engine, capture_output=True, timeout=60)
        assert r.returncode == 0, r.stderr
        names = tarfile.open(fileobj=io.BytesIO(r.stdout)).getnames()
        assert "sub/f.txt" in names, names
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as t:
            data = b"from stdin"
            info = tarfile.TarInfo("piped.txt")
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
        r = subprocess.run([os.environ["BERTH_BIN"], "--isolation", "process", "cp", "-", "compat-cp:/tmp"],
                           env=engine, capture_output=True, timeout=60, input=buf.getvalue())
        assert r.returncode == 0, r.stderr
        assert berth(engine, "exec", "compat-cp", "cat", "/tmp/piped.txt").stdout == "from stdin"
        r = berth(engine, "cp", str(tmp_path / "missing"), "compat-cp:/x", check=False)
        assert r.returncode != 0 and "missing" in r.stderr
    finally:
        berth(engine, "rm", "-f", "compat-cp", check=False)
