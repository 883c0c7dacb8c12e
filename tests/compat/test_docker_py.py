"""docker-py 7.x against berth's engine (its sdist ships no tests, so
these are berth's own, written against docker-py's documented API)."""

import docker
import pytest


@pytest.fixture(scope="module")
def client(engine):
    c = docker.DockerClient(base_url=engine["DOCKER_HOST"], version="auto")
    yield c
    c.close()


def test_ping_version_info(client):
    assert client.ping() is True
    v = client.version()
    assert v["ApiVersion"] and v["Os"] == "linux"
    assert client.info()["OSType"] == "linux"


def test_images_pull_list_get_tag_remove(client, registry, busybox):
    ref = f"{registry}/library/busybox"
    img = client.images.pull(ref, tag="latest")
    assert f"{ref}:latest" in img.tags
    assert any("busybox:latest" in i.tags for i in client.images.list())
    got = client.images.get("busybox:latest")
    assert got.id == img.id
    assert got.attrs["Config"]["Cmd"] == ["sh"]
    assert img.tag("compat/py", "one")
    assert "compat/py:one" in client.images.get(img.id).tags
    assert len(client.api.history("compat/py:one")) >= 1
    client.images.remove("compat/py:one")
    with pytest.raises(docker.errors.ImageNotFound):
        client.images.get("compat/py:one")


def test_pull_error_is_an_api_error(client, registry):
    with pytest.raises(docker.errors.APIError):
        client.images.pull(f"{registry}/library/nope", tag="latest")


def test_containers_run_returns_output(client, busybox, containers):
    assert client.containers.run("busybox", ["echo", "hi"], remove=True) == b"hi\n"


def test_containers_lifecycle(client, busybox, containers):
    c = client.containers.run("busybox", ["sh", "-c", "echo up; sleep 300"], detach=True, name="compat-py")
    try:
        c.reload()
        assert c.status == "running"
        assert c.name in [x.name for x in client.containers.list()]
        code, out = c.exec_run(["echo", "inside"])
        assert (code, out) == (0, b"inside\n")
        c.stop(timeout=1)
        assert c.wait()["StatusCode"] in (137, 143, 0)
        assert b"up" in c.logs()
    finally:
        c.remove(force=True)


def test_container_error_exit_raises(client, busybox, containers):
    with pytest.raises(docker.errors.ContainerError):
        client.containers.run("busybox", ["sh", "-c", "exit 2"], remove=True)


def test_networks_create_connect_inspect_remove(client, busybox, containers):
    net = client.networks.create("compat-net", driver="bridge", labels={"suite": "compat"}, check_duplicate=True)
    c = None
    try:
        assert net.attrs["Driver"] == "bridge" and net.attrs["Labels"] == {"suite": "compat"}
        with pytest.raises(docker.errors.APIError) as dup:
            client.networks.create("compat-net")
        assert dup.value.response.status_code == 409
        assert [n.name for n in client.networks.list(names=["compat-net"])] == ["compat-net"]
        assert {"bridge", "host", "none"} <= {n.name for n in client.networks.list()}
        c = client.containers.run("busybox", ["sleep", "300"], detach=True, name="compat-py-net", network="compat-net")
        net.reload()
        assert [v["Name"] for v in net.attrs["Containers"].values()] == ["compat-py-net"]
        c.reload()
        assert c.attrs["NetworkSettings"]["Networks"]["compat-net"]["NetworkID"] == net.id
        with pytest.raises(docker.errors.APIError) as busy:
            net.remove()
        assert busy.value.response.status_code == 409
        net.disconnect(c)
        net.reload()
        assert net.attrs["Containers"] == {}
        net.connect(c, aliases=["again"])
        c.reload()
        assert c.attrs["NetworkSettings"]["Networks"]["compat-net"]["Aliases"] == ["again"]
        with pytest.raises(docker.errors.APIError) as builtin:
            client.networks.get("bridge").remove()
        assert builtin.value.response.status_code == 403
    finally:
        if c is not None:
            c.remove(force=True)
        net.remove()
    with pytest.raises(docker.errors.NotFound):
        client.networks.get("compat-net")


def test_label_filters_and_across_values(client, busybox, containers):
    """Several `label` values must all hold (moby's rule, which compose's
    project + service selection relies on); several `name` values match any."""
    both = client.containers.create("busybox", ["true"], name="compat-ab", labels={"a": "1", "b": "1"})
    only_a = client.containers.create("busybox", ["true"], name="compat-a", labels={"a": "1"})
    try:
        got = client.containers.list(all=True, filters={"label": ["a=1", "b=1"]})
        assert [c.name for c in got] == ["compat-ab"]
        got = client.containers.list(all=True, filters={"name": ["compat-ab", "compat-a"]})
        assert {c.name for c in got} == {"compat-ab", "compat-a"}
    finally:
        both.remove(force=True)
        only_a.remove(force=True)


def test_images_load_of_a_two_image_archive_returns_both(client, busybox):
    client.images.get("busybox:latest").tag("compat/load-one", "x")
    client.images.get("busybox:latest").tag("compat/load-two", "y")
    # `docker save a b`: GET /images/get?names=a&names=b (docker-py's
    # get_image takes one name).
    api = client.api
    res = api._get(api._url("/images/get"), params={"names": ["compat/load-one:x", "compat/load-two:y"]}, stream=True)
    assert res.status_code == 200
    blob = res.content
    client.images.remove("compat/load-one:x")
    client.images.remove("compat/load-two:y")
    loaded = client.images.load(blob)
    tags = sorted(t for i in loaded for t in i.tags)
    assert "compat/load-one:x" in tags and "compat/load-two:y" in tags
    client.images.remove("compat/load-one:x")
    client.images.remove("compat/load-two:y")


def test_default_host_config_as_docker_fills_it(client, busybox, containers):
    c = client.containers.create("busybox", ["true"], name="compat-hc")
    try:
        hc = c.attrs["HostConfig"]
        assert hc["IpcMode"] == "shareable"
        assert hc["PidMode"] == "" and hc["UsernsMode"] == ""
        assert hc["Dns"] is None
        assert hc["LogConfig"]["Type"] == "json-file"
        assert hc["Runtime"] == "runc"
    finally:
        c.remove(force=True)


def test_images_build_returns_the_image(client, busybox, containers, tmp_path):
    """docker-py's images.build() sends the context tar to POST /build and
    returns the built image and the stream's log lines."""
    (tmp_path / "Dockerfile").write_text('FROM busybox:latest\nLABEL made.by=docker-py\nRUN echo built > /out\nCMD ["cat", "/out"]\n')
    img, logs = client.images.build(path=str(tmp_path), tag="compat/pybuild:1", rm=True)
    try:
        assert "compat/pybuild:1" in img.tags
        assert img.labels.get("made.by") == "docker-py"
        assert any("Successfully built" in (entry.get("stream") or "") for entry in logs)
        assert client.containers.run(img.id, remove=True) == b"built\n"
    finally:
        client.images.remove("compat/pybuild:1", force=True)
