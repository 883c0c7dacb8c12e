"""Fixtures of berth's compatibility suite: real clients (the docker CLI,
docker-py, docker-compose, berth's own CLI) against berth's engine in
process mode, started the way a user starts it (`berth --isolation process`
autostarts `berth-agent`), with a real registry (Debian's docker-registry)
on loopback seeded with a busybox image built offline from the host's
busybox-static.

docker-py's own integration suite (test_docker_py_suite.py) gets an
engine of its own: berth-agent as a daemon whose daemon.json names a
second loopback registry as its Docker Hub mirror, seeded with small
images under the names that suite pulls, as at an offline site.

Environment (run.sh sets it): BERTH_BIN, BERTH_AGENT; optional
BERTH_FIXTURE_BUSYBOX (a docker-archive tar) instead of building one, and
BERTH_COMPAT_KEEP=1 to keep the work directory (engine and suite logs).
"""

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request

import pytest

from fixture_images import ALPINE_GROUP, ALPINE_PASSWD, DISTRO_DIRS, all_applets, busybox_archive


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url, secs=20):
    end = time.time() + secs
    while time.time() < end:
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except Exception:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer in {secs} s")


@pytest.fixture(scope="session")
def workdir():
    d = tempfile.mkdtemp(prefix="berth-compat-")
    yield d
    if os.environ.get("BERTH_COMPAT_KEEP"):
        print(f"compat: kept {d} (BERTH_COMPAT_KEEP)")
    else:
        shutil.rmtree(d, ignore_errors=True)


@contextlib.contextmanager
def loopback_registry(workdir, name="registry"):
    """A docker-registry on a free loopback port (storage under workdir/name); yields host:port."""
    port = free_port()
    root = os.path.join(workdir, name)
    conf = os.path.join(workdir, name + ".yml")
    with open(conf, "w") as f:
        f.write(f"version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {root}\n  delete:\n    enabled: true\n"
                f"http:\n  addr: 127.0.0.1:{port}\n")
    log = open(os.path.join(workdir, name + ".log"), "w")
    proc = subprocess.Popen(["docker-registry", "serve", conf], stdout=log, stderr=log)
    host = f"127.0.0.1:{port}"
    try:
        wait_http(f"http://{host}/v2/")
        yield host
    finally:
        proc.terminate()
        proc.wait()
        log.close()


def push_archive(archive, target):
    """skopeo copy of a docker-archive to docker://target (a loopback registry, plain HTTP)."""
    subprocess.run(["skopeo", "copy", "--quiet", "--dest-tls-verify=false", f"docker-archive:{archive}",
                    f"docker://{target}"], check=True)


@pytest.fixture(scope="session")
def registry(workdir):
    """host:port of a docker-registry on loopback with busybox pushed."""
    with loopback_registry(workdir) as host:
        archive = os.environ.get("BERTH_FIXTURE_BUSYBOX") or os.path.join(workdir, "busybox.tar")
        if not os.environ.get("BERTH_FIXTURE_BUSYBOX"):
            busybox_archive(archive)
        push_archive(archive, f"{host}/library/busybox:latest")
        yield host


