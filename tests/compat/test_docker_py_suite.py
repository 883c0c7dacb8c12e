"""docker-py's own integration suite (docker 7.1.0's `tests/integration/`)
against berth's engine in process mode, its Docker Hub pulls served by a
loopback registry mirror (conftest's `mirrored_engine`, `hub_mirror`).

PyPI's docker 7.1.0 source distribution ships no tests, 7.0.0's does:
the suite is 7.0.0's tests with docker-py's own 7.0.0 → 7.1.0 change to
them applied (docker_py/tests-7.0.0-to-7.1.0.patch), run with the docker
7.1.0 library of the compat venv. It is fetched with pip (its configured
index) once and kept under $XDG_CACHE_HOME/berth, keyed by version and
patch.

The suite runs once, in a pytest of its own with docker_py/berth_docker_py.py
loaded; then one test here per module fails if any of that module's tests
failed without being listed in docker_py/expected.txt (or passed while
listed). The per-module counts print at the end of the run.
"""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
PY_DIR = os.path.join(HERE, "docker_py")
PATCH = os.path.join(PY_DIR, "tests-7.0.0-to-7.1.0.patch")
EXPECTED = os.path.join(PY_DIR, "expected.txt")
SUITE_VERSION = "7.1.0"
SDIST = "docker==7.0.0"

# The modules issue 15 names.
MODULES = [
    "api_client", "api_container", "api_exec", "api_image", "api_build", "api_network", "api_volume",
    "api_healthcheck", "models_containers", "models_images", "models_networks", "models_resources",
    "models_volumes", "errors", "regression",
]
# Left out by name: swarm, plugins, credential stores, CLI contexts.
EXCLUDED = {
    "api_swarm": "swarm", "api_service": "swarm", "api_secret": "swarm", "api_config": "swarm",
    "models_swarm": "swarm", "models_services": "swarm", "models_nodes": "swarm",
    "api_plugin": "plugins", "credentials/": "a credential store", "context_api": "CLI contexts",
    "client_test": "not among issue 15's modules",
}
# A test that hangs fails after this long instead of stopping the tier.
TEST_TIMEOUT_SECS = 90


def _suite_dir():
    """The unpacked, patched suite (cached): the directory holding tests/
    and pytest.ini, nothing else."""
    with open(PATCH, "rb") as f:
        key = hashlib.sha256(f.read()).hexdigest()[:12]
    cache = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "berth")
    dest = os.path.join(cache, f"docker-py-{SUITE_VERSION}-tests-{key}")
    if os.path.isdir(os.path.join(dest, "tests", "integration")):
        return dest
    os.makedirs(cache, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="docker-py-suite-", dir=cache)
    try:
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-binary", ":all:", "--no-deps", SDIST,
                        "-d", tmp], check=True, timeout=600)
        (sdist,) = [f for f in os.listdir(tmp) if f.endswith(".tar.gz")]
        with tarfile.open(os.path.join(tmp, sdist)) as t:
            t.extractall(tmp, **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))
        root = os.path.join(tmp, sdist[: -len(".tar.gz")])
        with open(PATCH, "rb") as f:
            subprocess.run(["patch", "-p1", "-s", "--no-backup-if-mismatch"], stdin=f, cwd=root, check=True)
        # Only the tests and their pytest.ini: the sdist's own `docker`
        # package (7.0.0) must not shadow the venv's 7.1.0 on sys.path.
        keep = os.path.join(tmp, "suite")
        os.makedirs(keep)
        for name in ["tests", "pytest.ini"]:
            os.rename(os.path.join(root, name), os.path.join(keep, name))
        os.rename(keep, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


def _module_of(test_id):
    return test_id.split("::")[0].removesuffix(".py").removesuffix("_test")


@pytest.fixture(scope="module")
def suite_results(mirrored_engine, workdir, request):
    """{test id: {"outcome", "detail"}} of one run of the whole suite."""
    suite = _suite_dir()
    report = os.path.join(workdir, "docker-py-report.json")
    log_path = os.path.join(workdir, "docker-py-suite.log")
    env = dict(mirrored_engine)
    env.update(BERTH_PY_EXPECTED=EXPECTED, BERTH_PY_REPORT=report,
               PYTHONPATH=os.pathsep.join(p for p in [PY_DIR, env.get("PYTHONPATH")] if p))
    paths = [f"tests/integration/{m}_test.py" for m in MODULES]
    cmd = [sys.executable, "-m", "pytest", "-p", "berth_docker_py", "-p", "no:cacheprovider", "-q",
           f"--timeout={TEST_TIMEOUT_SECS}", "--durations=10", *paths]
    start = time.time()
    with open(log_path, "w") as log:
        r = subprocess.run(cmd, cwd=suite, env=env, stdout=log, stderr=subprocess.STDOUT, timeout=1800)
    secs = time.time() - start
    with open(log_path) as f:
        tail = f.read()[-4000:]
    assert os.path.exists(report), f"docker-py's suite wrote no report (exit {r.returncode}):\n{tail}"
    with open(report) as f:
        results = json.load(f)
    assert results, f"docker-py's suite ran no test (exit {r.returncode}):\n{tail}"
    rows = _table(results)
    rows.append(f"ran in {secs:.0f} s; excluded: " + ", ".join(f"{m} ({why})" for m, why in EXCLUDED.items()))
    request.config.berth_docker_py_rows = rows
    return results


def _table(results):
    kinds = ["passed", "failed", "error", "xfailed", "xpassed", "skipped"]
    counts = {m: dict.fromkeys(kinds, 0) for m in MODULES}
    for test_id, r in results.items():
        counts.setdefault(_module_of(test_id), dict.fromkeys(kinds, 0))[r["outcome"]] += 1
    rows = [f"{'module':<20}" + "".join(f"{k:>9}" for k in kinds)]
    total = dict.fromkeys(kinds, 0)
    for m, c in counts.items():
        rows.append(f"{m:<20}" + "".join(f"{c[k]:>9}" for k in kinds))
        for k in kinds:
            total[k] += c[k]
    rows.append(f"{'total':<20}" + "".join(f"{total[k]:>9}" for k in kinds))
    return rows


@pytest.mark.parametrize("module", MODULES)
def test_docker_py_module(module, suite_results):
    mine = {t: r for t, r in suite_results.items() if _module_of(t) == module}
    assert mine, f"no test of {module} ran"
    bad = {t: r for t, r in mine.items() if r["outcome"] in ("failed", "error")}
    assert not bad, f"{len(bad)} of {module}'s tests failed unexpectedly (not in docker_py/expected.txt, " \
        "or listed there and passed):\n\n" + "\n\n".join(f"{t}: {r['detail']}" for t, r in sorted(bad.items()))


def test_expected_list_names_only_tests_that_exist(suite_results):
    sys.path.insert(0, PY_DIR)
    from berth_docker_py import load_expected

    stale = sorted(set(load_expected(EXPECTED)) - set(suite_results))
    assert not stale, "docker_py/expected.txt lists tests that did not run: " + ", ".join(stale)
