"""Are verdicts stable? Run ``apicert run`` N times against the clean sandboxes and compare.

Prints one line per run (time, verdict per vendor, status counts) and then whether every run gave
the same verdict and the same status for every requirement. Exit 0 when all N agree, 1 otherwise.

    python benchmarks/stability.py            # 20 runs, 2 at a time, every vendor
    python benchmarks/stability.py --runs 5 --vendor digitzs
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any


def _run(index: int, base: Path, vendors: list[str]) -> tuple[int, float, dict[str, Any]]:
    report_dir = base / f"run-{index:02d}"
    args = [sys.executable, "-m", "apicert.cli", "run", "--report-dir", str(report_dir)]
    for vendor in vendors:
        args += ["--vendor", vendor]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("APICERT_", "PYTEST_"))}
    start = time.monotonic()
    proc = subprocess.run(args, capture_output=True, text=True, env=env, timeout=900)
    elapsed = time.monotonic() - start
    path = report_dir / "results.json"
    doc = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    return proc.returncode, elapsed, doc


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--vendor", action="append", default=[])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="apicert-stability-") as tmp:
        base = Path(tmp)
        with ThreadPoolExecutor(max_workers=args.jobs) as pool:
            outcomes = list(pool.map(lambda i: _run(i, base, args.vendor), range(1, args.runs + 1)))
    print(f"{'run':>3}  {'exit':>4}  {'seconds':>7}  verdicts and status counts")
    fingerprints: Counter[str] = Counter()
    for index, (code, elapsed, doc) in enumerate(outcomes, start=1):
        summary = doc.get("summary", {})
        verdicts = ", ".join(f"{v}: {s['verdict']}" for v, s in sorted(summary.items()))
        counts = Counter(r["status"] for r in doc.get("requirements", []))
        statuses = {r["id"]: r["status"] for r in doc.get("requirements", [])}
        fingerprints[json.dumps([code, statuses], sort_keys=True)] += 1
        counted = " ".join(f"{k}={n}" for k, n in sorted(counts.items()))
        print(f"{index:>3}  {code:>4}  {elapsed:>7.1f}  {verdicts} ({counted})")
    same = len(fingerprints) == 1
    verdict = "all identical" if same else f"{len(fingerprints)} different outcomes"
    print(f"\n{args.runs} runs: {verdict} (exit code, verdict and every requirement's status)")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
