"""A pytest plugin for docker-py's own integration suite as berth's compat
tier runs it (`-p berth_docker_py`, see ../test_docker_py_suite.py).

- Marks the tests that expected.txt lists as expected failures, strictly:
  a listed test that passes fails the run, so the list stays true as the
  gaps close (an entry whose reason starts with "flaky:" is not strict;
  one that starts with "hangs:" gets a 10 s time limit).
- Writes every test's outcome (passed, failed, error, skipped, xfailed,
  xpassed)
  and, for failures, the short traceback to $BERTH_PY_REPORT as JSON.
  "xfailed" is an expected.txt entry that failed, "xpassed" a "flaky:" one
  that passed; the suite's own xfail marks (tests Docker itself fails)
  count as skipped, or passed.

Environment: BERTH_PY_EXPECTED (the list), BERTH_PY_REPORT (the output).
It must never change what a test does, only how its outcome is read.
"""

import json
import os

import pytest

PREFIX = "tests/integration/"
# How long a test listed as "hangs:" may run before it counts as failed.
HANG_TIMEOUT_SECS = 10


def load_expected(path):
    """{test id: (issue, reason)} from expected.txt: `<module>::<Class>::<test>  <issue>  <reason>`."""
    out = {}
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            parts = line.split(None, 2)
            if len(parts) < 3 or not parts[1].isdigit():
                raise ValueError(f"{path}:{n}: want '<test id> <issue> <reason>', got {line!r}")
            if parts[0] in out:
                raise ValueError(f"{path}:{n}: {parts[0]} is listed twice")
            out[parts[0]] = (int(parts[1]), parts[2])
    return out


_results = {}


def pytest_collection_modifyitems(config, items):
    expected = load_expected(os.environ["BERTH_PY_EXPECTED"])
    for item in items:
        key = item.nodeid.removeprefix(PREFIX)
        if key in expected:
            issue, reason = expected[key]
            item.add_marker(pytest.mark.xfail(reason=f"issue {issue}: {reason}", strict=not reason.startswith("flaky:")))
            if reason.startswith("hangs:"):
                item.add_marker(pytest.mark.timeout(HANG_TIMEOUT_SECS))


def pytest_runtest_logreport(report):
    key = report.nodeid.removeprefix(PREFIX)
    prev = _results.get(key, {"outcome": "passed", "detail": ""})
    if hasattr(report, "wasxfail") and report.skipped:
        # Ours (expected.txt), or an xfail mark of docker-py's own (a skip, as Docker fails it too).
        ours = report.wasxfail.startswith("issue ")
        outcome = "xfailed" if ours else "skipped"
    elif hasattr(report, "wasxfail") and report.passed and report.wasxfail.startswith("issue "):
        outcome = "xpassed"  # a "flaky:" entry that passed this time
    elif report.failed:
        outcome = "failed" if report.when == "call" else "error"
    elif report.skipped:
        outcome = "skipped"
    else:
        outcome = "passed"
    # The worst phase wins: a teardown error after a pass is an error.
    rank = ["passed", "xpassed", "skipped", "xfailed", "error", "failed"]
    if rank.index(outcome) >= rank.index(prev["outcome"]):
        detail = report.longreprtext if report.failed or outcome == "xfailed" else prev["detail"]
        _results[key] = {"outcome": outcome, "detail": detail[-3000:]}


def pytest_sessionfinish(session):
    with open(os.environ["BERTH_PY_REPORT"], "w") as f:
        json.dump(_results, f, indent=1, sort_keys=True)
