"""Merging ``results.json`` documents: shards of one run, or the workers of a parallel run.

Each input is a complete, already redacted results document (secrets never travel: a shard or a
worker redacts with the secrets it learnt before it writes). A requirement's merged status is the
highest of its statuses across the inputs, in the order failed > warning > review > passed >
skipped, which is the order :mod:`apicert.report.results` applies to the records of one run: a
failure anywhere fails it, a pass anywhere beats "not exercised here", and it is skipped only
when every input skipped it. Findings, notes, tests and evidence are unioned (findings capped as
in one run); exchange ids that two inputs share are namespaced (``m2:ex-000001``) everywhere
they appear, so evidence never points at another input's exchange. The summary and the verdict
are recomputed from the merged statuses.
"""

from __future__ import annotations

import calendar
import json
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from apicert.cassette import merge_replay
from apicert.report.repro import reproduce
from apicert.report.results import (
    MAX_FINDINGS_PER_REQUIREMENT,
    MAX_NOTES_PER_REQUIREMENT,
    SCHEMA_VERSION,
    vendor_summary,
)

__all__ = [
    "MergeError",
    "load_results",
    "merge_command",
    "merge_results",
    "shard_problem",
    "status_rank",
]

_ORDER = ("skipped", "passed", "review", "warning", "failed")
NOT_EXERCISED = "not exercised in this run"


class MergeError(ValueError):
    """An input that cannot be merged; the message is one line naming the file and the problem."""


def status_rank(status: str) -> int:
    """The precedence of a requirement status in a merge (higher wins; unknown is lowest)."""
    return _ORDER.index(status) if status in _ORDER else -1


def _major(version: object) -> str:
    return str(version).split(".", 1)[0]


def load_results(path: Path) -> dict[str, Any]:
    """Read one ``results.json``; raise :class:`MergeError` when it is missing, not JSON, not a
    results document, or of another schema major version than this apicert writes."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise MergeError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise MergeError(
            f"{path}: cannot read it ({getattr(exc, 'strerror', None) or exc})"
        ) from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise MergeError(f"{path}: not JSON ({exc.msg} at line {exc.lineno})") from None
    problem = _shape_problem(doc)
    if problem:
        raise MergeError(f"{path}: not an apicert results.json ({problem})")
    if _major(doc["schema_version"]) != _major(SCHEMA_VERSION):
        raise MergeError(
            f"{path}: results schema {doc['schema_version']} cannot be merged by this apicert "
            f"(schema {SCHEMA_VERSION}); merge files of the same major version"
        )
    problem = _schema_problem(doc)
    if problem:
        raise MergeError(f"{path}: not a valid apicert results.json ({problem})")
    return doc


def _schema_problem(doc: dict[str, Any]) -> str | None:
    """The first violation of ``schemas/results.schema.json``, on one line; None when valid."""
    import jsonschema

    from apicert.paths import schemas_dir

    schema = json.loads((schemas_dir() / "results.schema.json").read_text(encoding="utf-8"))
    error = jsonschema.exceptions.best_match(
        jsonschema.Draft202012Validator(schema).iter_errors(doc)
    )
    if error is None:
        return None
    where = "/".join(str(p) for p in error.absolute_path) or "top level"
    message = error.message.splitlines()[0] if error.message else "invalid"
    return f"at {where}: {message[:160]}"


def _shape_problem(doc: object) -> str | None:
    if not isinstance(doc, dict):
        return "the top level is not an object"
    for key, kind in (("schema_version", str), ("run", dict), ("requirements", list)):
        if not isinstance(doc.get(key), kind):
            return f"no {key!r} {kind.__name__}"
    for entry in doc["requirements"]:
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
            return "a requirement without an id"
        if entry.get("status") not in _ORDER:
            return f"requirement {entry.get('id')} has status {entry.get('status')!r}"
    return None


# -- exchange ids ----------------------------------------------------------------------------
def _renamer(index: int, taken: set[str]) -> Callable[[str], str]:
    """A per-input id mapping: an id no earlier input used keeps its name, else it is
    namespaced with the input's number."""
    mapping: dict[str, str] = {}

    def rename(eid: str) -> str:
        if eid not in mapping:
            new = eid
            while new in taken:
                new = f"m{index + 1}:{new}"
            taken.add(new)
            mapping[eid] = new
        return mapping[eid]

    return rename


