"""docker-compose 1.29 (Debian) against berth's engine: up -d, ps, logs,
down of a single-service project; the life of a three-service project
(up, up of one service, scale, stop, rm, down), checked after every step
by the containers' names and com.docker.compose.* labels."""

import json
import shutil
import subprocess

import pytest

COMPOSE_FILE = """version: "3"
services:
  hello:
    image: busybox:latest
    command: ["sh", "-c", "echo compose-says-hi; sleep 300"]
"""


def compose(env, cwd, *args, project="berthcompat"):
    r = subprocess.run(["docker-compose", "-p", project, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=180)
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


# Three services whose processes end at once on their stop signal (busybox
# sleep as PID 1 would ignore SIGTERM and cost each stop its timeout);
# `db` stops on SIGINT, which only a trap of SIGINT answers with exit 0.
THREE_SERVICES = """version: "3"
services:
  web:
    image: busybox:latest
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 300 & wait"]
  worker:
    image: busybox:latest
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 300 & wait"]
  db:
    image: busybox:latest
    stop_signal: SIGINT
    command: ["sh", "-c", "trap 'exit 0' INT; sleep 300 & wait"]
"""

PROJECT = "berthlife"


def project_containers(env, project=PROJECT):
    """{name: (id, service, number, oneoff, project, state)} of every container
    whose labels name `project`, read from inspect."""
    ids = subprocess.run(["docker", "ps", "-aq", "--no-trunc", "--filter", f"label=com.docker.compose.project={project}"],
                         env=env, capture_output=True, text=True, check=True).stdout.split()
    if not ids:
        return {}
    out = {}
    for c in json.loads(subprocess.run(["docker", "inspect", *ids], env=env, capture_output=True, text=True, check=True).stdout):
        labels = c["Config"]["Labels"]
        out[c["Name"].lstrip("/")] = (
            c["Id"],
            labels.get("com.docker.compose.service"),
            labels.get("com.docker.compose.container-number"),
            labels.get("com.docker.compose.oneoff"),
            labels.get("com.docker.compose.project"),
            c["State"]["Status"],
        )
    return out


def expect(env, want, state):
    """Exactly the containers `want` ({name: (service, number)}) exist, each in `state`."""
    got = project_containers(env)
    assert sorted(got) == sorted(want), got
    for name, (service, number) in want.items():
        _, svc, num, oneoff, project, st = got[name]
        assert (svc, num, oneoff, project, st) == (service, number, "False", PROJECT, state), (name, got[name])
    return {name: v[0] for name, v in got.items()}


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="docker-compose is not installed (apt-get install docker-compose)")
def test_a_projects_life_touches_exactly_its_containers(engine, busybox, containers, tmp_path):
    (tmp_path / "docker-compose.yml").write_text(THREE_SERVICES)
    run = lambda *args, project=PROJECT: compose(engine, tmp_path, *args, project=project)
    one = {f"{PROJECT}_{s}_1": (s, "1") for s in ["web", "worker", "db"]}
    outsider = None
    try:
        # Another project with the same services, and a container that has
        # a service's label but no project: neither may be touched.
        run("up", "-d", "web", project="berthother")
        outsider = subprocess.run(["docker", "run", "-d", "--label", "com.docker.compose.service=web", "busybox", "sleep", "300"],
                                  env=engine, capture_output=True, text=True, check=True).stdout.strip()

        run("up", "-d")
        ids = expect(engine, one, "running")

        # `up` of one service again: nothing is recreated, nothing added.
        run("up", "-d", "web")
        assert expect(engine, one, "running") == ids

        # Scale one service to three: two more workers, the rest as they were.
        run("up", "-d", "--scale", "worker=3")
        scaled = dict(one, **{f"{PROJECT}_worker_{n}": ("worker", str(n)) for n in [2, 3]})
        ids3 = expect(engine, scaled, "running")
        assert all(ids3[name] == ids[name] for name in one), (ids, ids3)

        # Stop: every container of the project exits on its stop signal.
        run("stop")
        expect(engine, scaled, "exited")
        codes = {name: subprocess.run(["docker", "inspect", "-f", "{{.State.ExitCode}}", name], env=engine,
                                      capture_output=True, text=True, check=True).stdout.strip() for name in scaled}
        assert set(codes.values()) == {"0"}, codes

        # rm -f: the stopped containers are gone.
        run("rm", "-f")
        expect(engine, {}, "exited")

        # up again, then down: nothing of the project is left, its network neither.
        run("up", "-d")
        expect(engine, one, "running")
        run("down")
        expect(engine, {}, "exited")
        networks = subprocess.run(["docker", "network", "ls", "--format", "{{.Name}}"], env=engine,
                                  capture_output=True, text=True, check=True).stdout.split()
        assert f"{PROJECT}_default" not in networks, networks

        other = project_containers(engine, "berthother")
        assert [(v[1], v[5]) for v in other.values()] == [("web", "running")], other
        state = subprocess.run(["docker", "inspect", "-f", "{{.State.Status}}", outsider], env=engine,
                               capture_output=True, text=True, check=True).stdout.strip()
        assert state == "running"
    finally:
        subprocess.run(["docker-compose", "-p", PROJECT, "down", "-t", "1"], env=engine, cwd=tmp_path, capture_output=True, timeout=180)
        subprocess.run(["docker-compose", "-p", "berthother", "down", "-t", "1"], env=engine, cwd=tmp_path, capture_output=True, timeout=180)
        if outsider:
            subprocess.run(["docker", "rm", "-f", outsider], env=engine, capture_output=True)


