"""results.json against its published JSON Schema, in the fast tier: a document built from
hand-made test records, and the document a set-up failure writes (real CLI, no test run)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from apicert.model import Finding, Status
from apicert.report.results import SCHEMA_VERSION, build_results, write_results
from apicert.run import Run, TestRecord
from apicert.targets import resolve_targets

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = json.loads((ROOT / "schemas" / "results.schema.json").read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def errors(validator: jsonschema.Draft202012Validator, doc: dict[str, Any]) -> list[str]:
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(doc)]


def test_a_built_document_is_valid_and_round_trips(
    tmp_path: Path, validator: jsonschema.Draft202012Validator
) -> None:
    run = Run(targets=resolve_targets(["connectfi"], {}, env={}), report_dir=tmp_path, env={})
    rec = TestRecord("connectfi/test_a.py::test_b", "connectfi", ("CONNECTFI-ENV-01",))
    rec.outcome = "failed"
    rec.findings = [Finding("CONNECTFI-ENV-01", Status.FAILED, "code is 0", ["ex-000001"])]
    run.records[rec.nodeid] = rec
    doc = build_results(run, ["connectfi"], extra={"hypothesis_seed": 3, "pytest_args": []})
    assert doc["schema_version"] == SCHEMA_VERSION
    assert errors(validator, doc) == []
    entry = next(r for r in doc["requirements"] if r["id"] == "CONNECTFI-ENV-01")
    assert entry["reproduce"]["pytest"] == ["connectfi/test_a.py::test_b"]
    assert "--seed 3" in entry["reproduce"]["command"]
    assert set(doc["drift"]) == {"connectfi"}
    path = write_results(doc, tmp_path / "results.json")
    assert json.loads(path.read_text(encoding="utf-8")) == doc
    # One line per requirement: greppable by id.
    lines = [line for line in path.read_text().splitlines() if '"CONNECTFI-ENV-01"' in line]
    assert len(lines) == 1 and '"status": "failed"' in lines[0]


def test_the_schema_rejects_what_it_promises_to(validator: jsonschema.Draft202012Validator) -> None:
    doc = {
        "schema_version": "1.1",
        "run": {"errors": []},
        "summary": {},
        "requirements": [{"id": "X-1", "status": "fine"}],
        "exchanges": {},
    }
    problems = errors(validator, doc)
    assert any("'fine' is not one of" in p for p in problems)
    assert any("'vendor' is a required property" in p for p in problems)
    doc["schema_version"] = "2.0"
    assert any("does not match" in p for p in errors(validator, doc))


def test_a_set_up_failure_writes_a_valid_document_and_page(
    tmp_path: Path, validator: jsonschema.Draft202012Validator
) -> None:
    stale = tmp_path / "reports" / "conformance.html"
    stale.parent.mkdir()
    stale.write_text("an earlier run")
    proc = subprocess.run(
        [
            *(sys.executable, "-m", "apicert.cli", "run", "--vendor", "connectfi"),
            *("--target", "connectfi=http://127.0.0.1:1", "--report-dir", "reports"),
        ],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    doc = json.loads((tmp_path / "reports" / "results.json").read_text(encoding="utf-8"))
    assert errors(validator, doc) == []
    page = stale.read_text(encoding="utf-8")
    assert "an earlier run" not in page and "APICERT_CONNECTFI_LOGIN" in page
