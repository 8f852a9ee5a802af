"""Shared pytest set-up for the harness's own tests (``tests/``).

The fast tier runs on every change; tests marked ``slow`` run whole suites through the CLI in
subprocesses (the kill matrix, the end-to-end runs). ``--skip-slow`` leaves them out for a quick
local loop; CI runs both.
"""

from __future__ import annotations

import pytest

collect_ignore = ["reports", "benchmarks"]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--skip-slow", action="store_true", default=False, help="skip the slow tier")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not config.getoption("--skip-slow"):
        return
    skip = pytest.mark.skip(reason="slow tier skipped (--skip-slow)")
    for item in items:
        if item.get_closest_marker("slow") is not None:
            item.add_marker(skip)
