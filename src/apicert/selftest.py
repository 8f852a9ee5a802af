"""``apicert selftest``: run the suites against every sandbox fault and print the kill matrix.

A harness is only worth its verdicts. For each vendor with a reference sandbox this runs the
suites once against the clean sandbox and once per fault (each a real ``apicert run`` in its own
process, a few at a time) and reports, per fault, the requirements it failed and whether that was
the one it exists for. A fault that fails nothing it declares, or fails something it does not
declare, is a red line; so is a catalog requirement no fault fails, and a clean sandbox that fails
anything or warns beyond the warnings its catalog marks as expected.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from apicert.catalog import load_catalog
from apicert.sandbox.runtime import fault_catalog

__all__ = [
    "FaultRow",
    "KillMatrix",
    "kill_matrix",
    "matrix_lines",
    "write_matrix",
    "write_report",
]

BROKEN = frozenset({"failed", "warning"})
CLEAN = "(clean)"
RUN_TIMEOUT = 600.0


@dataclass
class FaultRow:
    """One run: a vendor's clean sandbox (``fault`` is ``CLEAN``) or the sandbox with one fault."""

    vendor: str
    fault: str
    declared: list[str]
    broken: list[str]
    exit_code: int
    elapsed: float
    error: str | None = None
    unexpected: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    @property
    def intended(self) -> str | None:
        """The requirement the fault exists for (the first it declares)."""
        return self.declared[0] if self.declared else None

    @property
    def ok(self) -> bool:
        """True when the run failed exactly what it declares (clean: nothing unexpected)."""
        return self.error is None and not self.unexpected and not self.missing


