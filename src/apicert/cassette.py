"""Finding ids, replayable sequences in ``results.json``, and cassettes (``apicert run --record``).

* :func:`finding_dicts` gives every kept finding of a requirement a stable id
  (``<REQUIREMENT>/<n>``) and, when its exchanges were recorded as steps, the steps that replay it;
* :func:`attach_replay` adds the steps those findings name (each once) to the results document;
* :func:`write_cassettes` writes ``<report-dir>/cassettes/<vendor>.json``: every step of the
  vendor in run order, its redacted exchanges, and the run's failures with their expectations.

Everything written here is redacted (templates hold placeholders, see :mod:`apicert.steps`).
Format: docs/cassettes.md.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from apicert import __version__
from apicert.model import Finding

if TYPE_CHECKING:
    from apicert.run import Run

__all__ = [
    "CASSETTE_FORMAT",
    "attach_replay",
    "failure_facts",
    "finding_dicts",
    "merge_replay",
    "write_cassettes",
]

CASSETTE_FORMAT = 1


def finding_dicts(run: Run, requirement: str, kept: list[Finding]) -> list[dict[str, Any]]:
    """The JSON form of ``kept`` findings of ``requirement``, each with ``id`` and, when it can
    be replayed, ``replay`` (``steps``, ``omitted``, ``judge``: expect, observer or none)."""
    out: list[dict[str, Any]] = []
    # A failed @given test's record names the first exchange of Hypothesis's shrunk example.
    starts = {
        id(f): start
        for record in run.records.values()
        if (start := getattr(record, "example_from", None))
        for f in record.findings
    }
    for number, finding in enumerate(kept, 1):
        data = dict(finding.to_dict(), message=run.redactor.text(finding.message))
        data["id"] = f"{requirement}/{number}{run.steps.suffix('-')}"
        steps, omitted = run.steps.sequence(finding.evidence, starts.get(id(finding)))
        if steps:
            if finding.expect:
                judge = "expect"
            elif id(finding) in run.steps.observer_findings:
                judge = "observer"
            else:
                judge = "none"
            data["replay"] = {"steps": steps, "omitted": omitted, "judge": judge}
            timing = _timing(run, requirement, steps)
            if timing:
                data["replay"]["timing"] = timing
        out.append(data)
    return out


def _timing(run: Run, requirement: str, steps: list[str]) -> str | None:
    """Why a sequential replay cannot show this finding, or None: a rate limit depends on the
    sending rate, and overlapping requests on concurrency."""
    from apicert.catalog import requirement as lookup

    try:
        topic = lookup(requirement).topic
    except KeyError:
        topic = ""
    if topic == "rate-limit":
        return "it depends on the sending rate (a rate limit)"
    if run.steps.concurrent(steps):
        return "its requests were sent concurrently"
    return None


def attach_replay(run: Run, doc: dict[str, Any]) -> None:
    """Add ``doc["replay"]``: every step a finding of ``doc`` names, once (nothing when none)."""
    ids = {
        step
        for req in doc.get("requirements", [])
        for finding in req.get("findings", [])
        for step in (finding.get("replay") or {}).get("steps", [])
    }
    if ids:
        doc["replay"] = run.steps.section(ids)


def failure_facts(req: dict[str, Any], finding: dict[str, Any]) -> dict[str, Any]:
    """What a cassette and a repro file say about one failed finding: its id, the requirement
    (level, title, the vendor's clause and its source), the message and the expectations."""
    return {
        "id": finding.get("id"),
        "requirement": req["id"],
        "level": req.get("level"),
        "title": req.get("title"),
        "quote": req.get("quote", ""),
        "source": req.get("source", ""),
        "message": finding.get("message", ""),
        "expect": finding.get("expect", []),
    }


def _failures(doc: dict[str, Any], vendor: str) -> list[dict[str, Any]]:
    failures = []
    for req in doc.get("requirements", []):
        if req.get("vendor") != vendor or req.get("status") != "failed":
            continue
        for finding in req.get("findings", []):
            if finding.get("status") != "failed":
                continue
            replay = finding.get("replay") or {}
            failures.append(
                {
                    **failure_facts(req, finding),
                    "evidence": finding.get("evidence", []),
                    "judge": replay.get("judge", "none"),
                    "timing": replay.get("timing"),
                    "steps": replay.get("steps", []),
                }
            )
    return failures


def write_cassettes(
    run: Run, doc: dict[str, Any], directory: Path, worker: str | None = None
) -> list[Path]:
    """Write one cassette per vendor of ``doc`` that sent anything (``<vendor>.json``, or
    ``<vendor>-<worker>.json`` from a parallel run's worker); return the paths."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for vendor in doc.get("summary", {}):
        order = run.steps.vendor_steps(vendor)
        if not order:
            continue
        section = run.steps.section(order)
        target = run.targets.get(vendor)
        cassette = {
            "cassette": CASSETTE_FORMAT,
            "vendor": vendor,
            "apicert_version": __version__,
            "recorded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "base_url": target.base_url if target else None,
            "faults": list(run.faults.get(vendor, ())),
            "seed": doc.get("run", {}).get("seed", doc.get("run", {}).get("hypothesis_seed")),
            "order": order,
            "steps": section["steps"],
            "vars": section["vars"],
            "failures": _failures(doc, vendor),
        }
        path = directory / (f"{vendor}-{worker}.json" if worker else f"{vendor}.json")
        tmp = path.with_suffix(".json.tmp")
        with open(tmp, "w", encoding="utf-8") as out:  # exchanges streamed from the recorder
            out.write(json.dumps(cassette, ensure_ascii=False, indent=1)[:-2])
            out.write(',\n "exchanges": {')
            sep = "\n"
            for i in order:
                if (form := run.recorder.get(i)) is not None:
                    out.write(f"{sep}  {json.dumps(i)}: {json.dumps(form, ensure_ascii=False)}")
                    sep = ",\n"
            out.write("\n }\n}\n")
        tmp.replace(path)
        written.append(path)
    return written


def merge_replay(docs: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The union of the ``replay`` sections of several results documents (parallel workers or
    shards: their step ids, generated names and finding ids carry the worker's suffix, so
    they do not collide); None when none has one. For ``report/merge.py``."""
    sections = [d["replay"] for d in docs if isinstance(d.get("replay"), dict)]
    if not sections:
        return None
    steps: dict[str, Any] = {}
    variables: dict[str, Any] = {}
    for section in sections:
        steps.update(section.get("steps") or {})
        variables.update(section.get("vars") or {})
    return {"format": 1, "steps": steps, "vars": variables}
