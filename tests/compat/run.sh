#!/bin/sh
# berth's compatibility suite: real Docker clients (docker CLI, docker-py,
# docker-compose) and berth's own CLI against berth's engine in process
# mode. Usage: tests/compat/run.sh [pytest args...]   (or `cargo xtask compat`)
#
# Needs: a docker CLI (28.x, or Debian's docker.io 20.10), docker-registry,
# skopeo, busybox-static, python3-venv; docker-compose for its test.
# docker-py (with websocket-client), pytest, pytest-timeout and paramiko
# (docker-py's own suite imports it) are installed from PyPI into a cached venv; docker-py's
# integration suite is fetched with the venv's pip (test_docker_py_suite.py).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cache=${XDG_CACHE_HOME:-$HOME/.cache}/berth
venv=$cache/compat-venv
if [ ! -x "$venv/bin/pytest" ] || ! "$venv/bin/python" -c 'import docker, paramiko, pytest_timeout, websocket' 2>/dev/null; then
    echo "compat: creating $venv (docker[websockets]==7.1.0, pytest, pytest-timeout, paramiko from PyPI)" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q 'docker[websockets]==7.1.0' 'pytest>=7,<9' 'pytest-timeout>=2,<3' 'paramiko>=3,<4'
fi
cargo build -q --manifest-path "$root/Cargo.toml" -p berth -p berth-agent
target=${CARGO_TARGET_DIR:-$root/target}
export BERTH_BIN="$target/debug/berth" BERTH_AGENT="$target/debug/berth-agent"
# The engine runs in this host's network namespace: networks stay records
# (no bridges added to the host); docker_cli_networks.rs tests the real ones.
export BERTH_NETWORK_PLUMBING=off
# The offline busybox fixture from `cargo xtask images`, if recorded.
if [ -z "${BERTH_FIXTURE_BUSYBOX:-}" ] && [ -f "$cache/images.env" ]; then
    fixture=$(sed -n 's/^BERTH_FIXTURE_BUSYBOX=//p' "$cache/images.env" | tail -1)
    [ -n "$fixture" ] && [ -f "$fixture" ] && export BERTH_FIXTURE_BUSYBOX="$fixture"
fi
cd "$here"
exec "$venv/bin/pytest" -ra -p no:cacheprovider "$@"
