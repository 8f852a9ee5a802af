"""``conformance.html``: one self-contained, offline page rendered from ``results.json``.

Promises:

* no network: CSS and JavaScript are inline, nothing is fetched from a CDN;
* the verdict per vendor (counts per status, a small inline SVG chart) is plain HTML, readable
  even with JavaScript off;
* the requirement rows are a compact JSON block rendered by the page's script, grouped by vendor
  and topic, filterable by status and searchable by id or text, rendered a page at a time so a
  50,000-row report opens as fast as a small one;
* everything bulky (findings, redacted exchanges, timing, reproduction commands) is written beside
  the report in ``evidence/chunk-NNNN.js`` files and loaded on demand through ``<script>`` tags,
  which browsers allow from ``file://`` where ``fetch()`` is blocked.

Its input is the results document, whose evidence is already redacted; this module adds no data.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

__all__ = ["EVIDENCE_DIR", "STATUSES", "render_html", "write_html"]

STATUSES = ("failed", "warning", "review", "skipped", "passed")
EVIDENCE_DIR = "evidence"
CHUNK_ROWS = 200
CHUNK_BYTES = 400_000
MAX_BODY = 8_000
MAX_REASON = 300
MAX_FINDINGS = 20
_CHUNK_NAME = re.compile(r"^chunk-\d{4,}\.js$")


def _env() -> Environment:
    return Environment(
        loader=PackageLoader("apicert.report", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _script_json(value: Any) -> str:
    """JSON that is safe inside a ``<script>`` element (no ``</script>``, no HTML comments)."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _clip(text: str | None, limit: int) -> str:
    text = text or ""
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _exchange_view(exchange: dict[str, Any]) -> dict[str, Any]:
    request, response = exchange.get("request") or {}, exchange.get("response") or {}
    return {
        "method": request.get("method"),
        "url": request.get("url"),
        "request_headers": request.get("headers") or {},
        "request_body": _clip(request.get("body"), MAX_BODY),
        "status": response.get("status"),
        "response_headers": response.get("headers") or {},
        "response_body": _clip(response.get("body"), MAX_BODY),
        "truncated": bool(response.get("truncated")),
        "error": exchange.get("error"),
        "elapsed": exchange.get("elapsed"),
        "test": exchange.get("test"),
    }


def _detail(req: dict[str, Any], exchanges: dict[str, Any]) -> dict[str, Any]:
    findings = req.get("findings") or []
    ids = list(dict.fromkeys(e for f in findings[:MAX_FINDINGS] for e in f.get("evidence") or []))
    return {
        "quote": req.get("quote") or "",
        "findings": [
            {
                "status": f.get("status"),
                "message": f.get("message"),
                "evidence": f.get("evidence"),
                # `apicert repro ID` takes it (only for findings with replayable steps)
                "id": f.get("id") if f.get("replay") and not f["replay"].get("timing") else None,
            }
            for f in findings[:MAX_FINDINGS]
        ],
        "findings_total": req.get("findings_total", len(findings)),
        "notes": req.get("notes") or [],
        "tests": req.get("tests") or [],
        "reproduce": req.get("reproduce") or {},
        "exchanges": {eid: _exchange_view(exchanges[eid]) for eid in ids[:10] if eid in exchanges},
    }


def _chart(summary: dict[str, Any], width: int = 220, height: int = 14) -> list[dict[str, Any]]:
    total = max(int(summary.get("requirements") or 0), 1)
    x = 0.0
    segments = []
    for status in STATUSES:
        count = int(summary.get(status) or 0)
        if not count:
            continue
        w = width * count / total
        segments.append({"status": status, "x": round(x, 2), "w": round(w, 2), "count": count})
        x += w
    return segments


def render_html(doc: dict[str, Any]) -> tuple[str, list[str]]:
    """Return the page and the evidence chunk scripts (``chunk i`` is ``evidence/chunk-i.js``)."""
    requirements = sorted(
        doc.get("requirements") or [], key=lambda r: (r["vendor"], r["topic"], r["id"])
    )
    exchanges = doc.get("exchanges") or {}
    tables: dict[str, dict[str, int]] = {"vendor": {}, "topic": {}, "source": {}}

    def index(kind: str, value: str) -> int:
        return tables[kind].setdefault(value, len(tables[kind]))

    rows: list[list[Any]] = []
    chunks: list[str] = []
    pending: list[str] = []
    pending_bytes = 0

    def flush() -> None:
        nonlocal pending, pending_bytes
        if pending:
            chunks.append(f"apicertEvidence({len(chunks)},{{{','.join(pending)}}});\n")
            pending, pending_bytes = [], 0

    for req in requirements:
        # Chunks are external scripts: "</script>" inside them is harmless, so plain JSON.
        detail = json.dumps(_detail(req, exchanges), ensure_ascii=False, separators=(",", ":"))
        if pending and (len(pending) >= CHUNK_ROWS or pending_bytes + len(detail) > CHUNK_BYTES):
            flush()
        pending.append(f"{json.dumps(req['id'])}:{detail}")
        pending_bytes += len(detail)
        rows.append(
            [
                req["id"],
                index("vendor", req["vendor"]),
                index("topic", req["topic"]),
                req.get("level", ""),
                STATUSES.index(req["status"]) if req["status"] in STATUSES else 3,
                req.get("title", ""),
                _clip(
                    (req.get("reason") or "").splitlines()[0] if req.get("reason") else "",
                    MAX_REASON,
                ),
                index("source", req.get("source", "")),
                len(chunks),
                int(req.get("findings_total") or 0),
            ]
        )
    flush()
    data = {
        "statuses": list(STATUSES),
        "vendors": list(tables["vendor"]),
        "topics": list(tables["topic"]),
        "sources": list(tables["source"]),
        "rows": rows,
    }
    run = doc.get("run") or {}
    summary = doc.get("summary") or {}
    vendors = [
        {"name": name, "summary": s, "chart": _chart(s)} for name, s in sorted(summary.items())
    ]
    page = (
        _env()
        .get_template("conformance.html.j2")
        .render(
            run=run,
            vendors=vendors,
            statuses=STATUSES,
            totals={st: sum(int(s.get(st) or 0) for s in summary.values()) for st in STATUSES},
            drift=doc.get("drift") or {},
            selftest=doc.get("selftest"),
            schema_version=doc.get("schema_version"),
            data_json=_script_json(data),
            evidence_dir=EVIDENCE_DIR,
        )
    )
    return page, chunks


def write_html(doc: dict[str, Any], report_dir: Path, name: str = "conformance.html") -> Path:
    """Write ``conformance.html`` and its ``evidence/`` chunks into ``report_dir`` (old chunks of
    an earlier run are removed first); return the page's path."""
    page, chunks = render_html(doc)
    evidence = report_dir / EVIDENCE_DIR
    evidence.mkdir(parents=True, exist_ok=True)
    for old in evidence.iterdir():
        if _CHUNK_NAME.match(old.name):
            old.unlink()
    for i, chunk in enumerate(chunks):
        (evidence / f"chunk-{i:04d}.js").write_text(chunk, encoding="utf-8")
    path = report_dir / name
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text(page, encoding="utf-8")
    os.replace(tmp, path)
    return path
