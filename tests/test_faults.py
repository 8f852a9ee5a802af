"""Every requirement of every vendor can fail: ``apicert.selftest.kill_matrix`` runs each sandbox
fault through the real CLI; each must fail exactly the requirements it declares (the first one is
the one it exists for), the clean sandbox must fail nothing and warn only where its catalog marks
a warning as expected, and every requirement in a catalog must be failed by at least one fault.

Slow tier: one ``apicert run`` per fault, two at a time. A vendor's runs start only when one of
its tests is selected, so ``pytest tests/test_faults.py -k digitzs`` runs Digitzs alone.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from apicert.catalog import load_catalog
from apicert.paths import suites_dir
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
