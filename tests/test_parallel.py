"""Parallel runs: ``apicert run -n 2`` gives the serial run's results, report and verdict.

Slow tier: the real command in subprocesses, on DigiFi (its rate-limit probe, idempotency store
and IP allow-list are the state-dependent requirements a careless split would break): serial and
``-n 2`` against the embedded sandboxes (one per worker), and ``-n 2`` against one sandbox served
at a URL, where every DigiFi test must go to a single worker (one key, one pacing).
"""

from __future__ import annotations

import json
import re
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from apicert.parallel import run_options_problem, scheduling_unit
from apicert.vendors import VENDORS
from tests.test_cli import _env as clean_env
from tests.test_cli import run_cli, standalone_sandbox

ROOT = Path(__file__).resolve().parents[1]
RUN_TIMEOUT = 240


def test_scheduling_units() -> None:
    vendors = set(VENDORS)
    # embedded targets: one unit per module (a module's tests stay together)
    assert scheduling_unit("digifi/test_auth.py::test_a[GET]", set(), vendors) == (
        "digifi/test_auth.py"
    )
    assert scheduling_unit("suites/digifi/test_x.py::K::t", set(), vendors) == (
        "suites/digifi/test_x.py"
    )
    # a vendor tested at a URL: all of its tests in one unit, whatever the module
    shared = {"digifi"}
    units = {
        scheduling_unit(n, shared, vendors)
        for n in ("digifi/test_auth.py::a", "digifi/test_ratelimit.py::b", "digifi/x.py::c")
    }
    assert len(units) == 1
    assert scheduling_unit("connectfi/test_auth.py::a", shared, vendors) == "connectfi/test_auth.py"


def test_run_options_problems() -> None:
    assert run_options_problem(None, None) is None
    assert run_options_problem("2/4", "2") is None
    assert (
        run_options_problem("5/4", None)
        == "--shard '5/4': K must be between 1 and N, and N at least 1"
    )
    assert run_options_problem("half", "auto") == "--shard 'half' is not K/N (e.g. 2/4)"


def _env(**extra: str) -> dict[str, str]:
    # Schemathesis's budget per operation: 5 keeps runs short.
    return clean_env(**{"APICERT_MAX_EXAMPLES": "5", **extra})


def _apicert(cwd: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return run_cli(cwd, *args, env=env, timeout=RUN_TIMEOUT)


def test_bad_worker_count_is_one_line(tmp_path: Path) -> None:
    proc = _apicert(tmp_path, "run", "-n", "many", env=_env())
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "'many' is not a number of workers" in lines[0], proc.stderr
    proc = _apicert(tmp_path, "run", "--shard", "0/2", env=_env())
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "--shard '0/2'" in proc.stderr.strip().splitlines()[0]


def _load(report_dir: Path) -> dict[str, Any]:
    return json.loads((report_dir / "results.json").read_text(encoding="utf-8"))


def _statuses(doc: dict[str, Any]) -> dict[str, str]:
    return {r["id"]: r["status"] for r in doc["requirements"]}


def _workers_of(doc: dict[str, Any]) -> list[str]:
    """The workers that ran apicert tests (a worker sends results only when it ran some)."""
    return sorted(doc["run"]["merged_from"])


def _assert_never_shown(report_dir: Path, secret: str) -> None:
    for path in report_dir.rglob("*"):
        if path.is_file() and path.suffix in (".json", ".html", ".xml", ".js"):
            assert secret not in path.read_text(encoding="utf-8", errors="replace"), path


@pytest.mark.slow
def test_two_workers_give_the_serial_results(tmp_path: Path) -> None:
    key = "par-" + secrets.token_hex(12)
    env = _env(APICERT_DIGIFI_API_KEY=key)
    common = ("run", "--vendor", "digifi", "--seed", "5")
    serial = _apicert(tmp_path, *common, "--report-dir", "serial", env=env)
    assert serial.returncode == 0, serial.stdout[-3000:] + serial.stderr[-2000:]
    par = _apicert(tmp_path, *common, "--report-dir", "par", "-n", "2", env=env)
    assert par.returncode == 0, par.stdout[-3000:] + par.stderr[-2000:]
    one, two = _load(tmp_path / "serial"), _load(tmp_path / "par")
    assert _statuses(two) == _statuses(one)
    assert two["summary"] == one["summary"]
    assert two["summary"]["digifi"]["verdict"] == "conformant"
    schema = json.loads((ROOT / "schemas" / "results.schema.json").read_text(encoding="utf-8"))
    jsonschema.validate(two, schema)
    # both workers ran tests and the controller merged what each sent
    assert _workers_of(two) == ["gw0", "gw1"]
    assert all(re.match(r"ex-gw[01]-\d+$", eid) for eid in two["exchanges"])
    assert two["run"]["seed"] == one["run"]["seed"] == 5
    tests = {t["nodeid"] for r in two["requirements"] for t in r["tests"]}
    assert tests == {t["nodeid"] for r in one["requirements"] for t in r["tests"]}
    # the probe's requirements were judged (not skipped) on a worker's own sandbox
    assert {r["id"]: r["status"] for r in two["requirements"] if r["id"].startswith("DIGIFI-RATE")}
    for name in ("conformance.html", "pytest-html.html", "junit.xml"):
        assert (tmp_path / "par" / name).is_file(), name
    junit = (tmp_path / "par" / "junit.xml").read_text(encoding="utf-8")
    assert junit.count("<testcase") == (tmp_path / "serial" / "junit.xml").read_text(
        encoding="utf-8"
    ).count("<testcase")
    # secrets stay on the workers: no report shows the API key
    _assert_never_shown(tmp_path / "par", key)
    assert key not in par.stdout + par.stderr


@pytest.fixture
def served_digifi(tmp_path: Path) -> Iterator[str]:
    """A DigiFi reference sandbox served at a URL (a separate process), stopped afterwards."""
    with standalone_sandbox(tmp_path, _env(), vendor="digifi") as url:
        yield url


@pytest.mark.slow
def test_a_url_target_is_tested_by_one_worker(tmp_path: Path, served_digifi: str) -> None:
    """A served sandbox is shared state: its rate limit is per key (two workers pacing at 80/s
    would exceed 100/s) and the allow-list test switches its IP allow-list (measured: the other
    worker's requests got 403). So every DigiFi test goes to one worker."""
    env = _env(APICERT_DIGIFI_API_KEY="sandbox-api-key")
    proc = _apicert(
        tmp_path,
        "run",
        "--vendor",
        "digifi",
        "--target",
        f"digifi={served_digifi}",
        "--allow-load",
        "--seed",
        "5",
        "--report-dir",
        "url",
        "-n",
        "2",
        env=env,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    doc = _load(tmp_path / "url")
    assert len(_workers_of(doc)) == 1, doc["run"]["merged_from"]
    rate = {r["id"]: r["status"] for r in doc["requirements"] if r["id"].startswith("DIGIFI-RATE")}
    assert rate and set(rate.values()) == {"passed"}, rate
    assert doc["summary"]["digifi"]["verdict"] == "conformant"
    _assert_never_shown(tmp_path / "url", "sandbox-api-key")
