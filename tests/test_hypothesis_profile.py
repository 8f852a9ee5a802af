"""The apicert Hypothesis profile is the same in CI as on a laptop.

Hypothesis loads a derandomized "ci" profile (no example database) when CI is set; inheriting it
made every contract run in CI error with InvalidArgument (derandomize with a database).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

PROBE = r"""
import sys, pytest, hypothesis
class Probe:
    def pytest_sessionfinish(self, session):
        s = hypothesis.settings()
        print("PROFILE", s.derandomize, type(s.database).__name__, s.max_examples)
pytest.main(["-q", "-p", "no:cacheprovider", "--apicert-report-dir", sys.argv[1], "--collect-only",
             sys.argv[2]], plugins=[Probe()])
"""


@pytest.mark.parametrize("ci", [None, "true"])
def test_profile_ignores_the_ci_environment(tmp_path: Path, ci: str | None) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "APICERT_MAX_EXAMPLES")}
    if ci:
        env["CI"] = ci
    target = tmp_path / "test_nothing.py"
    target.write_text("def test_nothing():\n    pass\n")
    out = subprocess.run(
        [sys.executable, "-c", PROBE, str(tmp_path / "reports"), str(target)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    ).stdout
    assert "PROFILE False DirectoryBasedExampleDatabase 25" in out, out