@pytest.fixture(scope="session")
def engine(workdir):
    """The process engine, autostarted by berth; yields env for clients."""
    env = dict(os.environ)
    env["XDG_RUNTIME_DIR"] = os.path.join(workdir, "run")
    env["XDG_DATA_HOME"] = os.path.join(workdir, "data")
    env["XDG_CONFIG_HOME"] = os.path.join(workdir, "config")
    env["DOCKER_CONFIG"] = os.path.join(workdir, "docker-config")
    env.pop("DOCKER_HOST", None)
    os.makedirs(env["XDG_RUNTIME_DIR"], mode=0o700, exist_ok=True)
    berth = os.environ["BERTH_BIN"]
    r = subprocess.run([berth, "--isolation", "process", "version"], env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "starting the process engine" in r.stderr
    sock = os.path.join(env["XDG_RUNTIME_DIR"], "berth", "docker.sock")
    env["DOCKER_HOST"] = "unix://" + sock
    env["BERTH_TEST_SOCKET"] = sock
    yield env
    subprocess.run([berth, "engine", "stop"], env=env, timeout=30)


@pytest.fixture(scope="session")
def busybox(engine, registry):
    """busybox:latest present in the engine (pulled from the registry, tagged)."""
    docker = shutil.which("docker")
    env = engine
    berth = os.environ["BERTH_BIN"]
    subprocess.run([berth, "--isolation", "process", "pull", "-q", f"{registry}/library/busybox:latest"], env=env, check=True)
    subprocess.run([berth, "--isolation", "process", "tag", f"{registry}/library/busybox:latest", "busybox:latest"], env=env, check=True)
    return "busybox:latest"


def unix_request(sock, method, path, timeout=30):
    """(status, body) of one HTTP request to the engine's UNIX socket."""
    import http.client

    class Conn(http.client.HTTPConnection):
        def connect(self):
            self.sock = socket.socket(socket.AF_UNIX)
            self.sock.settimeout(timeout)
            self.sock.connect(sock)

    c = Conn("berth", timeout=timeout)
    try:
        c.request(method, path)
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def engine_has_containers(env):
    """Whether the engine serves the containers API (a later issue on some branches)."""
    return unix_request(env["BERTH_TEST_SOCKET"], "GET", "/containers/json")[0] == 200


# What docker-py's suite pulls from Docker Hub (its TEST_IMG is alpine:3.10),
# with each stand-in's Cmd.
HUB_IMAGES = [
    ("alpine:3.10", ["/bin/sh"]),
    ("alpine:latest", ["/bin/sh"]),
    ("busybox:latest", ["sh"]),
    ("busybox:buildroot-2014.02", ["sh"]),
    ("hello-world:latest", ["/hello"]),
]


@pytest.fixture(scope="session")
def hub_mirror(workdir):
    """host:port of a loopback registry standing in for Docker Hub: every
    name of HUB_IMAGES, each its own busybox-based image with all applets
    (the alpine ones with Alpine's accounts)."""
    with loopback_registry(workdir, "hub-mirror") as host:
        applets = all_applets()
        for name, cmd in HUB_IMAGES:
            repo, tag = name.split(":")
            archive = os.path.join(workdir, f"hub-{repo}-{tag}.tar")
            accounts = {"passwd": ALPINE_PASSWD, "group": ALPINE_GROUP} if repo == "alpine" else {}
            busybox_archive(archive, name, applets=applets, dirs=DISTRO_DIRS, cmd=cmd, **accounts)
            push_archive(archive, f"{host}/library/{repo}:{tag}")
        yield host


@pytest.fixture(scope="session")
def mirrored_engine(workdir, hub_mirror):
    """berth-agent as a daemon with `registry-mirrors` naming hub_mirror
    (in a daemon.json, `--config-file`); yields env with DOCKER_HOST. Its
    containers are removed before it stops."""
    import json
    import signal

    base = os.path.join(workdir, "mirrored-engine")
    os.makedirs(base)
    sock = os.path.join(base, "docker.sock")
    config = os.path.join(base, "daemon.json")
    with open(config, "w") as f:
        json.dump({"registry-mirrors": [f"http://{hub_mirror}"]}, f)
    log = open(os.path.join(base, "engine.log"), "w")
    proc = subprocess.Popen([os.environ["BERTH_AGENT"], "--listen", "unix://" + sock, "--root", os.path.join(base, "root"),
                             "--config-file", config, "--network-plumbing", "off"], stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    env = dict(os.environ)
    env["DOCKER_HOST"] = "unix://" + sock
    env["DOCKER_CONFIG"] = os.path.join(base, "docker-config")
    env.pop("DOCKER_TLS_VERIFY", None)
    env.pop("DOCKER_CERT_PATH", None)
    try:
        end = time.time() + 30
        while True:
            assert proc.poll() is None, "berth-agent exited: " + open(log.name).read()[-2000:]
            try:
                if unix_request(sock, "GET", "/_ping", timeout=2)[0] == 200:
                    break
            except OSError:
                pass
            assert time.time() < end, "berth-agent did not answer in 30 s: " + open(log.name).read()[-2000:]
            time.sleep(0.1)
        yield env
    finally:
        if proc.poll() is None:
            try:
                _, body = unix_request(sock, "GET", "/containers/json?all=1")
                for c in json.loads(body):
                    unix_request(sock, "DELETE", f"/containers/{c['Id']}?force=1&v=1")
            except (OSError, ValueError) as e:
                print(f"compat: removing the mirrored engine's containers: {e}")
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()


def pytest_terminal_summary(terminalreporter, config):
    """The docker-py suite's per-module table (test_docker_py_suite.py fills it)."""
    rows = getattr(config, "berth_docker_py_rows", None)
    if rows:
        terminalreporter.section("docker-py 7.1.0 integration suite against berth")
        for line in rows:
            terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def containers(engine):
    if not engine_has_containers(engine):
        why = "this engine has no containers API yet (GET /containers/json is 404)"
        if os.environ.get("BERTH_COMPAT_REQUIRE_CONTAINERS"):
            pytest.fail(why)
        pytest.skip(why)
    return True
