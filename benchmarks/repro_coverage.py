"""Can every fault's failures be replayed? Prints one row per failed requirement; exit 0 when
every row shows the failure still failing on the faulty sandbox and fixed on the clean one.

For each fault of each vendor with a reference sandbox:

1. ``apicert run --vendor V --fault V:F --record`` against the embedded sandbox (reports and the
   cassette under a temporary directory), with benchmark credentials in ``APICERT_*``;
2. two standalone sandboxes in their own processes (``apicert sandbox serve``, same
   credentials, fresh state): one with the fault, one clean;
3. ``apicert replay`` of the cassette against each; a failed requirement counts as reproduced
   when at least one of its recorded failures is "still failing" on the faulty sandbox, and as
   fixed when none of them still fails on the clean one and at least one is "fixed" there
   ("cannot tell" is a failure the replay could not re-send: concurrent, unreplayable steps).

The table gives, per (vendor, fault, requirement): the verdicts on both sandboxes (``still
failing``/``fixed``/``cannot tell``, several failures of one requirement joined by ``+``) and
whether the finding carried machine-checkable expectations (``expect``) or was judged by
re-running the vendor's observers (``observer``). Totals per vendor at the end.

Run: ``python benchmarks/repro_coverage.py [--vendor V] [--fault NAME] [--jobs 2]``
``--keep DIR`` keeps the runs under DIR. Each fault's run sends only the tests that name a
requirement the fault declares (``only_requirements.py``; ``--every-test`` for the whole suite);
the failed requirements are all those the run failed, collateral included.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from served import sandbox_command, served

from apicert.paths import suites_dir
from apicert.sandbox.runtime import available_sandboxes, fault_catalog
from apicert.vendors import VENDORS

CLI = [
    sys.executable,
    "-c",
    "import sys; from apicert.cli import entry; sys.argv[0] = 'apicert'; entry()",
]
RUN_TIMEOUT = 600
REPLAY_TIMEOUT = 300


@dataclass
class Row:
    """One failed requirement of one fault run, and what its replays showed."""

    vendor: str
    fault: str
    requirement: str
    judged_by: str
    faulty: str
    clean: str

    @staticmethod
    def shown(verdicts: str) -> str:
        """``still failing+fixed+fixed`` as ``fixed 2, still failing 1``."""
        counts = Counter(verdicts.split("+"))
        return ", ".join(f"{v} {n}" if n > 1 else v for v, n in sorted(counts.items()))

    @property
    def reproduced(self) -> bool:
        """At least one recorded failure of the requirement still fails on the faulty sandbox."""
        return "still failing" in self.faulty.split("+")

    @property
    def fixed(self) -> bool:
        """On the clean sandbox no recorded failure of the requirement still fails and at
        least one is judged fixed (the others could not be told: not replayable)."""
        verdicts = self.clean.split("+")
        return "fixed" in verdicts and "still failing" not in verdicts

    @property
    def recorded(self) -> bool:
        """The cassette lists failures of this requirement (a run's warnings may not be)."""
        return self.faulty != "not recorded"


@dataclass
class FaultResult:
    """A fault's rows, or why the fault could not be measured."""

    vendor: str
    fault: str
    rows: list[Row] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0


def credentials(vendor: str) -> dict[str, str]:
    """Benchmark credentials for ``vendor``, random and shaped as the harness makes its own."""
    return {
        c.env: (secrets.token_urlsafe(18) if c.secret else f"apicert_{secrets.token_hex(6)}")
        for c in VENDORS[vendor].credentials
    }


@contextmanager
def sandbox(vendor: str, faults: list[str], env: dict[str, str], state: Path) -> Iterator[str]:
    """Serve ``vendor``'s sandbox (with ``faults``) in a child process; yield its base URL."""
    with served(sandbox_command(vendor, state=state, faults=faults), env) as (url, _pid):
        yield url


def replay(cassette: Path, vendor: str, url: str, out: Path, env: dict[str, str]) -> dict[str, Any]:
    """``apicert replay`` of ``cassette`` to ``url``; the replay.json it wrote."""
    command = [*CLI, "replay", str(cassette), "--target", f"{vendor}={url}", "--report-dir"]
    done = subprocess.run(
        [*command, str(out)], env=env, capture_output=True, text=True, timeout=REPLAY_TIMEOUT
    )
    path = out / "replay.json"
    if not path.exists():
        raise RuntimeError(
            f"replay wrote no replay.json (exit {done.returncode}): "
            f"{(done.stderr or done.stdout).strip()[-300:]}"
        )
    return json.loads(path.read_text(encoding="utf-8"))


def verdicts(report: dict[str, Any]) -> dict[str, list[str]]:
    """Requirement -> the verdict of each of its recorded failures."""
    found: dict[str, list[str]] = {}
    for failure in report.get("failures") or []:
        found.setdefault(str(failure["requirement"]), []).append(str(failure["verdict"]))
    return found


def measure(vendor: str, fault: str, base: Path, *, every_test: bool = False) -> FaultResult:
    """Run one fault with --record (only the tests naming a requirement the fault declares,
    unless ``every_test``), replay it to a faulty and a clean sandbox."""
    started = time.monotonic()
    result = FaultResult(vendor, fault)
    where = base / vendor / fault
    where.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("APICERT_", "PYTEST_"))}
    env.update(credentials(vendor))
    command = [*CLI, "run", "--vendor", vendor, "--fault", f"{vendor}:{fault}", "--record"]
    command += ["--report-dir", str(where / "run")]
    if not every_test:
        declared = next(f.breaks for f in fault_catalog(vendor) if f.name == fault)
        env["REPRO_BENCH_ONLY"] = ",".join(declared)
        env["PYTHONPATH"] = os.pathsep.join(
            [str(Path(__file__).resolve().parent), env.get("PYTHONPATH", "")]
        ).rstrip(os.pathsep)
        command += ["--", "-p", "only_requirements"]
    try:
        subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT, cwd=where
        )
        doc = json.loads((where / "run" / "results.json").read_text(encoding="utf-8"))
        if not every_test and not any(
            r["status"] in ("failed", "warning") for r in doc["requirements"]
        ):
            # The fault shows only in tests about something else (an observer caught it there):
            # measure it with the whole suite.
            return measure(vendor, fault, base, every_test=True)
        cassette = where / "run" / "cassettes" / f"{vendor}.json"
        if not cassette.exists():
            raise RuntimeError("the run wrote no cassette")
        recorded = json.loads(cassette.read_text(encoding="utf-8"))
        judged_by: dict[str, set[str]] = {}
        for failure in recorded.get("failures") or []:
            kind = "expect" if failure.get("expect") else str(failure.get("judge") or "none")
            judged_by.setdefault(str(failure["requirement"]), set()).add(kind)
        with sandbox(vendor, [fault], env, where / "faulty.sqlite") as url:
            on_faulty = verdicts(replay(cassette, vendor, url, where / "faulty", env))
        with sandbox(vendor, [], env, where / "clean.sqlite") as url:
            on_clean = verdicts(replay(cassette, vendor, url, where / "clean", env))
        broken = [
            r["id"]
            for r in doc["requirements"]
            if r["vendor"] == vendor and r["status"] in ("failed", "warning")
        ]
        for requirement in broken:
            result.rows.append(
                Row(
                    vendor,
                    fault,
                    requirement,
                    "+".join(sorted(judged_by.get(requirement, {"not recorded"}))),
                    "+".join(on_faulty.get(requirement, ["not recorded"])),
                    "+".join(on_clean.get(requirement, ["not recorded"])),
                )
            )
    except (OSError, RuntimeError, ValueError, KeyError, subprocess.TimeoutExpired) as exc:
        result.error = f"{type(exc).__name__}: {exc}"[:300]
    result.seconds = time.monotonic() - started
    return result


