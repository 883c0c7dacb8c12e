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
