"""Fixtures of berth's compatibility suite: real clients (the docker CLI,
docker-py, docker-compose, berth's own CLI) against berth's engine in
process mode, started the way a user starts it (`berth --isolation process`
autostarts `berth-agent`), with a real registry (Debian's docker-registry)
on loopback seeded with a busybox image built offline from the host's
busybox-static.

Environment (run.sh sets it): BERTH_BIN, BERTH_AGENT; optional
BERTH_FIXTURE_BUSYBOX (a docker-archive tar) instead of building one.
"""

import hashlib
import io
import json
import os
import shutil
import socket
import subprocess
import tarfile
import tempfile
import time
import urllib.request

import pytest

BUSYBOX_APPLETS = ["sh", "echo", "cat", "ls", "sleep", "true", "false", "env", "id", "pwd", "hostname", "ps", "top", "wc", "head", "tail"]


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _busybox_archive(path):
    """A docker-archive tar of busybox:latest from /bin/busybox."""
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w") as t:
        for d in ["bin", "etc", "tmp", "proc", "sys", "dev"]:
            info = tarfile.TarInfo(d)
            info.type = tarfile.DIRTYPE
            info.mode = 0o1777 if d == "tmp" else 0o755
            t.addfile(info)
        with open("/bin/busybox", "rb") as f:
            data = f.read()
        info = tarfile.TarInfo("bin/busybox")
        info.size = len(data)
        info.mode = 0o755
        t.addfile(info, io.BytesIO(data))
        for applet in BUSYBOX_APPLETS:
            info = tarfile.TarInfo("bin/" + applet)
            info.type = tarfile.SYMTYPE
            info.linkname = "busybox"
            t.addfile(info)
        for name, text in [("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"), ("etc/group", "root:x:0:\n")]:
            b = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(b)
            t.addfile(info, io.BytesIO(b))
    layer_bytes = layer.getvalue()
    diff_id = "sha256:" + hashlib.sha256(layer_bytes).hexdigest()
    config = json.dumps({
        "architecture": "amd64",
        "os": "linux",
        "created": "2024-01-01T00:00:00Z",
        "config": {"Cmd": ["sh"], "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": "2024-01-01T00:00:00Z", "created_by": "berth compat: busybox-static"}],
    }).encode()
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    manifest = json.dumps([{"Config": config_name, "RepoTags": ["busybox:latest"], "Layers": ["layer/layer.tar"]}]).encode()
    with tarfile.open(path, "w") as t:
        for name, b in [(config_name, config), ("layer/layer.tar", layer_bytes), ("manifest.json", manifest)]:
            info = tarfile.TarInfo(name)
            info.size = len(b)
            t.addfile(info, io.BytesIO(b))


def _wait_http(url, secs=20):
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
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def registry(workdir):
    """host:port of a docker-registry on loopback with busybox pushed."""
    port = _free_port()
    root = os.path.join(workdir, "registry")
    conf = os.path.join(workdir, "registry.yml")
    with open(conf, "w") as f:
        f.write(f"version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {root}\n  delete:\n    enabled: true\n"
                f"http:\n  addr: 127.0.0.1:{port}\n")
    log = open(os.path.join(workdir, "registry.log"), "w")
    proc = subprocess.Popen(["docker-registry", "serve", conf], stdout=log, stderr=log)
    host = f"127.0.0.1:{port}"
    try:
        _wait_http(f"http://{host}/v2/")
        archive = os.environ.get("BERTH_FIXTURE_BUSYBOX") or os.path.join(workdir, "busybox.tar")
        if not os.environ.get("BERTH_FIXTURE_BUSYBOX"):
            _busybox_archive(archive)
        subprocess.run(["skopeo", "copy", "--quiet", "--dest-tls-verify=false", f"docker-archive:{archive}",
                        f"docker://{host}/library/busybox:latest"], check=True)
        yield host
    finally:
        proc.terminate()
        proc.wait()


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


def engine_has_containers(env):
    """Whether the engine serves the containers API (a later issue on some branches)."""
    import http.client

    class Conn(http.client.HTTPConnection):
        def connect(self):
            self.sock = socket.socket(socket.AF_UNIX)
            self.sock.connect(env["BERTH_TEST_SOCKET"])

    c = Conn("berth")
    c.request("GET", "/containers/json")
    return c.getresponse().status == 200


@pytest.fixture(scope="session")
def containers(engine):
    if not engine_has_containers(engine):
        why = "this engine has no containers API yet (GET /containers/json is 404)"
        if os.environ.get("BERTH_COMPAT_REQUIRE_CONTAINERS"):
            pytest.fail(why)
        pytest.skip(why)
    return True
