"""A pytest plugin for benchmarks: keep only the tests that name a requirement listed in the
``REPRO_BENCH_ONLY`` environment variable (comma-separated ids); the others are deselected.

Used by ``repro_coverage.py`` (``apicert run ... -- -p only_requirements``) so a fault's run sends
the tests about what the fault declares, not the whole suite; observers still judge every
exchange those tests send.
"""

from __future__ import annotations

import os

import pytest


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect the items whose ``requirement`` markers name none of the listed ids."""
    wanted = {r for r in os.environ.get("REPRO_BENCH_ONLY", "").split(",") if r}
    if not wanted:
        return
    keep: list[pytest.Item] = []
    drop: list[pytest.Item] = []
    for item in items:
        named = {str(a) for m in item.iter_markers("requirement") for a in m.args}
        (keep if named & wanted else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