def table(results: list[FaultResult]) -> list[str]:
    """The rows and per-vendor totals as text lines."""
    lines = [
        f"{'vendor':<9} {'fault':<34} {'requirement':<22} {'judged':<15} "
        f"{'faulty: still failing?':<24} {'clean: fixed?':<24}"
    ]
    for res in results:
        if res.error:
            lines.append(f"{res.vendor:<9} {res.fault:<34} ERROR {res.error}")
        elif not res.rows:
            lines.append(f"{res.vendor:<9} {res.fault:<34} (the run failed no requirement)")
        for row in res.rows:
            lines.append(
                f"{row.vendor:<9} {row.fault:<34} {row.requirement:<22} {row.judged_by:<15} "
                f"{('yes ' if row.reproduced else 'NO  ') + Row.shown(row.faulty):<24} "
                f"{('yes ' if row.fixed else 'NO  ') + Row.shown(row.clean)}"
            )
    lines.append("")
    for vendor in sorted({r.vendor for r in results}):
        every = [row for r in results if r.vendor == vendor for row in r.rows]
        rows = [row for row in every if row.recorded]
        errors = sum(1 for r in results if r.vendor == vendor and r.error)
        faults = sum(1 for r in results if r.vendor == vendor)
        lines.append(
            f"{vendor}: {faults} faults ({errors} not measured), {len(every)} failed "
            f"requirements, {len(rows)} with failures in the cassette; of those: still failing "
            f"on the faulty sandbox {sum(r.reproduced for r in rows)}/{len(rows)}, fixed on "
            f"the clean one {sum(r.fixed for r in rows)}/{len(rows)}, both "
            f"{sum(r.reproduced and r.fixed for r in rows)}/{len(rows)}; with expectations "
            f"{sum('expect' in r.judged_by for r in rows)}/{len(rows)}"
        )
    return lines


