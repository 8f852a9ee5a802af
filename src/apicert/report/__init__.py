"""Reports: ``results.json`` is the source of truth; every other artifact is rendered from it."""

from __future__ import annotations

from apicert.report.results import SCHEMA_VERSION, build_results, exit_code, write_results

__all__ = ["SCHEMA_VERSION", "build_results", "exit_code", "write_results"]