def _renamed_expect(value: Any, rename: Callable[[str], str]) -> Any:
    """``value`` (an expectation, or anything nested in one: operands, ``any_of``) with every
    exchange id under an ``ex`` or ``exs`` key renamed."""
    if isinstance(value, list):
        return [_renamed_expect(v, rename) for v in value]
    if not isinstance(value, dict):
        return value
    out: dict[str, Any] = {}
    for key, item in value.items():
        if key == "ex" and isinstance(item, str):
            out[key] = rename(item)
        elif key == "exs" and isinstance(item, list):
            out[key] = [rename(e) if isinstance(e, str) else e for e in item]
        else:
            out[key] = _renamed_expect(item, rename)
    return out


def _renamed_finding(finding: dict[str, Any], rename: Callable[[str], str]) -> dict[str, Any]:
    out = dict(finding)
    out["evidence"] = [rename(e) for e in finding.get("evidence") or []]
    if finding.get("expect"):
        out["expect"] = _renamed_expect(finding["expect"], rename)
    return out


def _renamed(doc: dict[str, Any], index: int, taken: set[str]) -> dict[str, Any]:
    """A copy of ``doc`` whose exchange ids do not collide with ``taken`` (updated in place)."""
    rename = _renamer(index, taken)
    exchanges = {}
    for eid, exchange in (doc.get("exchanges") or {}).items():
        new = rename(eid)
        exchanges[new] = dict(exchange, id=new) if isinstance(exchange, dict) else exchange
    requirements = []
    for entry in doc["requirements"]:
        entry = dict(entry)
        entry["evidence"] = [rename(e) for e in entry.get("evidence") or []]
        entry["findings"] = [_renamed_finding(f, rename) for f in entry.get("findings") or []]
        requirements.append(entry)
    return dict(doc, exchanges=exchanges, requirements=requirements)


# -- requirements ----------------------------------------------------------------------------
def _unique(values: Sequence[Any]) -> list[Any]:
    out: list[Any] = []
    for value in values:
        if value not in out:
            out.append(value)
    return out


def _skip_reason(entries: list[dict[str, Any]]) -> str:
    reasons = sorted(
        {
            part
            for e in entries
            for part in str(e.get("reason") or "").split("; ")
            if part and part != NOT_EXERCISED
        }
    )
    return "; ".join(reasons) if reasons else NOT_EXERCISED


def _merge_requirement(entries: list[dict[str, Any]], run: dict[str, Any]) -> dict[str, Any]:
    """One requirement's entry from its entries in every input that has it."""
    best = max(entries, key=lambda e: status_rank(e["status"]))
    status = best["status"]
    out = dict(best)  # catalog fields and any field this module does not know: the winner's
    if status == "skipped":
        out["reason"] = _skip_reason(entries)
    elif status == "passed":
        out["reason"] = ""
    findings = [f for e in entries for f in e.get("findings") or []]
    out["findings"] = findings[:MAX_FINDINGS_PER_REQUIREMENT]
    out["findings_total"] = sum(int(e.get("findings_total") or 0) for e in entries)
    out["notes"] = _unique([n for e in entries for n in e.get("notes") or []])[
        :MAX_NOTES_PER_REQUIREMENT
    ]
    out["tests"] = [t for e in entries for t in e.get("tests") or []]
    out["evidence"] = _unique([x for e in entries for x in e.get("evidence") or []])
    if any("reproduce" in e for e in entries):
        out["reproduce"] = _merge_reproduce(out, entries, run)
    return out


def _merge_reproduce(
    merged: dict[str, Any], entries: list[dict[str, Any]], run: dict[str, Any]
) -> dict[str, Any]:
    """The node ids and the ``apicert run`` line recomputed from the merged tests; the curl
    commands are the inputs' own (each was built against that input's base URL)."""
    vendor = str(merged.get("vendor") or "")
    target = (run.get("targets") or {}).get(vendor) or {}
    nodeids = _unique([t.get("nodeid") for t in merged["tests"] if t.get("nodeid")])
    out = reproduce(
        vendor,
        nodeids,
        [],
        base_url=None,
        embedded=bool(target.get("embedded", True)),
        faults=list((run.get("faults") or {}).get(vendor, [])),
        seed=run.get("seed", run.get("hypothesis_seed")),
    )
    curls = _unique([c for e in entries for c in (e.get("reproduce") or {}).get("curl") or []])
    out["curl"] = curls[:3]
    out["env"] = sorted({v for e in entries for v in (e.get("reproduce") or {}).get("env") or []})
    return out