def reload(path: Path) -> list[FaultResult]:
    """The results a ``--json`` file holds, one per fault."""
    data = json.loads(path.read_text(encoding="utf-8"))
    found: dict[tuple[str, str], FaultResult] = {}
    names = ("vendor", "fault", "requirement", "judged_by", "faulty", "clean")
    for row in data["rows"]:
        key = (row["vendor"], row["fault"])
        found.setdefault(key, FaultResult(*key)).rows.append(Row(*(row[n] for n in names)))
    for key, error in data.get("errors", {}).items():
        vendor, fault = key.split(":", 1)
        found.setdefault((vendor, fault), FaultResult(vendor, fault)).error = error
    for key in data.get("faults") or sorted(
        {(v, f.name) for v, _ in found for f in fault_catalog(v)}
    ):
        vendor, fault = key
        found.setdefault((vendor, fault), FaultResult(vendor, fault))
    return list(found.values())


def main(argv: list[str] | None = None) -> int:
    """Measure, print the table, exit 0 when every row is reproduced and fixed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vendor", action="append", default=[])
    parser.add_argument("--fault", action="append", default=[])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--keep", type=Path, default=None)
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    parser.add_argument(
        "--every-test",
        action="store_true",
        help="run the whole suite per fault (default: the tests naming a declared requirement)",
    )
    parser.add_argument(
        "--table-from", type=Path, action="append", default=[], help="reprint --json files"
    )
    args = parser.parse_args(argv)
    if args.table_from:
        merged: dict[tuple[str, str], FaultResult] = {}
        for path in args.table_from:  # a later file's measurement of a fault replaces an earlier
            merged.update({(r.vendor, r.fault): r for r in reload(path)})
        for line in table(sorted(merged.values(), key=lambda r: (r.vendor, r.fault))):
            print(line)
        return 0
    vendors = args.vendor or [v for v in available_sandboxes() if (suites_dir() / v).is_dir()]
    plan = [
        (v, f.name)
        for v in vendors
        for f in fault_catalog(v)
        if not args.fault or f.name in args.fault
    ]
    base = args.keep or Path(tempfile.mkdtemp(prefix="apicert-repro-coverage-"))
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        results = list(
            pool.map(lambda i: measure(i[0], i[1], base, every_test=args.every_test), plan)
        )
    for line in table(results):
        print(line)
    if args.json is not None:
        rows = [
            row.__dict__ | {"reproduced": row.reproduced, "fixed": row.fixed}
            for r in results
            for row in r.rows
        ]
        errors = {f"{r.vendor}:{r.fault}": r.error for r in results if r.error}
        faults = [[r.vendor, r.fault] for r in results]
        args.json.write_text(
            json.dumps({"rows": rows, "errors": errors, "faults": faults}, indent=1) + "\n"
        )
    ok = all(not r.error and all(row.reproduced and row.fixed for row in r.rows) for r in results)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