@dataclass
class KillMatrix:
    """Every run of a self-test and what it shows about the catalogs."""

    rows: list[FaultRow]
    unkilled: dict[str, list[str]]
    started: float
    ended: float

    @property
    def ok(self) -> bool:
        """True when every row is as declared and every requirement is killed by some fault."""
        return all(r.ok for r in self.rows) and not any(self.unkilled.values())

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form (the ``kill-matrix.json`` file)."""
        return {
            "ok": self.ok,
            "started": self.started,
            "ended": self.ended,
            "rows": [asdict(r) | {"intended": r.intended, "ok": r.ok} for r in self.rows],
            "unkilled": self.unkilled,
        }


def _expected_warnings(vendor: str) -> set[str]:
    return {r.id for r in load_catalog(vendor) if r.expected_warning}


def _run_one(vendor: str, fault: str | None, report_dir: Path) -> tuple[int, dict[str, Any] | None]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("APICERT_", "PYTEST_"))}
    args = [sys.executable, "-m", "apicert.cli", "run", "--vendor", vendor]
    if fault is not None:
        args += ["--fault", f"{vendor}:{fault}"]
    report_dir.mkdir(parents=True, exist_ok=True)
    args += ["--report-dir", str(report_dir)]
    try:
        proc = subprocess.run(
            args, capture_output=True, text=True, timeout=RUN_TIMEOUT, env=env, cwd=report_dir
        )
    except subprocess.TimeoutExpired:
        return -1, None
    path = report_dir / "results.json"
    if not path.exists():
        return proc.returncode, None
    return proc.returncode, json.loads(path.read_text(encoding="utf-8"))


def _row(
    vendor: str, fault: str | None, declared: Sequence[str], outcome: tuple[int, Any], took: float
) -> FaultRow:
    code, doc = outcome
    name = fault or CLEAN
    if doc is None:
        error = "timed out" if code == -1 else f"no results.json (exit {code})"
        return FaultRow(vendor, name, list(declared), [], code, took, error=error)
    statuses = {r["id"]: r["status"] for r in doc["requirements"] if r["vendor"] == vendor}
    broken = sorted(rid for rid, status in statuses.items() if status in BROKEN)
    baseline = _expected_warnings(vendor)
    row = FaultRow(vendor, name, list(declared), broken, code, took)
    expected_code = 1 if "failed" in statuses.values() else 0
    if doc.get("run", {}).get("errors"):
        row.error = "; ".join(doc["run"]["errors"])[:300]
    elif code != expected_code:
        row.error = f"exit code {code}, expected {expected_code}"
    if fault is None:
        not_passed = {rid for rid, status in statuses.items() if status != "passed"}
        row.unexpected = sorted(not_passed - baseline)
        row.missing = sorted(r for r in baseline if statuses.get(r) != "warning")
    else:
        row.unexpected = sorted(set(broken) - set(declared) - baseline)
        row.missing = sorted((set(declared) - baseline) - set(broken))
        if declared and declared[0] not in broken:
            row.missing = sorted({declared[0], *row.missing})
    return row


def kill_matrix(
    vendors: Sequence[str],
    base_dir: Path,
    *,
    jobs: int = 2,
    faults: Sequence[str] | None = None,
    progress: Callable[[FaultRow], None] | None = None,
) -> KillMatrix:
    """Run each vendor's clean sandbox and each fault (or only ``faults``, by name) through
    ``apicert run``, ``jobs`` at a time, with reports under ``base_dir``; return the matrix."""
    started = time.time()
    plan: list[tuple[str, str | None, tuple[str, ...]]] = []
    for vendor in vendors:
        plan.append((vendor, None, ()))
        for fault in fault_catalog(vendor):
            if faults is None or fault.name in faults:
                plan.append((vendor, fault.name, fault.breaks))

    def work(item: tuple[str, str | None, tuple[str, ...]]) -> FaultRow:
        vendor, fault, declared = item
        start = time.monotonic()
        outcome = _run_one(vendor, fault, base_dir / vendor / (fault or "clean"))
        row = _row(vendor, fault, declared, outcome, time.monotonic() - start)
        if progress is not None:
            progress(row)
        return row

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        rows = list(pool.map(work, plan))
    unkilled: dict[str, list[str]] = {}
    if faults is None:
        for vendor in vendors:
            runs = [r for r in rows if r.vendor == vendor and r.fault != CLEAN]
            killed = {rid for r in runs for rid in r.broken}
            killed |= _expected_warnings(vendor)  # the clean sandbox itself shows them failing
            unkilled[vendor] = sorted({r.id for r in load_catalog(vendor)} - killed)
    return KillMatrix(rows, unkilled, started, time.time())


def matrix_lines(matrix: KillMatrix, width: int = 80) -> list[str]:
    """The matrix as terminal lines of at most ``width`` columns: one line per run."""
    lines: list[str] = []
    for row in matrix.rows:
        mark = "ok  " if row.ok else "RED "
        vendor_prefix = row.vendor.upper() + "-"
        short = [b.removeprefix(vendor_prefix) for b in row.broken]
        if row.fault == CLEAN:
            what = "clean: " + (", ".join(short) + " (expected)" if short else "nothing failed")
        else:
            intended = (row.intended or "?").removeprefix(vendor_prefix)
            what = f"{row.fault} -> {', '.join(short) or 'nothing'} [for {intended}]"
        line = f"{mark}{row.vendor:<9} {what}"
        problems = []
        if row.error:
            problems.append(row.error)
        if row.unexpected:
            problems.append("unexpected " + ", ".join(row.unexpected))
        if row.missing:
            problems.append("missed " + ", ".join(row.missing))
        lines.append(line if len(line) <= width else line[: width - 1] + "~")
        for problem in problems:
            text = f"      {problem}"
            lines.append(text if len(text) <= width else text[: width - 1] + "~")
    for vendor, ids in matrix.unkilled.items():
        if ids:
            lines.append(f"RED {vendor}: no fault fails {', '.join(ids)}"[:width])
    total = len(matrix.rows)
    red = sum(not r.ok for r in matrix.rows)
    lines.append(
        f"{total} runs, {red} red, {sum(len(v) for v in matrix.unkilled.values())} unkilled "
        f"requirements, {matrix.ended - matrix.started:.0f} s"
    )
    return lines


def write_matrix(matrix: KillMatrix, report_dir: Path) -> tuple[Path, Path]:
    """Write ``kill-matrix.json`` and ``kill-matrix.html`` into ``report_dir``; return both."""
    from jinja2 import Environment, PackageLoader, select_autoescape

    report_dir.mkdir(parents=True, exist_ok=True)
    json_path = report_dir / "kill-matrix.json"
    tmp = json_path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(matrix.to_dict(), indent=1), encoding="utf-8")
    os.replace(tmp, json_path)
    env = Environment(
        loader=PackageLoader("apicert.report", "templates"), autoescape=select_autoescape()
    )
    html = env.get_template("kill-matrix.html.j2").render(matrix=matrix, clean=CLEAN)
    html_path = report_dir / "kill-matrix.html"
    html_path.write_text(html, encoding="utf-8")
    return json_path, html_path


def write_report(matrix: KillMatrix, report_dir: Path) -> Path | None:
    """Write ``results.json`` and ``conformance.html`` into ``report_dir``: the clean runs'
    results (every vendor, merged) with the matrix as their ``selftest`` block, so the report
    shows the verdict on the clean sandboxes and "Self-test: can every check fail?" together.
    Returns the page, or None when no clean run left a results.json."""
    from apicert.report.html import write_html
    from apicert.report.merge import merge_results
    from apicert.report.results import write_results

    sources = [
        report_dir / row.vendor / "clean" / "results.json"
        for row in matrix.rows
        if row.fault == CLEAN
    ]
    sources = [p for p in sources if p.exists()]
    docs = [json.loads(p.read_text(encoding="utf-8")) for p in sources]
    if not docs:
        return None
    doc = docs[0] if len(docs) == 1 else merge_results(docs, [str(p) for p in sources])
    doc["selftest"] = matrix.to_dict()
    write_results(doc, report_dir / "results.json")
    return write_html(doc, report_dir)
