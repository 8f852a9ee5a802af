"""The known-issues registry (apicert.known_issues): validation, the known / fixed-upstream
states, the exit code, the terminal, and end to end through the real CLI with a connectFi fault.
"""

from __future__ import annotations

import copy
import json
from collections import Counter
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from apicert.known_issues import (
    RegistryError,
    apply_registry,
    counts_as_failure,
    default_path,
    load_registry,
    registry_lines,
)
from apicert.paths import schemas_dir
from apicert.report.results import exit_code, vendor_summary
from apicert.report.terminal import summary_lines

from .test_cli import apicert, assert_one_error_line

ENV04 = "CONNECTFI-ENV-04"
ENTRY = (
    "known_issues:\n"
    f"  - requirement: {ENV04}\n"
    "    ticket: CFI-1234\n"
    "    first_seen: 2026-11-02\n"
    "    note: requestId repeats after a restart\n"
)
# One test, one requirement: the fault repeats requestIds, which only ENV-04 judges.
SELECT = ("-k", "test_request_ids_never_repeat and not sequence")


def _write(tmp_path: Path, text: str, name: str = "known_issues.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _doc(statuses: dict[str, str]) -> dict[str, Any]:
    return {
        "run": {"errors": []},
        "summary": {"connectfi": vendor_summary(Counter(statuses.values()))},
        "requirements": [
            {"id": rid, "vendor": "connectfi", "title": rid, "status": st}
            for rid, st in statuses.items()
        ],
    }


# -- validation ----------------------------------------------------------------------------
def test_a_valid_registry_loads(tmp_path: Path) -> None:
    issues = load_registry(_write(tmp_path, ENTRY))
    assert [(i.requirement, i.ticket, i.first_seen) for i in issues] == [
        (ENV04, "CFI-1234", "2026-11-02")
    ]
    assert load_registry(_write(tmp_path, "")) == []
    assert load_registry(_write(tmp_path, "known_issues: []\n")) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("known_issues: [\n", "not valid YAML (line"),
        ("- a\n", "one top-level key 'known_issues'"),
        ("known_issues: {a: 1}\n", "must be a list"),
        ("known_issues:\n  - 3\n", "entry 1: expected a mapping"),
        (ENTRY.replace(ENV04, "CONNECTFI-NOPE-99"), "unknown requirement id 'CONNECTFI-NOPE-99'"),
        (ENTRY.replace("    ticket: CFI-1234\n", ""), "missing field 'ticket'"),
        (ENTRY.replace("CFI-1234", "''"), "missing field 'ticket'"),
        (
            ENTRY.replace("    note: requestId repeats after a restart\n", ""),
            "missing field 'note'",
        ),
        (ENTRY.replace("2026-11-02", "last week"), "first_seen 'last week' is not a date"),
        (ENTRY + "    owner: me\n", "unknown field 'owner'"),
        (ENTRY + ENTRY.split("\n", 1)[1], "listed twice"),
    ],
)
def test_a_bad_registry_is_one_line_naming_the_problem(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(RegistryError) as caught:
        load_registry(path)
    message = str(caught.value)
    assert expected in message and str(path) in message and "\n" not in message


def test_a_missing_registry_file_is_an_error_only_when_named(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match="no such known-issues file"):
        load_registry(tmp_path / "nope.yaml")
    assert default_path(None, tmp_path) is None
    _write(tmp_path, ENTRY)
    assert default_path(None, tmp_path) == tmp_path / "known_issues.yaml"
    assert default_path("other.yaml", tmp_path) == Path("other.yaml")


# -- states and exit code ------------------------------------------------------------------
def test_a_listed_failure_is_known_and_does_not_fail_the_run(tmp_path: Path) -> None:
    doc = _doc({ENV04: "failed", "CONNECTFI-ENV-01": "passed"})
    assert exit_code(doc) == 1
    apply_registry(doc, load_registry(_write(tmp_path, ENTRY)), tmp_path / "known_issues.yaml")
    req = doc["requirements"][0]
    assert req["status"] == "failed"  # the vendor still fails it; the registry only excuses it
    assert req["known_issue"] == {
        "ticket": "CFI-1234",
        "first_seen": "2026-11-02",
        "note": "requestId repeats after a restart",
        "state": "known",
    }
    assert doc["run"]["known_issues"]["known"] == [ENV04]
    assert doc["summary"]["connectfi"]["known"] == 1
    assert exit_code(doc) == 0
    other = copy.deepcopy(doc)
    other["requirements"][1]["status"] = "failed"  # an unlisted failure still fails the run
    assert exit_code(other) == 1
    lines = summary_lines(doc)
    assert any(line.startswith(f"  known  {ENV04}") and "CFI-1234" in line for line in lines)
    assert any("1 known issue" in line for line in lines)


def test_a_listed_requirement_that_passes_fails_the_run_until_removed(tmp_path: Path) -> None:
    doc = _doc({ENV04: "passed"})
    apply_registry(doc, load_registry(_write(tmp_path, ENTRY)), tmp_path / "known_issues.yaml")
    assert doc["requirements"][0]["known_issue"]["state"] == "fixed upstream"
    assert counts_as_failure(doc["requirements"][0])
    assert exit_code(doc) == 1
    lines = registry_lines(doc)
    assert f"fixed upstream, remove from the registry: {ENV04} (CFI-1234)" in lines
    assert any(line.startswith(f"  FIXED  {ENV04}") for line in summary_lines(doc))
    assert all(len(line) <= 80 for line in summary_lines(doc))


def test_a_listed_requirement_not_run_has_no_effect(tmp_path: Path) -> None:
    doc = _doc({ENV04: "skipped"})
    apply_registry(doc, load_registry(_write(tmp_path, ENTRY)), tmp_path / "known_issues.yaml")
    assert doc["requirements"][0]["known_issue"]["state"] == "not verified"
    assert exit_code(doc) == 0
    assert registry_lines(doc) == []


# -- through the real CLI ------------------------------------------------------------------
def test_cli_listed_fault_is_known_and_exits_0(tmp_path: Path) -> None:
    """The default registry (known_issues.yaml in the working directory) is picked up."""
    _write(tmp_path, ENTRY)
    result = apicert(
        tmp_path, "run", "--vendor", "connectfi", "--fault", "connectfi:requestid-repeated", *SELECT
    )
    assert result.code == 0, result.stdout + result.stderr
    assert f"known  {ENV04}" in result.stdout
    assert "known issues: 1 failing as listed in" in result.stdout
    req = result.requirements()[ENV04]
    assert req["status"] == "failed" and req["known_issue"]["state"] == "known"
    assert result.results()["run"]["known_issues"]["known"] == [ENV04]
    schema = json.loads((schemas_dir() / "results.schema.json").read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(schema).validate(result.results())
    html = (result.report_dir / "conformance.html").read_text(encoding="utf-8")
    assert 'id="known-issues"' in html and "CFI-1234" in html


def test_cli_without_the_registry_the_same_fault_fails(tmp_path: Path) -> None:
    """The control for the test above: the fault really fails ENV-04."""
    result = apicert(
        tmp_path, "run", "--vendor", "connectfi", "--fault", "connectfi:requestid-repeated", *SELECT
    )
    assert result.code == 1, result.stdout + result.stderr
    assert "known_issue" not in result.requirements()[ENV04]


def test_cli_listed_but_clean_says_fixed_upstream_and_exits_1(tmp_path: Path) -> None:
    registry = _write(tmp_path, ENTRY, name="registry.yaml")
    result = apicert(
        tmp_path / "run", "run", "--vendor", "connectfi", "--known-issues", str(registry), *SELECT
    )
    assert result.code == 1, result.stdout + result.stderr
    assert f"fixed upstream, remove from the registry: {ENV04} (CFI-1234)" in result.stdout
    req = result.requirements()[ENV04]
    assert req["status"] == "passed" and req["known_issue"]["state"] == "fixed upstream"


def test_cli_invalid_registry_is_one_line_exit_2_and_a_report(tmp_path: Path) -> None:
    _write(tmp_path, ENTRY.replace(ENV04, "CONNECTFI-NOPE-99"))
    result = apicert(tmp_path, "run", "--vendor", "connectfi", *SELECT)
    line = assert_one_error_line(result)
    assert "unknown requirement id 'CONNECTFI-NOPE-99'" in line
    doc = json.loads((result.report_dir / "results.json").read_text(encoding="utf-8"))
    assert "unknown requirement id" in doc["run"]["errors"][0]
