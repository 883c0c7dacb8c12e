"""Small images built offline from the host's busybox-static, as
docker-archive tars (what `skopeo copy docker-archive:` pushes to a
registry): the compat suite's busybox, and the stand-ins under the names
docker-py's own suite pulls (alpine, hello-world ...).

Each image is its own: the config carries the name it is built for, so
two names never share an image ID (docker-py's prune tests rely on that).
"""

import hashlib
import io
import json
import subprocess
import tarfile

# The compat suite's busybox: just the applets its tests run.
BUSYBOX_APPLETS = ["sh", "echo", "cat", "ls", "sleep", "true", "false", "env", "id", "pwd", "hostname", "ps", "top", "wc", "head", "tail"]

BASE_DIRS = ["bin", "etc", "tmp", "proc", "sys", "dev"]
# A distribution's usual tree (docker-py's exec tests use /var/opt as a workdir).
DISTRO_DIRS = BASE_DIRS + ["root", "home", "mnt", "opt", "run", "srv", "sbin", "usr", "usr/bin", "usr/sbin", "var", "var/opt", "var/tmp", "var/log"]
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def all_applets():
    """Every applet of the host's /bin/busybox."""
    out = subprocess.run(["/bin/busybox", "--list"], capture_output=True, text=True, check=True).stdout
    return [a for a in out.split() if a != "busybox"]


def _entry(t, name, data=None, **kw):
    info = tarfile.TarInfo(name)
    for k, v in kw.items():
        setattr(info, k, v)
    if data is not None:
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
    else:
        t.addfile(info)


PASSWD = "root:x:0:0:root:/root:/bin/sh\n"
GROUP = "root:x:0:\n"
# Alpine's accounts, which docker-py's suite uses (`user="postgres"`).
ALPINE_PASSWD = PASSWD + "".join(f"{n}:x:{u}:{g}:{n}:/:/sbin/nologin\n" for n, u, g in [
    ("bin", 1, 1), ("daemon", 2, 2), ("adm", 3, 4), ("lp", 4, 7), ("mail", 8, 12), ("operator", 11, 0),
    ("postgres", 70, 70), ("guest", 405, 100), ("nobody", 65534, 65534)])
ALPINE_GROUP = GROUP + "".join(f"{n}:x:{g}:\n" for n, g in [
    ("bin", 1), ("daemon", 2), ("adm", 4), ("lp", 7), ("mail", 12), ("postgres", 70), ("users", 100), ("nogroup", 65533),
    ("nobody", 65534)])


def busybox_archive(path, repo_tag="busybox:latest", applets=None, dirs=None, cmd=None, passwd=PASSWD, group=GROUP):
    """Writes a one-layer docker-archive of `repo_tag` to `path`."""
    applets = BUSYBOX_APPLETS if applets is None else applets
    dirs = BASE_DIRS if dirs is None else dirs
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w") as t:
        for d in dirs:
            _entry(t, d, type=tarfile.DIRTYPE, mode=0o1777 if d in ("tmp", "var/tmp") else 0o755)
        with open("/bin/busybox", "rb") as f:
            _entry(t, "bin/busybox", f.read(), mode=0o755)
        for applet in applets:
            _entry(t, "bin/" + applet, type=tarfile.SYMTYPE, linkname="busybox")
        for name, text in [("etc/passwd", passwd), ("etc/group", group)]:
            _entry(t, name, text.encode(), mode=0o644)
    layer_bytes = layer.getvalue()
    diff_id = "sha256:" + hashlib.sha256(layer_bytes).hexdigest()
    history = "berth compat: busybox-static" if repo_tag == "busybox:latest" else f"berth compat: busybox-static as {repo_tag}"
    config = json.dumps({
        "architecture": "amd64",
        "os": "linux",
        "created": "2024-01-01T00:00:00Z",
        "config": {"Cmd": cmd or ["sh"], "Env": ["PATH=" + PATH]},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": "2024-01-01T00:00:00Z", "created_by": history}],
    }).encode()
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    manifest = json.dumps([{"Config": config_name, "RepoTags": [repo_tag], "Layers": ["layer/layer.tar"]}]).encode()
    with tarfile.open(path, "w") as t:
        for name, b in [(config_name, config), ("layer/layer.tar", layer_bytes), ("manifest.json", manifest)]:
            _entry(t, name, b)
