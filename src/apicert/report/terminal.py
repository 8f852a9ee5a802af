"""The terminal summary: a table per vendor and requirement, at most 80 columns wide."""

from __future__ import annotations

from typing import Any

from apicert.known_issues import registry_lines

__all__ = ["summary_lines"]

WIDTH = 80
_MARK = {"passed": "ok", "failed": "FAIL", "warning": "warn", "skipped": "skip", "review": "review"}


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "~"


def summary_lines(doc: dict[str, Any]) -> list[str]:
    """Return the summary of a results document, one table per vendor, no line over 80 columns."""
    lines: list[str] = []
    by_vendor: dict[str, list[dict[str, Any]]] = {}
    for req in doc["requirements"]:
        by_vendor.setdefault(req["vendor"], []).append(req)
    for vendor, reqs in by_vendor.items():
        s = doc["summary"][vendor]
        verdict = str(
            s.get("verdict", "conformant" if s["conformant"] else "not conformant")
        ).upper()
        counts = ", ".join(
            f"{s[k]} {k}" for k in ("passed", "failed", "warning", "skipped", "review") if s[k]
        )
        if s.get("known"):
            counts += f"; {s['known']} known issue{'s' if s['known'] > 1 else ''}"
        lines.append(
            _clip(f"{vendor}: {verdict} ({s['requirements']} requirements: {counts})", WIDTH)
        )
        for req in reqs:
            mark = _MARK.get(req["status"], req["status"])
            detail = req["title"]
            if req["status"] in ("failed", "warning", "skipped", "review") and req.get("reason"):
                detail = req["reason"].splitlines()[0]
            elif req.get("notes"):
                detail = req["notes"][0].splitlines()[0]
            known = req.get("known_issue") or {}
            if known.get("state") == "known":
                mark, detail = "known", f"{known['ticket']}: {detail}"
            elif known.get("state") == "fixed upstream":
                mark = "FIXED"
                detail = f"fixed upstream, remove from the registry ({known['ticket']})"
            lines.append(_clip(f"  {mark:<6} {req['id']:<21} {detail}", WIDTH))
            ids = [
                f["id"]
                for f in req.get("findings", [])
                if f.get("id") and f.get("replay") and not f["replay"].get("timing")
            ]
            if req["status"] in ("failed", "warning") and ids:
                more = f" (+{len(ids) - 1} more)" if len(ids) > 1 else ""
                lines.append(_clip(f"  {'':<6} repro: apicert repro {ids[0]}{more}", WIDTH))
    lines.extend(_clip(line, WIDTH) for line in registry_lines(doc))
    for error in doc["run"].get("errors", []):
        lines.append(_clip(f"error: {error}", WIDTH))
    return lines
