"""Masking (PCI DSS 3.4): no response shows in full a card number, SSN, account or routing
number that the harness itself sent; at most the last four digits may be shown.

Vendor-neutral. :func:`sensitive_values` learns what was sent from a raw request body,
:func:`leaks` is the pure check, and :class:`MaskingObserver` ties them together for a run
(it sees raw exchanges, before redaction). Findings never contain a full value: only its kind,
its last four digits and where it appeared.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from apicert import expect as x
from apicert.checks.base import describe, fail
from apicert.model import Exchange, Finding

__all__ = [
    "MaskingObserver",
    "Origin",
    "Sensitive",
    "leaks",
    "sensitive_origins",
    "sensitive_values",
]

# Where a sensitive value was sent: (exchange id, path in that request's JSON body).
Origin = tuple[str, list[str | int]]

_KINDS: dict[str, str] = {
    "number": "card number",
    "cardnumber": "card number",
    "pan": "card number",
    "socialsecurity": "SSN",
    "socialsecuritynumber": "SSN",
    "ssn": "SSN",
    "accountnumber": "account number",
    "bankaccountnumber": "account number",
    "routingnumber": "routing number",
    "abaroutingnumber": "routing number",
}
_MIN_DIGITS = 5  # four digits or fewer may be shown: that is the mask itself
_SEPARATOR = re.compile(r"(?<=[0-9])[ -](?=[0-9])")
_DIGITS = re.compile(r"[0-9]+")
_CARD_RUN = re.compile(r"(?<![0-9])[0-9]{13,19}(?![0-9])")


@dataclass(frozen=True)
class Sensitive:
    """One sensitive value sent by the harness: its kind and its digits."""

    kind: str
    digits: str

    @property
    def tail(self) -> str:
        """The last four digits: the most a response may show."""
        return self.digits[-4:]


def _norm(key: str) -> str:
    return key.lower().replace("_", "").replace("-", "")


def _luhn(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _walk(value: Any, key: str | None, out: set[Sensitive]) -> None:
    if isinstance(value, dict):
        for child_key, child in value.items():
            _walk(child, str(child_key), out)
    elif isinstance(value, list):
        for child in value:
            _walk(child, key, out)
    elif isinstance(value, str | int) and not isinstance(value, bool) and key is not None:
        kind = _KINDS.get(_norm(key))
        digits = re.sub(r"[ -]", "", str(value))
        if kind is None or not digits.isdigit() or len(digits) < _MIN_DIGITS:
            return
        if kind == "card number" and not 12 <= len(digits) <= 19:
            return
        out.add(Sensitive(kind, digits))


def _paths(value: Any, key: str | None, path: list[str | int], out: dict[str, list[Any]]) -> None:
    if isinstance(value, dict):
        for child_key, child in value.items():
            _paths(child, str(child_key), [*path, str(child_key)], out)
    elif isinstance(value, list):
        for index, child in enumerate(value):
            _paths(child, key, [*path, index], out)
    else:
        found: set[Sensitive] = set()
        _walk(value, key, found)
        for item in found:
            out.setdefault(item.digits, path)


def sensitive_origins(exchange: Exchange) -> dict[str, Origin]:
    """Digits of each sensitive value of ``exchange``'s JSON request body -> (its id, the path
    where the body holds it); {} for a body that is not JSON."""
    if not exchange.request_body:
        return {}
    try:
        parsed = json.loads(exchange.request_body)
    except (ValueError, RecursionError):
        return {}
    paths: dict[str, list[Any]] = {}
    _paths(parsed, None, [], paths)
    return {digits: (exchange.id, path) for digits, path in paths.items()}


def sensitive_values(request_body: str | None) -> set[Sensitive]:
    """The card numbers, SSNs, account and routing numbers in a request body: in JSON, the
    values of the fields that name them; in any other body, every Luhn-valid 13-19 digit run."""
    found: set[Sensitive] = set()
    if not request_body:
        return found
    with contextlib.suppress(ValueError, RecursionError):
        # A JSON body names its card and bank fields: an id or amount that happens to be a
        # Luhn-valid run (a fuzzer's "0000000000000") is not a card number the harness sent.
        _walk(json.loads(request_body), None, found)
        return found
    for match in _CARD_RUN.finditer(request_body):
        if _luhn(match.group()):
            found.add(Sensitive("card number", match.group()))
    return found


def leaks(
    exchange: Exchange,
    sent: Iterable[Sensitive],
    requirement: str,
    origins: Mapping[str, Origin] | None = None,
) -> list[Finding]:
    """Findings on ``requirement`` for each value of ``sent`` that ``exchange``'s response body
    or headers show in full. The message names the kind and the last four digits only; the
    expectations say that the value sent (where ``origins`` knows the request) does not come
    back in full."""
    # A value shown in full is a whole digit run of the response, once the spaces and dashes
    # between digits are removed ("4242 4242 ..." and "123-45-6789" count as shown in full).
    runs: set[str] = set()
    for text in [exchange.response_body or "", *exchange.response_headers.values()]:
        runs.update(_DIGITS.findall(_SEPARATOR.sub("", text)))
    shown_values = [v for v in sent if v.digits in runs]
    hits = sorted((v.kind, v.tail) for v in shown_values)
    shown = [f"{kind} ending {tail}" for kind, tail in dict.fromkeys(hits)]
    if not shown:
        return []
    promise = []
    for value in sorted(shown_values, key=lambda v: v.digits):
        origin = (origins or {}).get(value.digits)
        if origin is not None:
            promise.append(x.not_echoed(exchange.id, origin[1], origin[0]))
    return [
        fail(
            requirement,
            f"{describe(exchange)}: shows in full the {', '.join(shown)} the harness sent "
            "(PCI DSS 3.4: at most the last four digits)",
            exchange,
            expect=promise,
        )
    ]


class MaskingObserver:
    """Learns sensitive values from every raw request body of a run and checks every response
    against all values learnt so far (the request's own included)."""

    def __init__(self, requirement: str) -> None:
        self.requirement = requirement
        self._sent: set[Sensitive] = set()
        self._origins: dict[str, Origin] = {}
        self._lock = threading.Lock()

    def observe(self, exchange: Exchange) -> list[Finding]:
        """Learn from ``exchange``'s request, then check its response."""
        learnt = sensitive_values(exchange.request_body)
        where = sensitive_origins(exchange) if learnt else {}
        with self._lock:
            self._sent |= learnt
            # The latest sender: the exchange itself, or the closest earlier one (the same test).
            self._origins.update(where)
            sent = set(self._sent)
            origins = dict(self._origins)
        if exchange.response_body is None:
            return []
        return leaks(exchange, sent, self.requirement, origins)
