"""docker-compose 1.29 (Debian) against berth's engine: up -d, ps, logs,
down of a single-service project."""

import shutil
import subprocess

import pytest

COMPOSE_FILE = """version: "3"
services:
  hello:
    image: busybox:latest
    command: ["sh", "-c", "echo compose-says-hi; sleep 300"]
"""


def compose(env, cwd, *args):
    r = subprocess.run(["docker-compose", "-p", "berthcompat", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, f"docker-compose {' '.join(args)}: rc={r.returncode}\n{r.stdout}\n{r.stderr}"
    return r


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="docker-compose is not installed (apt-get install docker-compose)")
def test_up_ps_logs_down(engine, busybox, containers, tmp_path):
    (tmp_path / "docker-compose.yml").write_text(COMPOSE_FILE)
    try:
        compose(engine, tmp_path, "up", "-d")
        ps = compose(engine, tmp_path, "ps").stdout
        assert "berthcompat_hello_1" in ps and "Up" in ps
        logs = ""
        for _ in range(50):
            logs = compose(engine, tmp_path, "logs", "--no-color").stdout
            if "compose-says-hi" in logs:
                break
        assert "compose-says-hi" in logs
    finally:
        compose(engine, tmp_path, "down", "-t", "1")
    assert "berthcompat" not in subprocess.run(["docker", "ps", "-a"], env=engine, capture_output=True, text=True).stdout
