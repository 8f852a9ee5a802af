"""The kill matrix goes into the report: ``apicert selftest`` writes a results.json (the clean
runs, merged, plus a ``selftest`` block) and conformance.html shows "Self-test: can every check
fail?" from it, with red lines for a fault that fails nothing, one that fails something it does
not declare, and a requirement no fault fails. Hand-built inputs; no server, no browser."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema

from apicert.report.html import write_html
from apicert.selftest import CLEAN, FaultRow, KillMatrix, write_report

from .test_report_html import document, requirement

ROOT = Path(__file__).resolve().parent.parent


def _clean_run(base: Path, vendor: str, rid: str) -> None:
    path = base / vendor / "clean" / "results.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(document([requirement(rid, "passed")], {})), encoding="utf-8")


def _matrix() -> KillMatrix:
    rows = [
        FaultRow("connectfi", CLEAN, [], [], 0, 1.0),
        FaultRow("connectfi", "code-integer", ["CONNECTFI-ENV-01"], ["CONNECTFI-ENV-01"], 1, 2.0),
        FaultRow(
            "connectfi",
            "fails-nothing",
            ["CONNECTFI-ENV-02"],
            [],
            0,
            2.0,
            missing=["CONNECTFI-ENV-02"],
        ),
        FaultRow("digitzs", CLEAN, [], [], 0, 1.0),
        FaultRow(
            "digitzs",
            "too-much",
            ["DIGITZS-ENV-01"],
            ["DIGITZS-ENV-01", "DIGITZS-AUTH-01"],
            1,
            3.0,
            unexpected=["DIGITZS-AUTH-01"],
        ),
    ]
    return KillMatrix(rows, {"connectfi": ["CONNECTFI-AUTH-09"], "digitzs": []}, 0.0, 10.0)


def _section(page: str) -> str:
    start = page.index('<section id="selftest"')
    return page[start : page.index("</section>", start)]


def test_the_matrix_is_a_section_of_the_report(tmp_path: Path) -> None:
    _clean_run(tmp_path, "connectfi", "CONNECTFI-ENV-01")
    _clean_run(tmp_path, "digitzs", "DIGITZS-ENV-01")
    page_path = write_report(_matrix(), tmp_path)
    assert page_path == tmp_path / "conformance.html"
    page = page_path.read_text(encoding="utf-8")
    section = _section(page)
    assert "Self-test: can every check fail?" in section
    assert "RED: the self-test failed" in section and "5 runs, 2 red" in section
    red = re.findall(r'<tr class="red" data-fault="([^"]+)"', section)
    ok = re.findall(r'<tr class="ok" data-fault="([^"]+)"', section)
    assert red == ["connectfi:fails-nothing", "digitzs:too-much"], red
    assert len(ok) == 3
    assert "missed: CONNECTFI-ENV-02" in section and "unexpected: DIGITZS-AUTH-01" in section
    assert re.search(
        r'class="selftest-unkilled red">connectfi: no fault fails CONNECTFI-AUTH-09', section
    )
    # The clean runs' verdicts are on the same page.
    verdict = page[page.index('id="verdict"') : page.index('id="controls"')]
    assert 'data-vendor="connectfi"' in verdict and 'data-vendor="digitzs"' in verdict

    # results.json is the source of truth: the page's data is its selftest block, schema-valid.
    doc = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    assert doc["selftest"]["ok"] is False and len(doc["selftest"]["rows"]) == 5
    schema = json.loads((ROOT / "schemas" / "results.schema.json").read_text(encoding="utf-8"))
    problems = [e.message for e in jsonschema.Draft202012Validator(schema).iter_errors(doc)]
    assert problems == []


def test_an_all_green_matrix_has_no_red_line(tmp_path: Path) -> None:
    _clean_run(tmp_path, "connectfi", "CONNECTFI-ENV-01")
    matrix = KillMatrix(_matrix().rows[:2], {"connectfi": []}, 0.0, 1.0)
    section = _section(write_report(matrix, tmp_path).read_text(encoding="utf-8"))  # type: ignore[union-attr]
    assert "All green" in section and 'class="red"' not in section
    assert "selftest-unkilled" not in section and "0 requirement(s) no fault fails" in section


def test_a_conformance_run_has_no_selftest_section(tmp_path: Path) -> None:
    page = write_html(document([requirement("CONNECTFI-ENV-01", "passed")], {}), tmp_path)
    assert 'id="selftest"' not in page.read_text(encoding="utf-8")
    assert write_report(_matrix(), tmp_path / "none") is None  # no clean run left a results.json