# -- run and drift ---------------------------------------------------------------------------
def _epoch(stamp: object) -> float | None:
    try:
        return float(calendar.timegm(time.strptime(str(stamp), "%Y-%m-%dT%H:%M:%SZ")))
    except ValueError:
        return None


def _merge_run(docs: list[dict[str, Any]], sources: list[str]) -> dict[str, Any]:
    runs = [d["run"] for d in docs]
    out: dict[str, Any] = {}
    for run in runs:  # scalars and unknown fields: the first input that has them
        for key, value in run.items():
            out.setdefault(key, value)
    starts = [s for r in runs if (s := _epoch(r.get("started"))) is not None]
    ends = [e for r in runs if (e := _epoch(r.get("ended"))) is not None]
    if starts and ends:
        out["started"] = min(r["started"] for r in runs if _epoch(r.get("started")) is not None)
        out["ended"] = max(r["ended"] for r in runs if _epoch(r.get("ended")) is not None)
        out["duration"] = round(max(0.0, max(ends) - min(starts)), 3)
    for key in ("targets", "vendor_api_versions"):
        merged: dict[str, Any] = {}
        for run in runs:
            for name, value in (run.get(key) or {}).items():
                merged.setdefault(name, value)
        if merged or key in out:
            out[key] = merged
    faults: dict[str, list[str]] = {}
    for run in runs:
        for vendor, names in (run.get("faults") or {}).items():
            faults[vendor] = _unique([*faults.get(vendor, []), *names])
    out["faults"] = faults
    out["errors"] = _unique([e for r in runs for e in r.get("errors") or []])
    out["exchanges_recorded"] = sum(int(r.get("exchanges_recorded") or 0) for r in runs)
    unknown = sorted({u for r in runs for u in r.get("findings_for_unknown_requirements") or []})
    out["findings_for_unknown_requirements"] = unknown
    out["merged_from"] = list(sources)
    out.pop("shard", None)
    # One seed repeats the merged run only when every input ran with it (CI passes one --seed
    # to all shards); otherwise no seed is better than the first input's, which is wrong for
    # the other inputs' tests.
    for key in ("seed", "hypothesis_seed"):
        if len({r.get(key) for r in runs}) > 1:
            out.pop(key, None)
    return out


def _merge_operation(ops: list[dict[str, Any]]) -> dict[str, Any]:
    seen = sorted({p for op in ops for p in op.get("seen") or []})
    undeclared = sorted({p for op in ops for p in op.get("undeclared") or []})
    unseen_sets = [set(op.get("unseen") or []) for op in ops]
    unseen = set.intersection(*unseen_sets) - set(seen) if unseen_sets else set()
    return {"seen": seen, "undeclared": undeclared, "unseen": sorted(unseen)}


def _merge_drift(docs: list[dict[str, Any]]) -> dict[str, Any]:
    """Field paths seen and undeclared are unioned; a declared path is unseen only when no
    input saw it."""
    vendors: dict[str, list[dict[str, Any]]] = {}
    for doc in docs:
        for vendor, drift in (doc.get("drift") or {}).items():
            if isinstance(drift, dict):
                vendors.setdefault(vendor, []).append(drift)
    out: dict[str, Any] = {}
    for vendor, drifts in vendors.items():
        keys = sorted({k for d in drifts for k in d.get("operations") or {}})
        out[vendor] = {
            "document": drifts[0].get("document", ""),
            "operations": {
                k: _merge_operation(
                    [d["operations"][k] for d in drifts if k in d.get("operations", {})]
                )
                for k in keys
            },
            "unmatched": sorted({u for d in drifts for u in d.get("unmatched") or []}),
        }
    return out


