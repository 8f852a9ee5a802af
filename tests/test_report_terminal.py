"""The terminal summary: a line per vendor with its verdict, the failed requirements by id, and
nothing wider than 80 columns."""

from __future__ import annotations

from collections import Counter
from typing import Any

from apicert.report.results import vendor_summary
from apicert.report.terminal import summary_lines


def doc() -> dict[str, Any]:
    statuses = {
        "CONNECTFI-ENV-04": "failed",
        "CONNECTFI-PRE-03": "failed",
        "CONNECTFI-HEALTH-01": "warning",
        "CONNECTFI-ENV-01": "passed",
        "DIGIFI-AUTH-01": "passed",
    }
    reqs = [
        {
            "id": rid,
            "vendor": rid.split("-")[0].lower(),
            "title": "a title long enough to need clipping at eighty columns " * 2,
            "status": status,
            "reason": f"why {rid} is {status}: " + "x" * 100 if status != "passed" else "",
        }
        for rid, status in statuses.items()
    ]
    summary = {
        v: vendor_summary(Counter(r["status"] for r in reqs if r["vendor"] == v))
        for v in ("connectfi", "digifi")
    }
    return {"run": {"errors": []}, "summary": summary, "requirements": reqs}


def test_one_line_per_vendor_then_the_failed_ids_within_80_columns() -> None:
    lines = summary_lines(doc())
    assert all(len(line) <= 80 for line in lines)
    vendor_lines = [line for line in lines if not line.startswith(" ")]
    assert vendor_lines[0].startswith("connectfi: NOT CONFORMANT (4 requirements: 1 passed, 2 fa")
    assert vendor_lines[1].startswith("digifi: CONFORMANT (1 requirements: 1 passed)")
    failed = [line.split()[1] for line in lines if line.startswith("  FAIL ")]
    assert failed == ["CONNECTFI-ENV-04", "CONNECTFI-PRE-03"]
    assert any(line.startswith("  warn   CONNECTFI-HEALTH-01") for line in lines)


def test_a_passed_requirement_shows_its_note() -> None:
    document = doc()
    document["requirements"][3]["notes"] = ["enforced about 99.8/s, documented 100/s"]
    lines = summary_lines(document)
    assert "  ok     CONNECTFI-ENV-01      enforced about 99.8/s, documented 100/s" in lines
