"""The kill matrix judges each run correctly (canned results.json documents; no server)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from apicert.selftest import CLEAN, FaultRow, KillMatrix, _row, matrix_lines, write_matrix


def _doc(statuses: dict[str, str], errors: list[str] | None = None) -> dict[str, Any]:
    return {
        "run": {"errors": errors or []},
        "requirements": [
            {"id": rid, "vendor": "connectfi", "status": status} for rid, status in statuses.items()
        ],
    }


ALL_PASSED = {"CONNECTFI-ENV-01": "passed", "CONNECTFI-ENV-04": "passed"}


def test_a_fault_that_fails_what_it_declares_is_ok() -> None:
    doc = _doc(ALL_PASSED | {"CONNECTFI-ENV-04": "failed"})
    row = _row("connectfi", "requestid-repeated", ["CONNECTFI-ENV-04"], (1, doc), 1.0)
    assert row.ok and row.broken == ["CONNECTFI-ENV-04"] and row.intended == "CONNECTFI-ENV-04"


def test_a_fault_that_fails_nothing_is_red() -> None:
    row = _row("connectfi", "requestid-repeated", ["CONNECTFI-ENV-04"], (0, _doc(ALL_PASSED)), 1.0)
    assert not row.ok and row.missing == ["CONNECTFI-ENV-04"]


def test_a_fault_that_fails_something_undeclared_is_red() -> None:
    doc = _doc({"CONNECTFI-ENV-01": "failed", "CONNECTFI-ENV-04": "failed"})
    row = _row("connectfi", "requestid-repeated", ["CONNECTFI-ENV-04"], (1, doc), 1.0)
    assert not row.ok and row.unexpected == ["CONNECTFI-ENV-01"]


def test_a_wrong_exit_code_or_a_setup_error_is_red() -> None:
    doc = _doc(ALL_PASSED | {"CONNECTFI-ENV-04": "failed"})
    assert _row("connectfi", "f", ["CONNECTFI-ENV-04"], (0, doc), 1.0).error == (
        "exit code 0, expected 1"
    )
    broken = _doc(ALL_PASSED, errors=["credentials refused"])
    assert _row("connectfi", "f", ["CONNECTFI-ENV-04"], (2, broken), 1.0).error
    assert _row("connectfi", "f", ["CONNECTFI-ENV-04"], (-1, None), 1.0).error == "timed out"


def test_a_clean_run_with_a_failure_is_red() -> None:
    doc = _doc(ALL_PASSED | {"CONNECTFI-ENV-01": "failed"})
    row = _row("connectfi", None, [], (1, doc), 1.0)
    assert row.fault == CLEAN and row.unexpected == ["CONNECTFI-ENV-01"] and not row.ok


def test_lines_fit_80_columns_and_name_red_rows(tmp_path: Path) -> None:
    bad = FaultRow("connectfi", "a-very-long-fault-name-" * 3, ["CONNECTFI-ENV-04"], [], 0, 1.0)
    bad.missing = ["CONNECTFI-ENV-04"]
    good = FaultRow("connectfi", CLEAN, [], [], 0, 2.0)
    matrix = KillMatrix([good, bad], {"connectfi": ["CONNECTFI-AUTH-01"]}, 0.0, 3.0)
    lines = matrix_lines(matrix)
    assert all(len(line) <= 80 for line in lines)
    assert lines[0].startswith("ok  connectfi clean: nothing failed")
    assert lines[1].startswith("RED connectfi a-very-long")
    assert "missed CONNECTFI-ENV-04" in lines[2]
    assert "no fault fails CONNECTFI-AUTH-01" in lines[3]
    assert not matrix.ok
    json_path, html_path = write_matrix(matrix, tmp_path)
    assert '"ok": false' in json_path.read_text()
    html = html_path.read_text()
    assert 'class="red"' in html and "CONNECTFI-AUTH-01" in html
