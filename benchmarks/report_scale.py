"""How conformance.html scales, next to pytest-html for the same results.

For each size (default 1,000, 10,000 and 50,000 requirement results) it builds a synthetic
results document (8 % failed and 4 % warning with findings and two evidence exchanges each, the
rest passed, skipped or review), then measures:

* apicert: the time to write results.json and conformance.html (+ evidence chunks), the page's
  size and the evidence folder's size, and the time until headless Chromium has rendered it
  (navigation to load event plus one painted frame);
* pytest-html: a generated pytest module with one test per result (failing, skipping or passing
  the same way, the same evidence attached as an extra), run with ``--html
  --self-contained-html``; its session-end write time, size and render time the same way.

Prints one table. Usage: ``python benchmarks/report_scale.py [--sizes 1000,10000,50000]
[--budget SECONDS]``; a size whose pytest-html side would blow the budget is marked ``-``.
Needs ``chromium`` on PATH and the dev extras (``websocket-client``).
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import textwrap
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.browser import Browser  # noqa: E402

from apicert.report.html import write_html  # noqa: E402
from apicert.report.results import vendor_summary, write_results  # noqa: E402

VENDORS = ("connectfi", "digitzs", "digifi")
TOPICS = ("auth", "envelope", "prerequisites", "references", "validation", "contract", "limits")


def _exchange(eid: str, i: int) -> dict[str, Any]:
    body = {"customer": {"reference": f"cust_{i:08d}", "type": "individual", "note": "x" * 200}}
    answer = {"code": "referenceExists", "message": "reference already used", "requestId": eid}
    return {
        "id": eid,
        "test": f"connectfi/test_synthetic.py::test_requirement[{i}]",
        "request": {
            "method": "POST",
            "url": "http://127.0.0.1:9000/customer/init",
            "headers": {"x-connectfi-token": "[REDACTED]", "Content-Type": "application/json"},
            "body": json.dumps(body),
        },
        "response": {
            "status": 400,
            "headers": {"content-type": "application/json", "server": "uvicorn"},
            "body": json.dumps({**answer, "context": {"entityId": f"cstap_{i:024d}"}}),
            "truncated": False,
        },
        "error": None,
        "elapsed": 0.0042,
        "started_at": 1_700_000_000.0 + i,
    }


def synthetic_results(n: int, seed: int = 5) -> dict[str, Any]:
    """A results document with ``n`` requirements (deterministic for ``seed``)."""
    rng = random.Random(seed)
    requirements, exchanges = [], {}
    counts: dict[str, Counter[str]] = {v: Counter() for v in VENDORS}
    for i in range(n):
        vendor, topic = VENDORS[i % 3], TOPICS[(i // 3) % len(TOPICS)]
        roll = rng.random()
        status = (
            "failed"
            if roll < 0.08
            else "warning"
            if roll < 0.12
            else "skipped"
            if roll < 0.17
            else "review"
            if roll < 0.19
            else "passed"
        )
        rid = f"{vendor.upper()}-{topic[:4].upper()}-{i:05d}"
        findings, evidence = [], []
        if status in ("failed", "warning", "review"):
            evidence = [f"ex-{2 * i:06d}", f"ex-{2 * i + 1:06d}"]
            for eid in evidence:
                exchanges[eid] = _exchange(eid, i)
            findings = [
                {
                    "requirement": rid,
                    "status": "review" if status == "review" else "failed",
                    "message": f"POST /customer/init -> 400: duplicate reference {i} not refused",
                    "evidence": evidence,
                }
            ]
        reason = (
            findings[0]["message"] if findings else ("not exercised" if status == "skipped" else "")
        )
        nodeid = f"{vendor}/test_{topic}.py::test_requirement_{i}"
        requirements.append(
            {
                "id": rid,
                "vendor": vendor,
                "topic": topic,
                "level": "SHOULD" if status == "warning" else "MUST",
                "title": f"Requirement {i}: the {topic} behaviour number {i} holds as documented",
                "source": f"vendor document, section {i % 40}",
                "quote": "",
                "time_dependent": False,
                "expected_warning": False,
                "status": status,
                "reason": reason,
                "findings": findings,
                "findings_total": len(findings),
                "tests": [{"nodeid": nodeid, "outcome": "passed", "reason": "", "duration": 0.01}],
                "evidence": evidence,
                "reproduce": {
                    "pytest": [nodeid],
                    "command": f"apicert run --vendor {vendor} -k 'test_requirement_{i}'",
                    "curl": [],
                    "env": [],
                },
            }
        )
        counts[vendor][status] += 1
    return {
        "schema_version": "1.1",
        "run": {"errors": [], "targets": {}, "faults": {}, "started": "2026-01-01T00:00:00Z"},
        "summary": {v: vendor_summary(c) for v, c in counts.items()},
        "requirements": requirements,
        "exchanges": exchanges,
        "drift": {},
    }


def _evidence_text(req: dict[str, Any], exchanges: dict[str, Any]) -> str:
    """The same evidence text apicert attaches to pytest-html (plugin._attach_extras)."""
    lines = [f"requirements: {req['id']}"]
    for f in req["findings"]:
        lines.append(f"[{f['status']}] {f['requirement']}: {f['message']}")
        for eid in f["evidence"][:2]:
            ex = exchanges[eid]
            rq, rs = ex["request"], ex["response"]
            lines.append(
                f"    {rq['method']} {rq['url']} -> {rs['status']} ({ex['elapsed']:.3f} s)"
            )
            lines.append(f"    {(rs['body'] or '')[:500]}")
    return "\n".join(lines)


CONFTEST = """
import json, os, time
import pytest

_T = {}

@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session):
    _T["start"] = time.perf_counter()

