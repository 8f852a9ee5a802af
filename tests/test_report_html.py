"""conformance.html on hand-built results documents (no server, no browser): self-contained,
evidence beside it and loaded on demand, data that cannot break out of its script element."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from apicert.report.html import EVIDENCE_DIR, write_html
from apicert.report.results import vendor_summary


def requirement(rid: str, status: str, **extra: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "id": rid,
        "vendor": rid.split("-")[0].lower(),
        "topic": "envelope",
        "level": "MUST",
        "title": f"title of {rid}",
        "source": "seed",
        "quote": "",
        "status": status,
        "reason": "",
        "findings": [],
        "findings_total": 0,
        "tests": [],
        "evidence": [],
        "reproduce": {"pytest": [], "command": "apicert run", "curl": [], "env": []},
    }
    entry.update(extra)
    return entry


def exchange(eid: str, body: str = '{"code": "0"}') -> dict[str, Any]:
    return {
        "id": eid,
        "test": "connectfi/test_x.py::test_y",
        "request": {
            "method": "GET",
            "url": "http://127.0.0.1:1/health",
            "headers": {},
            "body": None,
        },
        "response": {"status": 503, "headers": {}, "body": body, "truncated": False},
        "error": None,
        "elapsed": 0.0123,
        "started_at": 0.0,
    }


def document(requirements: list[dict[str, Any]], exchanges: dict[str, Any]) -> dict[str, Any]:
    from collections import Counter

    counts: dict[str, Counter[str]] = {}
    for r in requirements:
        counts.setdefault(r["vendor"], Counter())[r["status"]] += 1
    return {
        "schema_version": "1.1",
        "run": {"errors": [], "targets": {}, "faults": {}, "started": "2026-01-01T00:00:00Z"},
        "summary": {v: vendor_summary(c) for v, c in counts.items()},
        "requirements": requirements,
        "exchanges": exchanges,
        "drift": {},
    }


def failing_doc() -> dict[str, Any]:
    finding = {
        "requirement": "CONNECTFI-ENV-01",
        "status": "failed",
        "message": "health answered 503",
        "evidence": ["ex-000001"],
    }
    reqs = [
        requirement(
            "CONNECTFI-ENV-01",
            "failed",
            reason="health answered 503",
            findings=[finding],
            findings_total=1,
            evidence=["ex-000001"],
        ),
        requirement("CONNECTFI-ENV-02", "passed"),
        requirement("CONNECTFI-AUTH-01", "skipped", topic="auth", reason="not exercised"),
    ]
    return document(reqs, {"ex-000001": exchange("ex-000001", '{"marker": "EVIDENCE-BODY"}')})


def test_page_is_self_contained_and_evidence_is_beside_it(tmp_path: Path) -> None:
    page = write_html(failing_doc(), tmp_path).read_text(encoding="utf-8")
    # Nothing is fetched from the network: no http(s) src/href, no @import, no fetch().
    assert not re.search(r"""(src|href)\s*=\s*["']?https?:""", page)
    assert "@import" not in page and "fetch(" not in page
    # The bulky evidence is not inlined; it is in a chunk file loaded by a script tag.
    assert "EVIDENCE-BODY" not in page
    chunks = sorted((tmp_path / EVIDENCE_DIR).glob("chunk-*.js"))
    assert [c.name for c in chunks] == ["chunk-0000.js"]
    text = chunks[0].read_text(encoding="utf-8")
    assert text.startswith("apicertEvidence(0,") and "EVIDENCE-BODY" in text
    payload = json.loads(text[len("apicertEvidence(0,") : -3])
    assert payload["CONNECTFI-ENV-01"]["exchanges"]["ex-000001"]["status"] == 503


def test_verdict_counts_are_plain_html(tmp_path: Path) -> None:
    page = write_html(failing_doc(), tmp_path).read_text(encoding="utf-8")
    verdict = page[page.index('id="verdict"') : page.index('id="controls"')]
    assert "NOT CONFORMANT" in verdict
    counts = dict(re.findall(r'data-status="(\w+)"><span class="n">(\d+)</span>', verdict))
    assert counts == {"failed": "1", "warning": "0", "review": "0", "skipped": "1", "passed": "1"}


def test_text_cannot_break_out_of_the_data_script(tmp_path: Path) -> None:
    doc = failing_doc()
    doc["requirements"][1]["title"] = "</script><script>alert(1)</script> & <b>"
    page = write_html(doc, tmp_path).read_text(encoding="utf-8")
    assert "<script>alert(1)" not in page
    data = page[page.index('<script id="data"') :]
    data = data[data.index(">") + 1 : data.index("</script>")]
    rows = json.loads(data)["rows"]
    assert any(r[5] == "</script><script>alert(1)</script> & <b>" for r in rows)


def test_large_runs_split_evidence_and_old_chunks_are_removed(tmp_path: Path) -> None:
    reqs = [
        requirement(f"CONNECTFI-X-{i:05d}", "failed", reason="r", findings_total=1)
        for i in range(1000)
    ]
    stale = tmp_path / EVIDENCE_DIR / "chunk-9999.js"
    stale.parent.mkdir(parents=True)
    stale.write_text("old")
    keep = tmp_path / EVIDENCE_DIR / "notes.txt"
    keep.write_text("not ours")
    write_html(document(reqs, {}), tmp_path)
    chunks = sorted((tmp_path / EVIDENCE_DIR).glob("chunk-*.js"))
    assert len(chunks) == 5 and not stale.exists() and keep.exists()
    page = (tmp_path / "conformance.html").read_text(encoding="utf-8")
    data = page[page.index('<script id="data"') :]
    rows = json.loads(data[data.index(">") + 1 : data.index("</script>")])["rows"]
    # Every row names the chunk holding its evidence, and that chunk has it.
    last = rows[-1]
    assert last[8] == 4 and last[0] in chunks[4].read_text(encoding="utf-8")
