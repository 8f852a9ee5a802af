"""Every requirement of every vendor can fail: each sandbox fault, run through the real CLI,
fails exactly the requirements it declares (the first one is the one it exists for); the clean
sandbox fails none; and every requirement in a catalog is failed by at least one fault.

Slow tier: one ``apicert run`` per fault, two at a time. A vendor's runs start only when one of
its tests is selected, so ``pytest tests/test_faults.py -k digitzs`` runs Digitzs alone.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from apicert.catalog import load_catalog
from apicert.paths import suites_dir
from apicert.sandbox.runtime import Fault, available_sandboxes, fault_catalog

from .expectations import EXPECTED_CLEAN_WARNINGS

pytestmark = pytest.mark.slow

BROKEN = {"failed", "warning"}
CLEAN = "(clean)"
VENDORS = [v for v in available_sandboxes() if (suites_dir() / v).is_dir()]
CASES = [(v, f) for v in VENDORS for f in fault_catalog(v)]


Outcome = tuple[int, dict[str, Any]]


def _run(vendor: str, fault: str | None, report_dir: Path) -> Outcome:
    env = {k: v for k, v in os.environ.items() if not k.startswith("APICERT_")}
    args = [sys.executable, "-m", "apicert.cli", "run", "--vendor", vendor]
    if fault is not None:
        args += ["--fault", f"{vendor}:{fault}"]
    args += ["--report-dir", str(report_dir)]
    report_dir.mkdir(parents=True)
    proc = subprocess.run(
        args, capture_output=True, text=True, timeout=300, env=env, cwd=report_dir
    )
    results = report_dir / "results.json"
    assert results.exists(), (
        f"{vendor}:{fault}: no results.json\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
    )
    return proc.returncode, json.loads(results.read_text())


class FaultRuns:
    """Runs a vendor's clean sandbox and each of its faults once, on first request."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self._done: dict[str, dict[str, Outcome]] = {}
        self._lock = threading.Lock()

    def of(self, vendor: str) -> dict[str, Outcome]:
        """Outcome per fault name (and ``CLEAN``) for ``vendor``."""
        with self._lock:
            if vendor not in self._done:
                names: list[str | None] = [None, *(f.name for f in fault_catalog(vendor))]
                with ThreadPoolExecutor(max_workers=2) as pool:
                    futures = {
                        name or CLEAN: pool.submit(
                            _run, vendor, name, self.base / vendor / (name or "clean")
                        )
                        for name in names
                    }
                    self._done[vendor] = {k: f.result() for k, f in futures.items()}
            return self._done[vendor]


@pytest.fixture(scope="module")
def fault_runs(tmp_path_factory: pytest.TempPathFactory) -> FaultRuns:
    return FaultRuns(tmp_path_factory.mktemp("faults"))


def _broken(doc: dict[str, Any]) -> set[str]:
    return {r["id"] for r in doc["requirements"] if r["status"] in BROKEN}


def _findings(doc: dict[str, Any], ids: set[str]) -> list[str]:
    lines = []
    for r in doc["requirements"]:
        if r["id"] in ids:
            first = r["findings"][0]["message"] if r["findings"] else r.get("reason")
            lines.append(f"{r['id']} {r['status']}: {first}")
    return lines


@pytest.mark.parametrize("vendor", VENDORS)
def test_clean_sandbox_passes_every_requirement(vendor: str, fault_runs: FaultRuns) -> None:
    code, doc = fault_runs.of(vendor)[CLEAN]
    expected = EXPECTED_CLEAN_WARNINGS.get(vendor, set())
    not_passed = {r["id"] for r in doc["requirements"] if r["status"] != "passed"}
    assert not_passed == expected, _findings(doc, not_passed ^ expected)
    assert code == 0


@pytest.mark.parametrize(("vendor", "fault"), CASES, ids=[f"{v}:{f.name}" for v, f in CASES])
def test_fault_fails_exactly_what_it_declares(
    vendor: str, fault: Fault, fault_runs: FaultRuns
) -> None:
    code, doc = fault_runs.of(vendor)[fault.name]
    baseline = EXPECTED_CLEAN_WARNINGS.get(vendor, set())
    broken = _broken(doc)
    assert fault.breaks[0] in broken, (
        f"{fault.name} did not fail {fault.breaks[0]}: {_findings(doc, {fault.breaks[0]})}"
    )
    declared = set(fault.breaks)
    assert broken - baseline == declared - baseline, (
        f"{fault.name}: failed {sorted(broken)}, declared {list(fault.breaks)}; "
        f"unexpected: {_findings(doc, broken - declared - baseline)}; "
        f"missing: {_findings(doc, declared - broken)}"
    )
    must = [r for r in doc["requirements"] if r["status"] == "failed"]
    assert code == (1 if must else 0)


@pytest.mark.parametrize("vendor", VENDORS)
def test_every_requirement_is_failed_by_some_fault(vendor: str, fault_runs: FaultRuns) -> None:
    runs = fault_runs.of(vendor)
    killed = set().union(*(_broken(doc) for name, (_, doc) in runs.items() if name != CLEAN))
    missing = sorted({r.id for r in load_catalog(vendor)} - killed)
    assert not missing, f"{vendor}: requirements no fault can fail: {missing}"


@pytest.mark.parametrize("vendor", VENDORS)
def test_every_declared_requirement_is_in_the_catalog(vendor: str) -> None:
    catalog = load_catalog(vendor)
    for fault in fault_catalog(vendor):
        assert fault.breaks, fault.name
        assert all(rid in catalog for rid in fault.breaks), fault.name
