"""Every requirement of every vendor can fail: ``apicert.selftest.kill_matrix`` runs each sandbox
fault through the real CLI; each must fail exactly the requirements it declares (the first one is
the one it exists for), the clean sandbox must fail nothing and warn only where its catalog marks
a warning as expected, and every requirement in a catalog must be failed by at least one fault.

Slow tier: one ``apicert run`` per fault, two at a time. A vendor's runs start only when one of
its tests is selected, so ``pytest tests/test_faults.py -k digitzs`` runs Digitzs alone.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest

from apicert.catalog import load_catalog
from apicert.expect import evaluate, exchange_ids
from apicert.paths import suites_dir
from apicert.redact import IDENTITY_KEYS
from apicert.sandbox.runtime import Fault, available_sandboxes, fault_catalog
from apicert.selftest import CLEAN, FaultRow, KillMatrix, kill_matrix

pytestmark = pytest.mark.slow

VENDORS = [v for v in available_sandboxes() if (suites_dir() / v).is_dir()]
CASES = [(v, f) for v in VENDORS for f in fault_catalog(v)]


class Matrices:
    """One kill matrix per vendor, made on first request."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self._done: dict[str, KillMatrix] = {}
        self._lock = threading.Lock()

    def of(self, vendor: str) -> KillMatrix:
        with self._lock:
            if vendor not in self._done:
                self._done[vendor] = kill_matrix([vendor], self.base, jobs=2)
            return self._done[vendor]

    def row(self, vendor: str, fault: str) -> FaultRow:
        return next(r for r in self.of(vendor).rows if r.fault == fault)


@pytest.fixture(scope="module")
def matrices(tmp_path_factory: pytest.TempPathFactory) -> Matrices:
    return Matrices(tmp_path_factory.mktemp("faults"))


def _explain(row: FaultRow) -> str:
    return (
        f"{row.vendor}:{row.fault} failed {row.broken}, declared {row.declared}; "
        f"unexpected {row.unexpected}, missed {row.missing}, error {row.error}; "
        f"reports under {row.vendor}/{row.fault}"
    )


@pytest.mark.parametrize("vendor", VENDORS)
def test_clean_sandbox_passes_every_requirement(vendor: str, matrices: Matrices) -> None:
    row = matrices.row(vendor, CLEAN)
    expected = sorted(r.id for r in load_catalog(vendor) if r.expected_warning)
    assert row.ok, _explain(row)
    assert row.broken == expected
    assert row.exit_code == 0


@pytest.mark.parametrize(("vendor", "fault"), CASES, ids=[f"{v}:{f.name}" for v, f in CASES])
def test_fault_fails_exactly_what_it_declares(
    vendor: str, fault: Fault, matrices: Matrices
) -> None:
    row = matrices.row(vendor, fault.name)
    assert row.intended == fault.breaks[0]
    assert fault.breaks[0] in row.broken, _explain(row)
    assert row.ok, _explain(row)


def _masked(expectation: dict[str, Any]) -> bool:
    """True when the redactor rewrites what the expectation reads in the stored evidence (the
    digits a request sent, an identity field), so only the raw exchanges could show it failing;
    those are shown failing on raw canned exchanges in tests/test_expect.py and by live replay."""
    if expectation["op"] == "not_echoed":
        return True
    if expectation["op"] == "any_of":
        return any(_masked(e) for e in expectation["of"])
    last = (expectation.get("path") or [""])[-1]
    return str(last).lower().replace("_", "") in IDENTITY_KEYS | {"number"}


def expectation_misses(doc: dict[str, Any]) -> tuple[list[str], int]:
    """Failed/warning findings of a results.json whose expectations all HOLD on their own
    evidence (they must state a promise the answer broke), or name an exchange the report does
    not keep; and how many findings were left out because their evidence is masked."""
    misses: list[str] = []
    masked = 0
    forms = doc.get("exchanges") or {}
    for requirement in doc["requirements"]:
        for finding in requirement["findings"]:
            if finding["status"] not in ("failed", "warning") or not finding.get("expect"):
                continue
            named = {i for e in finding["expect"] for i in exchange_ids(e)}
            if not named <= set(finding["evidence"]) or not named <= set(forms):
                misses.append(f"{requirement['id']}: expectations name {sorted(named)}, not kept")
            elif not evaluate(finding["expect"], forms):
                if any(_masked(e) for e in finding["expect"]):
                    masked += 1
                else:
                    misses.append(f"{requirement['id']}: all expectations hold: {finding}"[:600])
    return misses, masked


@pytest.mark.parametrize(("vendor", "fault"), CASES, ids=[f"{v}:{f.name}" for v, f in CASES])
def test_expectations_fail_on_the_faulty_answers(
    vendor: str, fault: Fault, matrices: Matrices
) -> None:
    """Every expectation a failed finding carries states the promise the faulty answer broke:
    evaluated on the finding's own (redacted) evidence, at least one of them does not hold."""
    matrices.row(vendor, fault.name)
    doc = json.loads((matrices.base / vendor / fault.name / "results.json").read_text())
    misses, _ = expectation_misses(doc)
    assert not misses, "\n".join(misses)


@pytest.mark.parametrize("vendor", VENDORS)
def test_clean_sandbox_gets_no_expectations_beyond_expected_warnings(
    vendor: str, matrices: Matrices
) -> None:
    matrices.row(vendor, CLEAN)
    doc = json.loads((matrices.base / vendor / "clean" / "results.json").read_text())
    expected = {r.id for r in load_catalog(vendor) if r.expected_warning}
    carrying = {r["id"] for r in doc["requirements"] for f in r["findings"] if f.get("expect")}
    assert carrying <= expected
    assert expectation_misses(doc)[0] == []


@pytest.mark.parametrize("vendor", VENDORS)
def test_every_requirement_is_failed_by_some_fault(vendor: str, matrices: Matrices) -> None:
    unkilled = matrices.of(vendor).unkilled[vendor]
    assert not unkilled, f"{vendor}: requirements no fault can fail: {unkilled}"


@pytest.mark.parametrize("vendor", VENDORS)
def test_every_declared_requirement_is_in_the_catalog(vendor: str) -> None:
    catalog = load_catalog(vendor)
    for fault in fault_catalog(vendor):
        assert fault.breaks, fault.name
        assert all(rid in catalog for rid in fault.breaks), fault.name
