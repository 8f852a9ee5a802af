"""Did two runs send the same requests? Normalised request sequences and their comparison.

**"The same requests"** (what ``--seed`` promises): two runs with the same seed, the same test
selection and the same example database (a fresh report directory) send, test by test and in
order, requests that are equal after this normalisation:

* method, and the URL's path and query (scheme, host and port dropped: an embedded sandbox listens
  on a new port each run);
* request headers, except ``Host``, ``Content-Length``, ``Date``, ``User-Agent``, ``Connection``
  and Schemathesis's random tracing id ``X-Schemathesis-TestCaseId``; secrets are already
  ``[REDACTED]`` in the stored forms;
* the body text (a multipart body's random boundary, a transport detail, replaced);
* and in all of these, every *server-given value* is replaced by a placeholder numbered by first
  use within the test: a value an earlier response of the run carried (a JSON string leaf without
  whitespace of at least 12 characters, or of at least 6 with a digit; a JSON integer of at least
  6 digits; a response header value without whitespace of at least 16 characters with a digit:
  ids, tokens, timestamps; each a whole token of letters, digits and ``_-.:+@``), and the run's
  own non-secret credentials (an embedded sandbox's login is random per run).

Responses are not compared: the requests are the run's input, the answers the target's.

The input is a run's redacted exchanges: the cassettes ``apicert run --record`` writes
(``cassettes/<vendor>.json``: ``order`` and ``exchanges``), or ``requests.json`` written by this
module's pytest hook when the plugin is loaded (``apicert run ... -- -p apicert.requestlog``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

__all__ = [
    "Comparison",
    "compare",
    "load_exchanges",
    "normalise",
    "pytest_sessionfinish",
]

LOG_NAME = "requests.json"
# Transport details, and Schemathesis's random per-case tracing id (not request data).
DROPPED_HEADERS = frozenset(
    {"host", "content-length", "date", "user-agent", "connection", "x-schemathesis-testcaseid"}
)
_DIGIT = re.compile(r"\d")
# A value is replaced where it stands as a whole token of these characters (ids, UUIDs, times).
_TOKEN = re.compile(r"[A-Za-z0-9_\-.:+@]+")
_BOUNDARY = re.compile(r"boundary=\"?([^\";\s]+)")
_BODY_BOUNDARY = re.compile(r"--([0-9a-f]{32})\r?\n")


def _token(text: str) -> bool:
    return _TOKEN.fullmatch(text) is not None


def _id_like(text: str) -> bool:
    return len(text) >= 6 and bool(_DIGIT.search(text))


def _server_values(exchange: dict[str, Any]) -> Iterator[str]:
    """Values a response carried that a later request may send back (ids, tokens, times)."""
    response = exchange.get("response") or {}
    for value in (response.get("headers") or {}).values():
        if isinstance(value, str) and len(value) >= 16 and _token(value) and _DIGIT.search(value):
            yield value
    body = response.get("body")
    if not isinstance(body, str) or not body.strip():
        return
    try:
        doc = json.loads(body)
    except ValueError:
        return
    stack = [doc]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str) and _token(item) and (len(item) >= 12 or _id_like(item)):
            yield item
        elif isinstance(item, int) and not isinstance(item, bool) and abs(item) >= 100_000:
            yield str(item)


def _request_text(exchange: dict[str, Any]) -> str:
    request = exchange.get("request") or {}
    parts = urlsplit(str(request.get("url") or ""))
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    headers = sorted(
        (str(k).lower(), str(v))
        for k, v in (request.get("headers") or {}).items()
        if str(k).lower() not in DROPPED_HEADERS
    )
    head = " ".join(f"{k}={v}" for k, v in headers)
    text = f"{request.get('method')} {target} | {head} | {request.get('body') or ''}"
    # The boundary is named by Content-Type, or (a negative case sent with another type) is the
    # 32 hex digits urllib3 picks at random, opening the body's first line.
    boundary = _BOUNDARY.search(head) or _BODY_BOUNDARY.match(str(request.get("body") or ""))
    return text.replace(boundary.group(1), "<boundary>") if boundary else text


def _numberer(numbering: dict[str, str], values: set[str]) -> Any:
    def placeholder(match: re.Match[str]) -> str:
        found = match.group(0)
        if found not in values:
            return found
        return numbering.setdefault(found, f"<v{len(numbering) + 1}>")

    return placeholder


def normalise(
    exchanges: Iterable[dict[str, Any]], known: Iterable[str] = ()
) -> list[tuple[str, str]]:
    """``(test, normalised request)`` for each exchange in run order (see the module docstring);
    ``known`` are extra run-specific values to replace (non-secret credentials)."""
    values: set[str] = {v for v in known if v}
    out: list[tuple[str, str]] = []
    numbering: dict[str, str] = {}
    test: str | None = None
    for exchange in exchanges:
        if exchange.get("test") != test:
            test, numbering = exchange.get("test"), {}
        text = _TOKEN.sub(_numberer(numbering, values), _request_text(exchange))
        out.append((str(test or ""), text))
        values.update(_server_values(exchange))
    return out


@dataclass
class Comparison:
    """Two runs' normalised request sequences of one vendor, side by side."""

    vendor: str
    counts: tuple[int, int]
    identical: int
    differing_tests: list[str] = field(default_factory=list)
    first_difference: tuple[str, str] | None = None

    @property
    def same(self) -> bool:
        """True when both runs sent the same requests, in the same order."""
        return self.counts[0] == self.counts[1] == self.identical

    def line(self) -> str:
        """One line of figures, e.g. ``connectfi: 180 / 180 requests, 180 identical``."""
        a, b = self.counts
        each = f"{a} requests each" if a == b else f"{a} and {b} requests"
        text = f"{self.vendor}: {each}, {self.identical} identical after normalisation"
        if self.differing_tests:
            text += f"; differing tests: {', '.join(self.differing_tests)}"
        return text


