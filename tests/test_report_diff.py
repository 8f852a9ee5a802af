"""``apicert report diff`` on hand-built results documents, through the real command."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from apicert.report.diff import diff_lines, diff_results


def doc(statuses: dict[str, str], drift: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "schema_version": "1.1",
        "run": {"errors": [], "started": "2026-01-01T00:00:00Z"},
        "summary": {},
        "requirements": [
            {"id": rid, "vendor": "connectfi", "title": f"t {rid}", "status": s, "reason": ""}
            for rid, s in statuses.items()
        ],
        "exchanges": {},
        "drift": drift or {},
    }


def drift(undeclared: list[str]) -> dict[str, Any]:
    op = {"seen": undeclared, "undeclared": undeclared, "unseen": ["subCode"]}
    return {
        "connectfi": {"document": "openapi.yaml", "operations": {"GET /x 200": op}, "unmatched": []}
    }


OLD = {"A-1": "passed", "A-2": "failed", "A-3": "warning", "A-4": "passed", "A-5": "passed"}
NEW = {"A-1": "failed", "A-2": "passed", "A-3": "failed", "A-4": "skipped", "A-6": "passed"}


def test_diff_classifies_every_change() -> None:
    d = diff_results(doc(OLD), doc(NEW))
    assert [i["id"] for i in d["newly_failing"]] == ["A-1", "A-3"]
    assert [i["id"] for i in d["fixed"]] == ["A-2"]
    assert [i["id"] for i in d["changed"]] == ["A-4"]
    assert [i["id"] for i in d["added"]] == ["A-6"] and [i["id"] for i in d["removed"]] == ["A-5"]


def test_identical_runs_have_no_change() -> None:
    d = diff_results(doc(OLD), doc(OLD))
    assert not any(d[k] for k in ("newly_failing", "fixed", "changed", "added", "removed"))


def test_drift_of_the_new_run_marks_what_is_new() -> None:
    d = diff_results(doc(OLD, drift(["data.a"])), doc(OLD, drift(["data.a", "data.legacy"])))
    undeclared = next(x for x in d["drift"] if x["kind"] == "undeclared")
    assert undeclared["fields"] == ["data.a", "data.legacy"]
    assert undeclared["new_fields"] == ["data.legacy"]
    lines = diff_lines(d)
    assert "  connectfi GET /x 200 undeclared: data.a, data.legacy*" in lines
    assert all(len(line) <= 80 for line in lines)


def run_cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "apicert.cli", "report", "diff", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_cli_prints_the_diff_writes_html_and_exits_1_on_new_failures(tmp_path: Path) -> None:
    (tmp_path / "old.json").write_text(json.dumps(doc(OLD)))
    (tmp_path / "new.json").write_text(json.dumps(doc(NEW, drift(["data.legacy"]))))
    out = run_cli(tmp_path, "old.json", "new.json", "--html", "diff.html")
    assert out.returncode == 1, out.stderr
    assert "newly failing: 2" in out.stdout and "undeclared: data.legacy*" in out.stdout
    html = (tmp_path / "diff.html").read_text(encoding="utf-8")
    section = html[html.index('id="newly_failing"') : html.index('id="fixed"')]
    assert 'data-id="A-1"' in section and 'data-id="A-3"' in section
    assert 'data-id="A-2"' not in section and "http" not in html.replace("http-equiv", "")
    same = run_cli(tmp_path, "old.json", "old.json")
    assert same.returncode == 0 and "newly failing: 0" in same.stdout


@pytest.mark.parametrize(
    ("content", "expected"),
    [(None, "no such file"), ("{", "not JSON"), ('{"a": 1}', "not an apicert results.json")],
)
def test_cli_bad_input_is_one_line_and_exit_2(
    tmp_path: Path, content: str | None, expected: str
) -> None:
    (tmp_path / "good.json").write_text(json.dumps(doc(OLD)))
    if content is not None:
        (tmp_path / "bad.json").write_text(content)
    out = run_cli(tmp_path, "good.json", "bad.json")
    assert out.returncode == 2 and out.stdout == ""
    lines = out.stderr.splitlines()
    assert len(lines) == 1 and expected in lines[0] and "Traceback" not in out.stderr
