"""Aggregating per-test records into per-requirement verdicts, and writing ``results.json``.

Status rules (per requirement, from every test that exercised it):

* a failed finding on a MUST requirement, or an unexpected error in a test marked with it: failed;
* a failed finding on a SHOULD requirement: warning;
* a review finding and nothing failed: review;
* at least one marked test passed: passed;
* otherwise skipped, with the skip reasons (or "not exercised in this run").

A requirement is never passed without a test that ran and exercised it.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from apicert import __version__
from apicert.cassette import attach_replay, finding_dicts
from apicert.catalog import load_catalog
from apicert.known_issues import counts_as_failure
from apicert.model import Finding, Level, Requirement, Status
from apicert.paths import schemas_dir
from apicert.report.drift import compute_drift, load_documents
from apicert.report.repro import reproduce

if TYPE_CHECKING:
    from apicert.run import Run, TestRecord

__all__ = ["SCHEMA_VERSION", "build_results", "exit_code", "vendor_summary", "write_results"]

SCHEMA_VERSION = "1.2"  # docs/results-schema.md; schemas/results.schema.json
MAX_FINDINGS_PER_REQUIREMENT = 50
MAX_NOTES_PER_REQUIREMENT = 5


def _git_revision() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            cwd=Path(__file__).resolve().parent,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def _status(
    requirement: Requirement, findings: list[Finding], outcomes: list[tuple[str, str]]
) -> tuple[Status, str]:
    failed = [f for f in findings if f.status is Status.FAILED]
    if failed:
        if requirement.level is Level.SHOULD:
            return Status.WARNING, failed[0].message
        return Status.FAILED, failed[0].message
    if any(f.status is Status.REVIEW for f in findings):
        return Status.REVIEW, next(f.message for f in findings if f.status is Status.REVIEW)
    if any(outcome == "passed" for outcome, _ in outcomes):
        return Status.PASSED, ""
    reasons = sorted({reason for outcome, reason in outcomes if outcome == "skipped" and reason})
    if reasons:
        return Status.SKIPPED, "; ".join(reasons)
    return Status.SKIPPED, "not exercised in this run"


def _outcome_for(record: TestRecord, rid: str) -> tuple[str, str]:
    """How a test's outcome counts for one of its requirements.

    An unexpected error counts as a failure of every requirement the test names; a test stopped
    by another requirement's failure did not exercise this one (blocked, reported as skipped);
    otherwise a test that ran exercised it, and its own failures arrive as findings.
    """
    if record.error:
        return "error", record.error
    if record.outcome == "skipped":
        return "skipped", record.reason
    own = [f for f in record.failed_findings() if f.requirement == rid]
    if record.stopped and not own:
        return "skipped", f"blocked: {record.reason}"
    if record.outcome in ("passed", "failed"):
        return "passed", ""
    return record.outcome, record.reason


def build_results(
    run: Run, vendors: Iterable[str], *, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Return the ``results.json`` document for ``run`` over the selected ``vendors``."""
    vendors = list(vendors)
    requirements_out: list[dict[str, Any]] = []
    evidence_ids: set[str] = set()
    findings_by_req: dict[str, list[Finding]] = {}
    outcomes_by_req: dict[str, list[tuple[str, str]]] = {}
    tests_by_req: dict[str, list[dict[str, Any]]] = {}
    all_findings = [
        f for record in run.records.values() for f in record.findings
    ] + run.orphan_findings
    for finding in all_findings:
        findings_by_req.setdefault(finding.requirement, []).append(finding)
    for record in run.records.values():
        for rid in record.requirements:
            outcome, reason = _outcome_for(record, rid)
            if outcome == "error":
                findings_by_req.setdefault(rid, []).append(
                    Finding(
                        rid, Status.FAILED, f"test error: {record.error}", record.exchanges[-1:]
                    )
                )
            outcomes_by_req.setdefault(rid, []).append((outcome, reason))
            tests_by_req.setdefault(rid, []).append(
                {
                    "nodeid": record.nodeid,
                    "outcome": record.outcome,
                    "reason": run.redactor.text(record.reason or record.error) or "",
                    "duration": round(record.duration, 3),
                }
            )
    counts: dict[str, Counter[str]] = {}
    seed = (extra or {}).get("seed", (extra or {}).get("hypothesis_seed"))
    for vendor in vendors:
        catalog = load_catalog(vendor)
        counts[vendor] = Counter()
        for requirement in catalog:
            findings = findings_by_req.get(requirement.id, [])
            outcomes = outcomes_by_req.get(requirement.id, [])
            status, reason = _status(requirement, findings, outcomes)
            counts[vendor][str(status)] += 1
            kept = [f for f in findings if f.status is not Status.PASSED][
                :MAX_FINDINGS_PER_REQUIREMENT
            ]
            linked = list(dict.fromkeys(eid for f in kept for eid in f.evidence))
            # A passed finding with a message is a measurement worth reading (the enforced rate
            # limit next to the documented one): kept as a note, never as a failure.
            notes = list(
                dict.fromkeys(
                    run.redactor.text(f.message) or ""
                    for f in findings
                    if f.status is Status.PASSED and f.message
                )
            )[:MAX_NOTES_PER_REQUIREMENT]
            evidence_ids.update(linked)
            entry = requirement.to_dict()
            entry.update(
                {
                    "status": str(status),
                    "reason": run.redactor.text(reason) or "",
                    # Each with an id (`apicert repro ID`) and the steps that replay it.
                    "findings": finding_dicts(run, requirement.id, kept),
                    "findings_total": len(findings),
                    "notes": notes,
                    "tests": tests_by_req.get(requirement.id, []),
                    "evidence": linked,
                    "reproduce": _reproduce(
                        run, vendor, requirement.id, tests_by_req, linked, seed
                    ),
                }
            )
            requirements_out.append(entry)
    unknown = sorted(set(findings_by_req) - {r["id"] for r in requirements_out})
    exchanges = {
        eid: found for eid in sorted(evidence_ids) if (found := run.recorder.get(eid)) is not None
    }
    summary = {vendor: vendor_summary(c) for vendor, c in counts.items()}
    doc: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "run": {
            "apicert_version": __version__,
            "git_revision": _git_revision(),
            "started": _iso(run.started),
            "ended": _iso(run.ended or time.time()),
            "duration": round((run.ended or time.time()) - run.started, 3),
            "targets": {
                name: run.targets[name].describe() for name in vendors if name in run.targets
            },
            "vendor_api_versions": {name: run.vendor_version(name) for name in vendors},
            "faults": {k: list(v) for k, v in run.faults.items() if v},
            "exchanges_recorded": len(run.recorder),
            "errors": [run.redactor.text(e) for e in run.errors],
            "findings_for_unknown_requirements": unknown,
        },
        "summary": summary,
        "requirements": requirements_out,
        "exchanges": exchanges,
        "drift": _drift(run, vendors),
    }
    if extra:
        doc["run"].update(extra)
    attach_replay(run, doc)
    return doc


