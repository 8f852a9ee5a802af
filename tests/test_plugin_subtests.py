"""An error inside a Schemathesis operation (a subtest) fails the test's requirement.

Schemathesis renames the node per operation and reports each operation on its own; the plugin once
looked records up by node id, missed those reports, and called the requirement passed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

SUITE = """
import pytest
import schemathesis
from apicert.contract import load_openapi

@pytest.fixture
def connectfi_schema(apicert_run):
    return load_openapi("connectfi", base_url=apicert_run.target("connectfi").base_url)

schema = schemathesis.pytest.from_fixture("connectfi_schema")

@pytest.mark.requirement("CONNECTFI-CONTRACT-01")
@schema.parametrize()
def test_operation(case, api, verdict):
    if case.operation.path == "BREAK_PATH":
        raise RuntimeError("broken inside one operation")
    case.call(session=api.session, base_url=api.base_url)
"""


def _run(tmp_path: Path, break_path: str) -> dict:
    (tmp_path / "test_suite.py").write_text(SUITE.replace("BREAK_PATH", break_path))
    env = {k: v for k, v in os.environ.items() if not k.startswith("APICERT_")}
    env["APICERT_MAX_EXAMPLES"] = "2"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            str(tmp_path / "test_suite.py"),
            "--apicert-report-dir",
            str(tmp_path / "reports"),
            "--apicert-vendor",
            "connectfi",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    doc = json.loads((tmp_path / "reports" / "results.json").read_text())
    return next(r for r in doc["requirements"] if r["id"] == "CONNECTFI-CONTRACT-01")


def test_an_error_in_one_operation_fails_the_requirement(tmp_path: Path) -> None:
    requirement = _run(tmp_path, "/health")
    assert requirement["status"] == "failed", requirement
    assert "RuntimeError: broken inside one operation" in requirement["reason"]


def test_operations_without_errors_pass(tmp_path: Path) -> None:
    assert _run(tmp_path, "/nowhere")["status"] == "passed"
