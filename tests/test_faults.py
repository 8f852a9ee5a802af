"""Every connectFi requirement can fail: each sandbox fault, run through the real CLI, fails
exactly the requirements it declares (the first one is the one it exists for), and every
requirement in the catalog is failed by at least one fault.

Slow tier: one ``apicert run`` per fault, two at a time.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from apicert.catalog import load_catalog
from apicert.sandbox.runtime import fault_catalog

pytestmark = pytest.mark.slow

VENDOR = "connectfi"
FAULTS = fault_catalog(VENDOR)
BROKEN = {"failed", "warning"}


def _run(fault: str, report_dir: Path) -> tuple[int, dict[str, Any]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("APICERT_")}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "apicert.cli",
            "run",
            "--vendor",
            VENDOR,
            "--fault",
            f"{VENDOR}:{fault}",
            "--report-dir",
            str(report_dir),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=report_dir.parent,
    )
    results = report_dir / "results.json"
    assert results.exists(), (
        f"{fault}: no results.json\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
    )
    return proc.returncode, json.loads(results.read_text())


@pytest.fixture(scope="module")
def fault_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[int, dict[str, Any]]]:
    base = tmp_path_factory.mktemp("faults")
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {f.name: pool.submit(_run, f.name, base / f.name) for f in FAULTS}
        return {name: future.result() for name, future in futures.items()}


def _broken(doc: dict[str, Any]) -> set[str]:
    return {r["id"] for r in doc["requirements"] if r["status"] in BROKEN}


@pytest.mark.parametrize("fault", FAULTS, ids=[f.name for f in FAULTS])
def test_fault_fails_exactly_what_it_declares(
    fault: Any, fault_runs: dict[str, tuple[int, dict[str, Any]]]
) -> None:
    code, doc = fault_runs[fault.name]
    broken = _broken(doc)
    assert fault.breaks[0] in broken, f"{fault.name} did not fail {fault.breaks[0]}"
    unexpected = [
        f"{r['id']}: {f['message']}"
        for r in doc["requirements"]
        if r["id"] in broken - set(fault.breaks)
        for f in r["findings"][:3]
    ]
    assert broken == set(fault.breaks), (
        f"{fault.name}: failed {sorted(broken)}, declared {list(fault.breaks)}; "
        f"unexpected findings: {unexpected}"
    )
    must = [r for r in doc["requirements"] if r["status"] == "failed"]
    assert code == (1 if must else 0)


def test_every_requirement_is_failed_by_some_fault(
    fault_runs: dict[str, tuple[int, dict[str, Any]]],
) -> None:
    killed = set().union(*(_broken(doc) for _, doc in fault_runs.values()))
    missing = sorted({r.id for r in load_catalog(VENDOR)} - killed)
    assert not missing, f"requirements no fault can fail: {missing}"


def test_every_declared_requirement_is_in_the_catalog() -> None:
    catalog = load_catalog(VENDOR)
    for fault in FAULTS:
        assert all(rid in catalog for rid in fault.breaks), fault.name
