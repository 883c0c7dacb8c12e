"""The docker CLI (28.x here, Debian's 20.10 in CI) against berth's engine."""

import json
import os
import subprocess


def docker(env, *args, check=True, input=None):
    r = subprocess.run(["docker", *args], env=env, capture_output=True, text=True, timeout=120, input=input)
    if check:
        assert r.returncode == 0, f"docker {' '.join(args)}: rc={r.returncode}\n{r.stdout}\n{r.stderr}"
    return r


def test_version_names_the_engine(engine):
    r = docker(engine, "version", "--format", "{{json .Server}}")
    server = json.loads(r.stdout)
    assert server["ApiVersion"] == "1.50" or server["ApiVersion"].startswith("1.")
    assert server["Os"] == "linux"


def test_info(engine):
    r = docker(engine, "info", "--format", "{{.OSType}} {{.Architecture}}")
    assert r.stdout.strip().startswith("linux ")


def test_pull_images_inspect_tag_history_rmi(engine, registry, busybox):
    ref = f"{registry}/library/busybox:latest"
    docker(engine, "pull", "-q", ref)
    out = docker(engine, "images", "--format", "{{.Repository}}:{{.Tag}}").stdout.split()
    assert ref in out and "busybox:latest" in out
    info = json.loads(docker(engine, "image", "inspect", ref).stdout)[0]
    assert info["Os"] == "linux" and info["Config"]["Cmd"] == ["sh"]
    docker(engine, "tag", ref, "compat/cli:one")
    hist = docker(engine, "history", "-q", "compat/cli:one").stdout.split()
    assert len(hist) >= 1
    assert "Untagged: compat/cli:one" in docker(engine, "rmi", "compat/cli:one").stdout


def test_inspect_walks_to_images_and_404s_cleanly(engine, busybox):
    r = docker(engine, "inspect", "--format", "{{.Os}}", "busybox:latest")
    assert r.stdout.strip() == "linux"
    r = docker(engine, "inspect", "no-such-thing-anywhere", check=False)
    assert r.returncode == 1 and "No such object" in r.stderr


def test_pull_of_a_missing_image_fails_with_the_registry_error(engine, registry):
    r = docker(engine, "pull", f"{registry}/library/nope:latest", check=False)
    assert r.returncode == 1 and r.stderr.strip()


def test_run_rm_echo(engine, busybox, containers):
    r = docker(engine, "run", "--rm", "busybox", "echo", "hi")
    assert r.stdout == "hi\n"


def test_run_exit_code_and_stdin(engine, busybox, containers):
    assert docker(engine, "run", "--rm", "busybox", "sh", "-c", "exit 3", check=False).returncode == 3
    r = docker(engine, "run", "--rm", "-i", "busybox", "cat", input="piped\n")
    assert r.stdout == "piped\n"


def test_detached_lifecycle_logs_exec_ps(engine, busybox, containers):
    cid = docker(engine, "run", "-d", "--name", "compat-cli", "busybox", "sh", "-c", "echo started; sleep 300").stdout.strip()
    try:
        assert len(cid) == 64
        assert "compat-cli" in docker(engine, "ps", "--format", "{{.Names}}").stdout
        assert docker(engine, "exec", "compat-cli", "echo", "inside").stdout == "inside\n"
        for _ in range(50):
            if "started" in docker(engine, "logs", "compat-cli").stdout:
                break
        assert "started" in docker(engine, "logs", "compat-cli").stdout
        docker(engine, "stop", "-t", "1", "compat-cli")
        state = json.loads(docker(engine, "inspect", "compat-cli").stdout)[0]["State"]
        assert state["Running"] is False
    finally:
        docker(engine, "rm", "-f", "compat-cli", check=False)
