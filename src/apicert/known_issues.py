"""The known-issues registry: vendor failures a team has reported and accepted for now.

``known_issues.yaml`` (``apicert run --known-issues FILE``; by default the file of that name in the
working directory, when there is one)::

    known_issues:
      - requirement: CONNECTFI-ENV-03
        ticket: CFI-1234            # the vendor's ticket
        first_seen: 2026-11-02      # a date, YYYY-MM-DD
        note: code answered as an integer; vendor fix planned for Q1

Promises:

* :func:`load_registry` accepts only that shape: a bad YAML file, an unknown requirement id, a
  missing or empty field, an unknown field or a requirement listed twice is a
  :class:`RegistryError` with one line naming the file and the entry.
* :func:`apply_registry` leaves every requirement's ``status`` as the run found it (the vendor
  still fails it) and adds ``known_issue`` to each listed requirement of the run, with ``state``:
  ``known`` (failed or warning: reported as known, it does not fail the run), ``fixed upstream``
  (passed: the run fails until the entry is removed) or ``not verified`` (skipped or review:
  no effect). ``run.known_issues`` names the file and the ids in each state.
* :func:`counts_as_failure` is what the exit code uses: a failed requirement fails the run unless
  it is a known issue; a fixed-upstream entry fails it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from apicert.catalog import requirement

__all__ = [
    "DEFAULT_NAME",
    "KnownIssue",
    "RegistryError",
    "apply_registry",
    "counts_as_failure",
    "default_path",
    "load_registry",
    "registry_lines",
]

DEFAULT_NAME = "known_issues.yaml"
KNOWN, FIXED, UNVERIFIED = "known", "fixed upstream", "not verified"
_FIELDS = ("requirement", "ticket", "first_seen", "note")
_MAX_TEXT = 500


class RegistryError(ValueError):
    """The registry file cannot be used; the message is one line naming the file and entry."""


@dataclass(frozen=True)
class KnownIssue:
    """One registry entry: a requirement the vendor is known to fail, under a vendor ticket."""

    requirement: str
    ticket: str
    first_seen: str
    note: str

    def to_dict(self) -> dict[str, str]:
        """The entry as JSON-ready data."""
        return {
            "ticket": self.ticket,
            "first_seen": self.first_seen,
            "note": self.note,
        }


def default_path(given: str | None, cwd: Path | None = None) -> Path | None:
    """The registry to use: ``given`` when set, else ``known_issues.yaml`` in ``cwd`` (the
    working directory) when present, else None."""
    if given:
        return Path(given)
    candidate = (cwd or Path.cwd()) / DEFAULT_NAME
    return candidate if candidate.is_file() else None


def _text(path: Path, where: str, entry: dict[str, Any], name: str) -> str:
    value = entry.get(name)
    if isinstance(value, dt.date) and name == "first_seen":
        return value.isoformat()
    if value is None or (isinstance(value, str) and not value.strip()):
        raise RegistryError(f"{path}: {where}: missing field {name!r}")
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise RegistryError(f"{path}: {where}: {name} must be text")
    text = str(value).strip()
    if "\n" in text or len(text) > _MAX_TEXT:
        raise RegistryError(f"{path}: {where}: {name} must be one line of at most {_MAX_TEXT}")
    if name == "first_seen":
        try:
            dt.date.fromisoformat(text)
        except ValueError:
            raise RegistryError(
                f"{path}: {where}: first_seen {text[:30]!r} is not a date (YYYY-MM-DD)"
            ) from None
    return text


def load_registry(path: Path) -> list[KnownIssue]:
    """Read and validate the registry at ``path``; raise :class:`RegistryError` on any problem."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RegistryError(f"{path}: no such known-issues file") from None
    except OSError as exc:
        raise RegistryError(f"{path}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise RegistryError(f"{path}: not UTF-8 text") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" (line {mark.line + 1})" if mark is not None else ""
        raise RegistryError(f"{path}: not valid YAML{line}") from None
    if raw is None:
        return []
    if not isinstance(raw, dict) or set(raw) != {"known_issues"}:
        raise RegistryError(f"{path}: expected one top-level key 'known_issues' (a list)")
    entries = raw["known_issues"] or []
    if not isinstance(entries, list):
        raise RegistryError(f"{path}: 'known_issues' must be a list of entries")
    out: list[KnownIssue] = []
    seen: set[str] = set()
    for i, entry in enumerate(entries, 1):
        where = f"entry {i}"
        if not isinstance(entry, dict):
            raise RegistryError(f"{path}: {where}: expected a mapping with {', '.join(_FIELDS)}")
        extra = sorted(str(k) for k in entry if k not in _FIELDS)
        if extra:
            raise RegistryError(
                f"{path}: {where}: unknown field {extra[0]!r} (fields: {', '.join(_FIELDS)})"
            )
        rid = _text(path, where, entry, "requirement")
        where = f"entry {i} ({rid[:40]})"
        try:
            requirement(rid)
        except KeyError:
            raise RegistryError(f"{path}: {where}: unknown requirement id {rid[:40]!r}") from None
        if rid in seen:
            raise RegistryError(f"{path}: {where}: listed twice")
        seen.add(rid)
        out.append(
            KnownIssue(
                requirement=rid,
                ticket=_text(path, where, entry, "ticket"),
                first_seen=_text(path, where, entry, "first_seen"),
                note=_text(path, where, entry, "note"),
            )
        )
    return out


def apply_registry(doc: dict[str, Any], issues: list[KnownIssue], source: Path) -> None:
    """Mark each listed requirement of the results ``doc`` (see the module docstring)."""
    by_id = {issue.requirement: issue for issue in issues}
    states: dict[str, list[str]] = {KNOWN: [], FIXED: [], UNVERIFIED: []}
    listed: list[dict[str, str]] = []
    known_per_vendor: dict[str, int] = {}
    for req in doc.get("requirements") or []:
        issue = by_id.get(req["id"])
        if issue is None:
            continue
        if req["status"] in ("failed", "warning"):
            state = KNOWN
            known_per_vendor[req["vendor"]] = known_per_vendor.get(req["vendor"], 0) + 1
        elif req["status"] == "passed":
            state = FIXED
        else:
            state = UNVERIFIED
        req["known_issue"] = dict(issue.to_dict(), state=state)
        states[state].append(req["id"])
        listed.append(dict(req["known_issue"], requirement=req["id"]))
    doc.setdefault("run", {})["known_issues"] = {
        "file": str(source),
        "entries": len(issues),
        "known": states[KNOWN],
        "fixed_upstream": states[FIXED],
        "not_verified": states[UNVERIFIED],
        "listed": listed,
    }
    for vendor, summary in (doc.get("summary") or {}).items():
        summary["known"] = known_per_vendor.get(vendor, 0)


def counts_as_failure(req: dict[str, Any]) -> bool:
    """True when this requirement fails the run: failed and not a known issue, or listed in the
    registry although it passed (fixed upstream: remove the entry)."""
    state = (req.get("known_issue") or {}).get("state")
    if state == FIXED:
        return True
    return req.get("status") == "failed" and state != KNOWN


def registry_lines(doc: dict[str, Any]) -> list[str]:
    """Terminal lines about the registry: the known failures, and each fixed-upstream entry
    with what to do. Empty when the run used no registry."""
    info = (doc.get("run") or {}).get("known_issues")
    if not info:
        return []
    tickets = {
        r["id"]: r["known_issue"]["ticket"]
        for r in doc.get("requirements") or []
        if r.get("known_issue")
    }
    lines = []
    if info["known"]:
        lines.append(
            f"known issues: {len(info['known'])} failing as listed in {info['file']} "
            "(not failing the run)"
        )
    for rid in info["fixed_upstream"]:
        lines.append(f"fixed upstream, remove from the registry: {rid} ({tickets.get(rid, '?')})")
    if info["fixed_upstream"]:
        lines.append(f"registry: {info['file']}")
    return lines