BUILD_SERVICE = """version: "3"
services:
  app:
    build:
      context: ./app
      args:
        GREETING: built-by-compose
    image: berthbuild/app:latest
    command: ["sh", "-c", "cat /greeting; trap 'exit 0' TERM; sleep 300 & wait"]
"""

APP_DOCKERFILE = """FROM busybox:latest
ARG GREETING=unset
RUN echo "$GREETING" > /greeting
"""


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="docker-compose is not installed (apt-get install docker-compose)")
def test_build_and_up_build_of_a_service_with_a_build_key(engine, busybox, containers, tmp_path):
    """`build` makes the service's image through POST /build; `up --build`
    after a change to the context rebuilds it and runs the new image."""
    (tmp_path / "docker-compose.yml").write_text(BUILD_SERVICE)
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "Dockerfile").write_text(APP_DOCKERFILE)
    run = lambda *args: compose(engine, tmp_path, *args, project="berthbuild")
    try:
        run("build")
        first = subprocess.run(["docker", "image", "inspect", "-f", "{{.Id}}", "berthbuild/app:latest"], env=engine,
                               capture_output=True, text=True, check=True).stdout.strip()
        assert first.startswith("sha256:")
        (tmp_path / "app" / "Dockerfile").write_text(APP_DOCKERFILE + "RUN echo second >> /greeting\n")
        run("up", "-d", "--build")
        second = subprocess.run(["docker", "image", "inspect", "-f", "{{.Id}}", "berthbuild/app:latest"], env=engine,
                                capture_output=True, text=True, check=True).stdout.strip()
        assert second != first
        logs = ""
        for _ in range(50):
            logs = run("logs", "--no-color").stdout
            if "second" in logs:
                break
        assert "built-by-compose" in logs and "second" in logs, logs
    finally:
        subprocess.run(["docker-compose", "-p", "berthbuild", "down", "-t", "1", "--rmi", "all"], env=engine, cwd=tmp_path,
                       capture_output=True, timeout=180)


# A named volume and a bind of the project directory (issue 17): the
# volume's data outlives `down` and a new `up`, `down -v` removes it; the
# bind shows the project's files and takes what the container writes.
VOLUMES = """version: "3"
services:
  app:
    image: busybox:latest
    command: ["sh", "-c", "cat /src/in > /src/seen; test -f /data/v || echo first-run > /data/v; trap 'exit 0' TERM; sleep 300 & wait"]
    volumes:
      - data:/data
      - ./:/src
volumes:
  data: {}
"""


def volume_names(env):
    return subprocess.run(["docker", "volume", "ls", "-q"], env=env, capture_output=True, text=True, check=True).stdout.split()


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="docker-compose is not installed (apt-get install docker-compose)")
def test_a_named_volume_outlives_down_and_a_bind_shows_the_project(engine, busybox, containers, tmp_path):
    (tmp_path / "docker-compose.yml").write_text(VOLUMES)
    (tmp_path / "in").write_text("from-the-project\n")
    project = "berthvols"
    volume = f"{project}_data"
    run = lambda *a: subprocess.run(["docker", *a], env=engine, capture_output=True, text=True, check=True).stdout
    try:
        compose(engine, tmp_path, "up", "-d", project=project)
        assert volume in volume_names(engine)
        labels = json.loads(run("volume", "inspect", volume))[0]["Labels"]
        assert labels.get("com.docker.compose.project") == project and labels.get("com.docker.compose.volume") == "data"
        cid = run("ps", "-q", "--filter", f"label=com.docker.compose.project={project}").strip()
        run("exec", cid, "sh", "-c", "echo written-by-app >> /data/v")
        for _ in range(50):
            if (tmp_path / "seen").exists():
                break
            subprocess.run(["sleep", "0.1"])
        assert (tmp_path / "seen").read_text() == "from-the-project\n", "the bind of ./ shows the project's files both ways"
        compose(engine, tmp_path, "down", "-t", "1", project=project)
        assert volume in volume_names(engine), "down keeps named volumes"
        compose(engine, tmp_path, "up", "-d", project=project)
        cid = run("ps", "-q", "--filter", f"label=com.docker.compose.project={project}").strip()
        assert run("exec", cid, "cat", "/data/v") == "first-run\nwritten-by-app\n", "the volume's data survived down and up"
    finally:
        compose(engine, tmp_path, "down", "-v", "-t", "1", project=project)
    assert volume not in volume_names(engine), "down -v removes the project's named volumes"
