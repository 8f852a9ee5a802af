"""Are verdicts stable? Run ``apicert run`` N times against the clean sandboxes and compare.

Prints one line per run (time, verdict per vendor, status counts) and then whether every run gave
the same verdict and the same status for every requirement. Then, per vendor, ``--seed-runs``
runs with the same ``--seed`` and ``--record``: their request sequences (cassettes) are compared
after the normalisation ``apicert.requestlog`` defines, and one more run with another seed shows
that the comparison sees a difference. Exit 0 when all N agree and every same-seed pair sent the
same requests (tests whose requests depend on real time, such as the rate-limit probe, are named
and left out with ``--timing-tests``), 1 otherwise.

    python benchmarks/stability.py            # 20 runs, 2 at a time, every vendor; then seeds
    python benchmarks/stability.py --runs 5 --vendor digitzs
    python benchmarks/stability.py --runs 0 --seed-runs 2   # only the same-seed comparison
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

from apicert.requestlog import Comparison, compare, load_exchanges, normalise

VENDORS = ("connectfi", "digifi", "digitzs")
# Requests these send depend on real time (an open-loop probe paced by the clock, polling until
# a key is served again); they are reported apart, not counted as seed differences.
TIMING_TESTS = ("test_ratelimit.py::",)


def _run(
    index: int, base: Path, vendors: list[str], seed: int | None = None, name: str = "run"
) -> tuple[int, float, dict[str, Any]]:
    report_dir = base / f"{name}-{index:02d}"
    args = [sys.executable, "-m", "apicert.cli", "run", "--report-dir", str(report_dir)]
    for vendor in vendors:
        args += ["--vendor", vendor]
    if seed is not None:
        args += ["--seed", str(seed), "--record"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("APICERT_", "PYTEST_"))}
    start = time.monotonic()
    proc = subprocess.run(args, capture_output=True, text=True, env=env, timeout=900)
    elapsed = time.monotonic() - start
    path = report_dir / "results.json"
    doc = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    return proc.returncode, elapsed, doc


def _sequence(report_dir: Path, vendor: str, timing: bool) -> list[tuple[str, str]]:
    exchanges, known = load_exchanges(report_dir, vendor)
    return [
        (test, text)
        for test, text in normalise(exchanges, known)
        if timing or not any(t in test for t in TIMING_TESTS)
    ]


def _same_seed(args: argparse.Namespace, base: Path) -> bool:
    """Per vendor: ``--seed-runs`` runs with one seed and one with another; print the figures."""
    vendors = args.vendor or list(VENDORS)
    plan = [(v, i, args.seed) for v in vendors for i in range(1, args.seed_runs + 1)]
    plan += [(v, 99, args.seed + 1) for v in vendors]
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        done = list(pool.map(lambda p: _run(p[1], base, [p[0]], p[2], f"seed-{p[0]}"), plan))
    ok = True
    print(f"\nsame seed ({args.seed}), {args.seed_runs} runs per vendor, requests compared:")
    for vendor in vendors:
        codes = [c for (v, _, _), (c, _, _) in zip(plan, done, strict=True) if v == vendor]
        dirs = [base / f"seed-{vendor}-{i:02d}" for i in range(1, args.seed_runs + 1)]
        try:
            first = _sequence(dirs[0], vendor, args.timing_tests)
            results: list[Comparison] = [
                compare(vendor, first, _sequence(d, vendor, args.timing_tests)) for d in dirs[1:]
            ]
            other = compare(
                vendor, first, _sequence(base / f"seed-{vendor}-99", vendor, args.timing_tests)
            )
        except (OSError, ValueError) as exc:
            print(f"  {vendor}: cannot compare ({exc}); exit codes {codes}")
            ok = False
            continue
        same = sum(r.identical for r in results)
        total = sum(r.counts[1] for r in results)
        print(
            f"  {vendor}: {args.seed_runs} runs, {len(first)} requests each (first run), "
            f"{same} of {total} identical after normalisation in the other runs"
        )
        for r in results:
            if not r.same:
                ok = False
                print(f"    DIFFERENT: {r.line()}")
                if r.first_difference:
                    print(f"      first: {r.first_difference[0][:200]}")
                    print(f"      other: {r.first_difference[1][:200]}")
        print(
            f"    seed {args.seed + 1} instead: {other.identical} of {other.counts[1]} identical "
            f"({len(other.differing_tests)} tests differ)"
        )
        if other.same:
            ok = False
            print("    the comparison saw no difference between two seeds: it cannot fail")
    if not args.timing_tests:
        print(f"  (left out, paced by real time: {', '.join(TIMING_TESTS)})")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--vendor", action="append", default=[])
    parser.add_argument("--seed", type=int, default=7, help="the seed of the same-seed runs")
    parser.add_argument(
        "--seed-runs", type=int, default=2, help="same-seed runs per vendor (0: skip)"
    )
    parser.add_argument(
        "--timing-tests", action="store_true", help="also compare the real-time-paced tests"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="apicert-stability-") as tmp:
        base = Path(tmp)
        with ThreadPoolExecutor(max_workers=args.jobs) as pool:
            outcomes = list(pool.map(lambda i: _run(i, base, args.vendor), range(1, args.runs + 1)))
        same = _verdicts(outcomes)
        seeds_ok = _same_seed(args, base) if args.seed_runs >= 2 else True
    return 0 if same and seeds_ok else 1


def _verdicts(outcomes: list[tuple[int, float, dict[str, Any]]]) -> bool:
    """Print a line per run; True when every run had the same exit code and statuses."""
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
    same = len(fingerprints) <= 1
    verdict = "all identical" if same else f"{len(fingerprints)} different outcomes"
    print(f"\n{len(outcomes)} runs: {verdict} (exit code, verdict and every requirement's status)")
    return same


if __name__ == "__main__":
    sys.exit(main())
