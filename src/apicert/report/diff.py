"""``apicert report diff OLD NEW``: what changed between two ``results.json`` documents.

Promises: it names the requirements newly failing (failed or warning in NEW, not in OLD, or a
warning that became a failure), fixed (failing in OLD, not in NEW), otherwise changed, added and
removed; and the schema drift of NEW (undeclared response fields seen, declared fields never
seen), each marked when OLD did not have it. Input errors are :class:`DiffError` with one line.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

__all__ = ["DiffError", "diff_lines", "diff_results", "load_results", "render_diff_html"]

_FAILING = ("failed", "warning")
WIDTH = 80


class DiffError(ValueError):
    """A results file that cannot be read or is not a results document."""


def load_results(path: Path) -> dict[str, Any]:
    """Read a ``results.json``; raise :class:`DiffError` with one line when it is not one."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DiffError(f"{path}: no such file") from None
    except OSError as exc:
        raise DiffError(f"{path}: cannot read: {exc.strerror}") from None
    except ValueError as exc:
        raise DiffError(f"{path}: not JSON ({exc})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("requirements"), list):
        raise DiffError(f"{path}: not an apicert results.json (no requirements list)")
    for req in doc["requirements"]:
        if not isinstance(req, dict) or "id" not in req or "status" not in req:
            raise DiffError(f"{path}: a requirement without id or status")
    return doc


def _worse(old: str, new: str) -> bool:
    return new in _FAILING and (old not in _FAILING or (old == "warning" and new == "failed"))


def _drift_items(doc: dict[str, Any]) -> dict[tuple[str, str, str], set[str]]:
    out: dict[tuple[str, str, str], set[str]] = {}
    for vendor, d in (doc.get("drift") or {}).items():
        for op, o in (d.get("operations") or {}).items():
            for kind in ("undeclared", "unseen"):
                if o.get(kind):
                    out[(vendor, op, kind)] = set(o[kind])
    return out


def diff_results(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """Return the changes from ``old`` to ``new`` (both results documents)."""
    before = {r["id"]: r for r in old["requirements"]}
    after = {r["id"]: r for r in new["requirements"]}

    def entry(rid: str, was: str | None, now: str | None) -> dict[str, Any]:
        req = after.get(rid) or before[rid]
        return {
            "id": rid,
            "vendor": req.get("vendor", ""),
            "title": req.get("title", ""),
            "old": was,
            "new": now,
            "reason": (after.get(rid) or {}).get("reason", ""),
        }

    newly_failing, fixed, changed = [], [], []
    for rid in sorted(set(before) & set(after)):
        was, now = before[rid]["status"], after[rid]["status"]
        if was == now:
            continue
        if _worse(was, now):
            newly_failing.append(entry(rid, was, now))
        elif was in _FAILING and now not in _FAILING:
            fixed.append(entry(rid, was, now))
        else:
            changed.append(entry(rid, was, now))
    old_drift, new_drift = _drift_items(old), _drift_items(new)
    drift = [
        {
            "vendor": vendor,
            "operation": op,
            "kind": kind,
            "fields": sorted(fields),
            "new_fields": sorted(fields - old_drift.get((vendor, op, kind), set())),
        }
        for (vendor, op, kind), fields in sorted(new_drift.items())
    ]
    return {
        "old": _run_label(old),
        "new": _run_label(new),
        "newly_failing": newly_failing,
        "fixed": fixed,
        "changed": changed,
        "added": [
            entry(rid, None, after[rid]["status"]) for rid in sorted(set(after) - set(before))
        ],
        "removed": [
            entry(rid, before[rid]["status"], None) for rid in sorted(set(before) - set(after))
        ],
        "drift": drift,
    }


def _run_label(doc: dict[str, Any]) -> str:
    run = doc.get("run") or {}
    parts = [str(run.get("started") or "?")]
    if run.get("git_revision"):
        parts.append(f"git {run['git_revision']}")
    faults = [f"{v}:{f}" for v, names in (run.get("faults") or {}).items() for f in names]
    if faults:
        parts.append("faults " + ", ".join(faults))
    return "; ".join(parts)


def _clip(text: str, width: int = WIDTH) -> str:
    return text if len(text) <= width else text[: width - 1] + "~"


def diff_lines(diff: dict[str, Any]) -> list[str]:
    """Return the diff for a terminal, no line over 80 columns."""
    lines = [_clip(f"old: {diff['old']}"), _clip(f"new: {diff['new']}")]
    sections = (
        ("newly failing", "newly_failing"),
        ("fixed", "fixed"),
        ("changed", "changed"),
        ("added", "added"),
        ("removed", "removed"),
    )
    for title, key in sections:
        items = diff[key]
        lines.append(f"{title}: {len(items)}")
        for item in items:
            move = f"{item['old'] or '-'} -> {item['new'] or '-'}"
            lines.append(_clip(f"  {item['id']:<22} {move:<20} {item['title']}"))
    undeclared = [d for d in diff["drift"] if d["kind"] == "undeclared"]
    unseen = [d for d in diff["drift"] if d["kind"] == "unseen"]
    lines.append(
        f"schema drift: {sum(len(d['fields']) for d in undeclared)} undeclared fields seen, "
        f"{sum(len(d['fields']) for d in unseen)} declared fields never seen"
    )
    for d in undeclared + unseen:
        label = "undeclared" if d["kind"] == "undeclared" else "never seen"
        fields = ", ".join(f + ("*" if f in d["new_fields"] else "") for f in d["fields"])
        lines.append(_clip(f"  {d['vendor']} {d['operation']} {label}: {fields}"))
    if any(d["new_fields"] for d in diff["drift"]):
        lines.append("  (* not in the old run's drift)")
    return lines


def render_diff_html(diff: dict[str, Any]) -> str:
    """Return the diff as one self-contained HTML page."""
    env = Environment(
        loader=PackageLoader("apicert.report", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env.get_template("diff.html.j2").render(diff=diff)