def pytest_unconfigure(config):
    if "start" in _T:
        with open(os.environ["BENCH_TIMING"], "w") as fh:
            fh.write(str(time.perf_counter() - _T["start"]))
"""

TEST_MODULE = """
import json, os
import pytest
from pytest_html import extras as html_extras

CASES = json.load(open(os.environ["BENCH_CASES"]))

@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_requirement(case, extras):
    if case["evidence"]:
        extras.append(html_extras.text(case["evidence"], name="apicert evidence"))
    if case["status"] == "skipped":
        pytest.skip(case["reason"])
    if case["status"] in ("failed", "warning"):
        raise AssertionError(case["reason"])
"""


def pytest_html_report(doc: dict[str, Any], work: Path, timeout: float) -> tuple[float, Path]:
    """Run the equivalent pytest session; return (session-end write time, report path)."""
    cases = [
        {
            "id": r["id"],
            "status": r["status"],
            "reason": r["reason"],
            "evidence": _evidence_text(r, doc["exchanges"]) if r["findings"] else "",
        }
        for r in doc["requirements"]
    ]
    (work / "cases.json").write_text(json.dumps(cases))
    (work / "conftest.py").write_text(textwrap.dedent(CONFTEST))
    (work / "test_synthetic.py").write_text(textwrap.dedent(TEST_MODULE))
    report = work / "pytest-html.html"
    env = {
        "BENCH_CASES": str(work / "cases.json"),
        "BENCH_TIMING": str(work / "timing.txt"),
        "PATH": "/usr/bin:/bin",
    }
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:apicert",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:hypothesispytest",
            "--rootdir",
            str(work),
            f"--html={report}",
            "--self-contained-html",
            str(work / "test_synthetic.py"),
        ],
        cwd=work,
        env=env,
        capture_output=True,
        timeout=timeout,
        check=False,
    )
    return float((work / "timing.txt").read_text()), report


def _size(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def _render(browser: Browser, page: Path) -> float:
    browser.open("about:blank")
    return browser.open(page.as_uri(), "document.readyState === 'complete'")


def main() -> int:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,50000")
    parser.add_argument("--budget", type=float, default=170.0, help="seconds for the whole run")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    start = time.monotonic()
    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    last: tuple[int, float] | None = None
    with (
        tempfile.TemporaryDirectory(prefix="apicert-bench-") as tmp,
        Browser(timeout=120) as browser,
    ):
        warm = Path(tmp) / "warm-up.html"  # the first file:// page also starts a renderer
        warm.write_text("<!DOCTYPE html><p>warm-up</p>")
        _render(browser, warm)
        for n in sizes:
            work = Path(tmp) / str(n)
            (work / "apicert").mkdir(parents=True)
            doc = synthetic_results(n)
            t0 = time.perf_counter()
            write_results(doc, work / "apicert" / "results.json")
            t1 = time.perf_counter()
            page = write_html(doc, work / "apicert")
            t2 = time.perf_counter()
            row: dict[str, Any] = {
                "n": n,
                "json_write": t1 - t0,
                "html_write": t2 - t1,
                "html_size": _size(page),
                "evidence_size": _size(work / "apicert" / "evidence"),
                "html_render": _render(browser, page),
            }
            left = args.budget - (time.monotonic() - start)
            # pytest-html grows faster than linearly (from 1,000 to 10,000 results its write
            # took ~100x longer here): above 10,000 (the goal's size) predict from the last
            # size and leave it out rather than blow the budget.
            predicted = last[1] * (n / last[0]) ** 2 if last and n > 10_000 else 0.0
            if left > 20 and predicted < left:
                began = time.monotonic()
                try:
                    ph_write, ph_page = pytest_html_report(doc, work, timeout=left)
                    row.update(
                        ph_write=ph_write,
                        ph_size=_size(ph_page),
                        ph_render=_render(browser, ph_page),
                    )
                    last = (n, time.monotonic() - began)
                except (subprocess.TimeoutExpired, OSError, ValueError) as exc:
                    notes.append(f"pytest-html at {n:,}: {type(exc).__name__}")
            else:
                notes.append(
                    f"pytest-html at {n:,} left out: predicted {predicted:.0f} s "
                    f"(from {last[1]:.0f} s at {last[0]:,}), {left:.0f} s of budget left"
                    if last
                    else f"pytest-html at {n:,} left out: {left:.0f} s of budget left"
                )
            rows.append(row)
    print(_table(rows))
    for note in notes:
        print(f"- {note}")
    print(f"(total {time.monotonic() - start:.0f} s)")
    return 0


def _mb(b: float) -> str:
    return f"{b / 1e6:.2f} MB"


def _table(rows: list[dict[str, Any]]) -> str:
    head = (
        "| results | apicert write (json + html) | conformance.html | evidence/ | apicert render "
        "| pytest-html write | pytest-html size | pytest-html render "
        "| size ratio | render speed-up |"
    )
    out = [head, "|" + "---|" * 10]
    for r in rows:
        ph = "ph_size" in r
        ph_write = f"{r['ph_write']:.2f} s" if ph else "-"
        ph_size = _mb(r["ph_size"]) if ph else "-"
        ph_render = f"{r['ph_render']:.2f} s" if ph else "-"
        ratio = f"1/{r['ph_size'] / r['html_size']:.1f}" if ph else "-"
        speed = f"{r['ph_render'] / r['html_render']:.1f}x" if ph else "-"
        out.append(
            f"| {r['n']:,} | {r['json_write']:.2f} s + {r['html_write']:.2f} s "
            f"| {_mb(r['html_size'])} | {_mb(r['evidence_size'])} | {r['html_render']:.2f} s "
            f"| {ph_write} | {ph_size} | {ph_render} | {ratio} | {speed} |"
        )
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