# -- the whole document ----------------------------------------------------------------------
def shard_problem(docs: list[dict[str, Any]], sources: list[str]) -> str | None:
    """With shard inputs (``run.shard`` "K/N"), one line naming a shard given twice, missing,
    or from another split, per vendor selection; None when the set is whole or unsharded."""
    groups: dict[tuple[str, ...], dict[int, str]] = {}
    totals: dict[tuple[str, ...], int] = {}
    for doc, source in zip(docs, sources, strict=True):
        spec = doc["run"].get("shard")
        if not spec:
            continue
        k, n = (int(x) for x in str(spec).split("/"))
        vendors = tuple(sorted(doc.get("summary") or {}))
        if totals.setdefault(vendors, n) != n:
            return (
                f"{source}: shard {spec} is from a {n}-way split; the other shards of "
                f"{', '.join(vendors)} are {totals[vendors]}-way"
            )
        seen = groups.setdefault(vendors, {})
        if k in seen:
            return f"{source}: shard {spec} of {', '.join(vendors)} is also {seen[k]}"
        seen[k] = source
    for vendors, seen in groups.items():
        missing = [k for k in range(1, totals[vendors] + 1) if k not in seen]
        if missing:
            return (
                f"shard {missing[0]}/{totals[vendors]} of {', '.join(vendors)} is missing; "
                "a merge needs every shard of a split"
            )
    return None


def merge_results(docs: list[dict[str, Any]], sources: list[str] | None = None) -> dict[str, Any]:
    """Return one results document from ``docs`` (see the module docstring for the rules)."""
    if not docs:
        raise MergeError("nothing to merge")
    sources = list(sources or [f"input {i + 1}" for i in range(len(docs))])
    taken: set[str] = set()
    docs = [_renamed(doc, i, taken) for i, doc in enumerate(docs)]
    run = _merge_run(docs, sources)
    order: list[str] = []
    by_id: dict[str, list[dict[str, Any]]] = {}
    for doc in docs:
        for entry in doc["requirements"]:
            if entry["id"] not in by_id:
                order.append(entry["id"])
            by_id.setdefault(entry["id"], []).append(entry)
    requirements = [_merge_requirement(by_id[rid], run) for rid in order]
    vendors = _unique([v for doc in docs for v in doc.get("summary") or {}])
    vendors += _unique(
        [str(r.get("vendor")) for r in requirements if r.get("vendor") not in vendors]
    )
    summary = {
        v: vendor_summary(Counter(r["status"] for r in requirements if r.get("vendor") == v))
        for v in vendors
    }
    exchanges: dict[str, Any] = {}
    for doc in docs:
        exchanges.update(doc.get("exchanges") or {})
    out: dict[str, Any] = {
        "schema_version": max(
            (d["schema_version"] for d in docs), key=lambda v: int(str(v).partition(".")[2] or 0)
        ),
        "run": run,
        "summary": summary,
        "requirements": requirements,
        "exchanges": exchanges,
    }
    if any("drift" in d for d in docs):
        out["drift"] = _merge_drift(docs)
    replay = merge_replay(docs)  # step ids carry the worker/shard suffix: a plain union
    if replay is not None:
        out["replay"] = replay
    for doc in docs:  # top-level fields added by other features: the first input's
        for key, value in doc.items():
            out.setdefault(key, value)
    return out


def merge_command(inputs: Sequence[str], report_dir: Path) -> int:
    """``apicert report merge``: read every input, merge, write ``results.json`` and
    ``conformance.html`` under ``report_dir``, print the summary; exit 0 when nothing failed,
    1 when a requirement failed, 2 on bad input or a run error in any input."""
    import sys

    from apicert.report.html import write_html
    from apicert.report.results import exit_code, write_results
    from apicert.report.terminal import summary_lines

    def error(message: str) -> int:
        print(f"apicert: error: {message}", file=sys.stderr, flush=True)
        return 2

    paths = [Path(p) for p in inputs]
    try:
        docs = [load_results(path) for path in paths]
    except MergeError as exc:
        return error(str(exc))
    problem = shard_problem(docs, [str(p) for p in paths])
    if problem:
        return error(problem)
    doc = merge_results(docs, [str(p) for p in paths])
    try:
        results = write_results(doc, report_dir / "results.json")
        write_html(doc, report_dir)
    except OSError as exc:
        return error(f"cannot write the merged report to {report_dir}: {exc.strerror or exc}")
    for line in summary_lines(doc):
        print(line)
    for message in doc["run"].get("errors", []):
        print(f"apicert: error: {message}", file=sys.stderr)
    print(f"merged {len(docs)} results: {results}, {report_dir / 'conformance.html'}")
    return exit_code(doc)