def _reproduce(
    run: Run,
    vendor: str,
    rid: str,
    tests_by_req: dict[str, list[dict[str, Any]]],
    linked: list[str],
    seed: object,
) -> dict[str, Any]:
    target = run.targets.get(vendor)
    exchanges = [ex for eid in linked[:3] if (ex := run.recorder.get(eid)) is not None]
    return reproduce(
        vendor,
        list(dict.fromkeys(t["nodeid"] for t in tests_by_req.get(rid, []))),
        exchanges,
        base_url=target.base_url if target else None,
        embedded=bool(target and target.embedded),
        faults=list(run.faults.get(vendor, ())),
        seed=seed,
    )


def _drift(run: Run, vendors: list[str]) -> dict[str, Any]:
    """Schema drift per vendor over every recorded exchange (see :mod:`apicert.report.drift`)."""
    documents = {vendor: load_documents(schemas_dir() / vendor) for vendor in vendors}
    base_urls = {name: target.base_url for name, target in run.targets.items() if target.base_url}
    # A run's requests name its API version (--api-version) in a header, which drift reads; a
    # request without one (DIGIFI-VER-01 sends some on purpose) gets the vendor's default
    # version, the oldest document, whatever version the run tests.
    versions: dict[str, str | None] = {vendor: None for vendor in vendors}
    return compute_drift(run.recorder.iter(), base_urls, documents, versions)  # streamed


def vendor_summary(counts: Counter[str]) -> dict[str, Any]:
    """Counts per status and the verdict: "not conformant" when a MUST failed, "incomplete" when
    nothing failed but some requirement was not verified (skipped or needs review), else
    "conformant". ``conformant`` is True only for the last."""
    total = sum(counts.values())
    if counts.get("failed", 0):
        verdict = "not conformant"
    elif counts.get("skipped", 0) or counts.get("review", 0) or total == 0:
        verdict = "incomplete"
    else:
        verdict = "conformant"
    return {
        "requirements": total,
        **{str(s): counts.get(str(s), 0) for s in Status},
        "verdict": verdict,
        "conformant": verdict == "conformant",
    }


def _iso(timestamp: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(timestamp))


def _dumps(doc: dict[str, Any]) -> str:
    """JSON with one line per top-level key, requirement and exchange: readable and greppable,
    and written by the C encoder (``indent`` would switch ``json`` to its slow pure-Python one)."""

    def compact(value: Any) -> str:
        return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))

    parts = []
    for key, value in doc.items():
        if isinstance(value, list) and value:
            inner = ",\n  ".join(compact(item) for item in value)
            parts.append(f" {compact(key)}: [\n  {inner}\n ]")
        elif isinstance(value, dict) and value and key in ("exchanges", "requirements", "drift"):
            inner = ",\n  ".join(f"{compact(k)}: {compact(v)}" for k, v in value.items())
            parts.append(f" {compact(key)}: {{\n  {inner}\n }}")
        else:
            parts.append(f" {compact(key)}: {compact(value)}")
    return "{\n" + ",\n".join(parts) + "\n}\n"


def write_results(doc: dict[str, Any], path: Path) -> Path:
    """Write ``doc`` as JSON to ``path`` atomically (a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(_dumps(doc), encoding="utf-8")
    os.replace(tmp, path)
    return path


def exit_code(doc: dict[str, Any]) -> int:
    """0 when no requirement failed (known issues aside) and the run had no error; 2 on a run
    error; 1 otherwise (a failure, or a known-issues entry whose requirement now passes)."""
    if doc["run"].get("errors"):
        return 2
    # A known issue (known_issues.yaml) does not fail the run; a fixed-upstream entry does.
    if any(counts_as_failure(r) for r in doc["requirements"]):
        return 1
    return 0