def compare(vendor: str, first: list[tuple[str, str]], second: list[tuple[str, str]]) -> Comparison:
    """Compare two normalised sequences test by test (so one test's extra request does not
    shift every later one); ``identical`` counts requests equal at the same place in their test."""
    by_test: dict[str, tuple[list[str], list[str]]] = {}
    for side, sequence in enumerate((first, second)):
        for test, text in sequence:
            by_test.setdefault(test, ([], []))[side].append(text)
    identical = 0
    differing: list[str] = []
    first_difference: tuple[str, str] | None = None
    for test, (a, b) in by_test.items():
        same = sum(x == y for x, y in zip(a, b, strict=False))
        identical += same
        if a != b:
            differing.append(test)
            if first_difference is None:
                index = next(
                    (i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y),
                    min(len(a), len(b)),
                )
                first_difference = (
                    a[index] if index < len(a) else "(nothing)",
                    b[index] if index < len(b) else "(nothing)",
                )
    return Comparison(vendor, (len(first), len(second)), identical, differing, first_difference)


def load_exchanges(report_dir: Path, vendor: str) -> tuple[list[dict[str, Any]], list[str]]:
    """A run's exchanges of ``vendor`` in run order and its non-secret credential values, from
    ``cassettes/<vendor>.json`` when the run recorded one, else from ``requests.json``."""
    results = report_dir / "results.json"
    known: list[str] = []
    if results.exists():
        run = json.loads(results.read_text(encoding="utf-8")).get("run") or {}
        target = (run.get("targets") or {}).get(vendor) or {}
        known = [
            str(v) for v in (target.get("credentials") or {}).values() if v and v != "[REDACTED]"
        ]
    cassette = report_dir / "cassettes" / f"{vendor}.json"
    if cassette.exists():
        doc = json.loads(cassette.read_text(encoding="utf-8"))
        exchanges = doc.get("exchanges") or {}
        order = doc.get("order") or list(exchanges)
        return [exchanges[i] for i in order if i in exchanges], known
    log = report_dir / LOG_NAME
    if not log.exists():
        raise FileNotFoundError(f"{report_dir} has neither cassettes/{vendor}.json nor {LOG_NAME}")
    doc = json.loads(log.read_text(encoding="utf-8"))
    base = str((doc.get("base_urls") or {}).get(vendor) or "")
    exchanges_all = doc.get("exchanges") or []
    chosen = [e for e in exchanges_all if base and str(e["request"]["url"]).startswith(base)]
    return chosen, known


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Write every redacted exchange of the run to ``<report dir>/requests.json`` (loaded with
    ``-p apicert.requestlog``; the forms are the recorder's redacted ones)."""
    from apicert import seeding
    from apicert.plugin import RUN_KEY

    run = session.config.stash.get(RUN_KEY, None)
    if run is None or not run.records:
        return
    doc = {
        "seed": seeding.run_seed(),
        "base_urls": {name: t.base_url for name, t in run.targets.items() if t.base_url},
    }
    path = run.report_dir / LOG_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as out:  # streamed: the exchanges are never all held
        out.write(json.dumps(doc, ensure_ascii=False)[:-1] + ', "exchanges": [')
        for i, form in enumerate(run.recorder.iter()):
            out.write((", " if i else "") + json.dumps(form, ensure_ascii=False))
        out.write("]}")
