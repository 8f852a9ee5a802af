"""DigiFi checks: JSON bodies and error messages, the status table, idempotent replay, versions.

Sources: the seed ``shared/seeds/000_498303aeafd3570d.txt`` (api-key on every request, the status
table, idempotency-key replay for 6 hours, api-version defaulting to 12/01/2023), DigiFi's Node
client as digested in ``shared/VENDORS.md`` s.1 (where it reads an error message), and the IETF
idempotency-key draft (422 for a reused key with a different payload). Pure functions: exchanges
in, findings out, each naming its requirement. Rate-limit checks live in ``checks/ratelimit.py``.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from apicert import expect as x
from apicert.checks.base import NONEMPTY, describe, fail, json_body
from apicert.checks.contract import OpenApiContract
from apicert.model import Exchange, Finding

__all__ = [
    "DEFAULT_VERSION",
    "VersionedContract",
    "changed_payload_refused",
    "concurrent_single_resource",
    "count_change",
    "error_message",
    "json_response",
    "new_resource_after_expiry",
    "refused",
    "request_version",
    "resource",
    "same_answer",
    "same_result",
    "search_total",
    "status_is",
]

# Seed: "If no API version header is provided, the API will default to the 12/01/2023 version."
DEFAULT_VERSION = "2023-12-01"
VERSION_HEADER = "api-version"
_US_DATE = re.compile(r"^(\d{2})/(\d{2})/(\d{4})$")


def json_response(exchange: Exchange) -> list[Finding]:
    """DIGIFI-JSON-01: every answer has a JSON body sent as JSON ("returns JSON responses").

    An exchange with no complete response (none at all, or cut off by the client's bounds, as the
    rate-limit probe does at its deadline) is left to the check of the test that sent it."""
    if exchange.status is None or exchange.error:
        return []
    _, problem = json_body(exchange)
    if problem:
        return [
            fail(
                "DIGIFI-JSON-01",
                f"{describe(exchange)}: {problem}",
                exchange,
                expect=[x.json_body(exchange.id)],
            )
        ]
    return []


def _message_of(body: object) -> str | None:
    """The message where the Node client looks: error.message, data.message, then message."""
    if not isinstance(body, dict):
        return None
    for holder in (body.get("error"), body.get("data"), body):
        if isinstance(holder, dict):
            message = holder.get("message")
            if isinstance(message, str) and message.strip():
                return message
    return None


def error_message(exchange: Exchange) -> list[Finding]:
    """DIGIFI-ERR-01: an error answer (status >= 400) carries a non-empty message at
    ``error.message``, ``data.message`` or ``message``. Non-JSON bodies are DIGIFI-JSON-01's."""
    if exchange.status is None or exchange.status < 400:
        return []
    body, problem = json_body(exchange)
    if problem or _message_of(body) is not None:
        return []
    where_read: list[list[str | int]] = [["error", "message"], ["data", "message"], ["message"]]
    return [
        fail(
            "DIGIFI-ERR-01",
            f"{describe(exchange)}: no message at error.message, data.message or message",
            exchange,
            expect=[x.any_of(*(x.json_matches(exchange.id, p, NONEMPTY) for p in where_read))],
        )
    ]


def status_is(
    requirement: str, exchange: Exchange, expected: int | Collection[int], what: str
) -> list[Finding]:
    """``what`` was answered with the ``expected`` status (one code or any of several)."""
    allowed = {expected} if isinstance(expected, int) else set(expected)
    if exchange.status in allowed:
        return []
    got = exchange.status if exchange.status is not None else exchange.error
    want = " or ".join(str(s) for s in sorted(allowed))
    return [
        fail(
            requirement,
            f"{what}: {exchange.method} {exchange.path} answered {got}, not {want}",
            exchange,
            expect=[x.status_in(exchange.id, sorted(allowed))],
        )
    ]


def refused(requirement: str, exchange: Exchange, what: str) -> list[Finding]:
    """``what`` was refused: a response with status >= 400 (never 2xx, never no answer)."""
    if exchange.status is not None and exchange.status >= 400:
        return []
    got = exchange.status if exchange.status is not None else exchange.error
    return [
        fail(
            requirement,
            f"{what}: {exchange.method} {exchange.path} answered {got}, but must be refused",
            exchange,
            expect=[x.status_between(exchange.id, 400, 599)],
        )
    ]


def resource(
    requirement: str,
    exchange: Exchange,
    what: str,
    *,
    expected_id: str | None = None,
    created: Exchange | None = None,
) -> list[Finding]:
    """``what`` succeeded as documented: status 200 and the resource as a JSON object with a
    non-empty string ``id`` (``expected_id`` when given; ``created`` is the exchange whose answer
    named it, so the expectation compares the two ids). DELETE included (Node client)."""
    ex = exchange.id
    promise = [x.status_in(ex, [200]), x.json_body(ex), x.json_matches(ex, ["id"], NONEMPTY)]
    if expected_id is not None and created is not None:
        promise.append(x.compare(x.operand(ex, ["id"]), "eq", x.operand(created.id, ["id"])))
    findings = status_is(requirement, exchange, 200, what)
    if findings:
        return [fail(requirement, f.message, exchange, expect=promise) for f in findings]
    body, problem = json_body(exchange)
    if problem:
        return [
            fail(requirement, f"{what}: {describe(exchange)}: {problem}", exchange, expect=promise)
        ]
    rid = body.get("id") if isinstance(body, dict) else None
    if not isinstance(rid, str) or not rid:
        return [
            fail(
                requirement,
                f"{what}: {describe(exchange)}: no resource id in the body",
                exchange,
                expect=promise,
            )
        ]
    if expected_id is not None and rid != expected_id:
        return [
            fail(
                requirement,
                f"{what}: answered resource {rid!r}, not {expected_id!r}",
                *([created, exchange] if created is not None else [exchange]),
                expect=promise,
            )
        ]
    return []


def _body_value(exchange: Exchange) -> tuple[bool, Any]:
    """(True, parsed JSON) when the body is JSON, else (False, raw text)."""
    try:
        return True, exchange.json()
    except ValueError:
        return False, exchange.response_body


def same_result(requirement: str, first: Exchange, again: Exchange, what: str) -> list[Finding]:
    """``again`` (a replay with the same idempotency-key) answered exactly what ``first`` did:
    the same status and the same body (equal JSON, or equal text when not JSON)."""
    promise = _same_answer(first, again)
    if again.status != first.status:
        return [
            fail(
                requirement,
                f"{what}: the first request answered {first.status}, the replay {again.status}",
                first,
                again,
                expect=promise,
            )
        ]
    first_json, first_body = _body_value(first)
    again_json, again_body = _body_value(again)
    if first_json != again_json or first_body != again_body:
        return [
            fail(
                requirement,
                f"{what}: same status {again.status} but a different body "
                f"({_difference(first_body, again_body)})",
                first,
                again,
                expect=promise,
            )
        ]
    return []


def _same_answer(first: Exchange, again: Exchange) -> list[dict[str, Any]]:
    """Same status and the same body (the whole parsed JSON) in both exchanges."""
    return [
        x.compare(x.operand(again.id, status=True), "eq", x.operand(first.id, status=True)),
        x.same([first.id, again.id]),
    ]


def _difference(first: Any, again: Any) -> str:
    if isinstance(first, dict) and isinstance(again, dict):
        keys = sorted(k for k in set(first) | set(again) if first.get(k) != again.get(k))
        return "fields differ: " + ", ".join(keys[:6])
    return "bodies differ"


def search_total(exchange: Exchange) -> int | None:
    """The ``total`` of a ``GET /api/borrowers/search`` answer, or None when it has none."""
    if exchange.status != 200:
        return None
    body, problem = json_body(exchange)
    total = body.get("total") if not problem and isinstance(body, dict) else None
    return total if isinstance(total, int) and not isinstance(total, bool) else None


def count_change(
    requirement: str, before: Exchange, after: Exchange, *, expected: int, what: str
) -> list[Finding]:
    """Between two searches for the same marker, exactly ``expected`` resources appeared."""
    start, end = search_total(before), search_total(after)
    grew = _grew_by(before, after, expected)
    if start is None or end is None:
        bad = before if start is None else after
        return [
            fail(
                requirement,
                f"{what}: could not count: {describe(bad)} gave no total",
                bad,
                expect=[x.status_in(bad.id, [200]), x.json_type(bad.id, ["total"], "integer")],
            )
        ]
    if end - start != expected:
        return [
            fail(
                requirement,
                f"{what}: {end - start} resources were created, expected {expected}",
                before,
                after,
                expect=[grew],
            )
        ]
    return []


def _grew_by(before: Exchange, after: Exchange, expected: int) -> dict[str, Any]:
    """The search total of ``after`` is that of ``before`` plus ``expected``."""
    return x.compare(
        x.operand(after.id, ["total"]),
        "eq",
        x.operand(before.id, ["total"], add=[x.operand(value=expected)]),
    )


def changed_payload_refused(exchange: Exchange) -> list[Finding]:
    """DIGIFI-IDEM-04 (IETF idempotency draft, a SHOULD): a reused key with a different payload
    is refused with 422. DigiFi's own clause replays instead (DIGIFI-IDEM-05), so a vendor that
    keeps its own promise gets this warning."""
    if exchange.status == 422:
        return []
    return [
        fail(
            "DIGIFI-IDEM-04",
            f"a reused idempotency-key with a different payload answered {exchange.status}; the "
            "IETF idempotency-key draft would refuse it with 422 (DigiFi documents a replay of "
            "the saved result instead)",
            exchange,
            expect=[x.status_in(exchange.id, [422])],
        )
    ]


def _id_of(exchange: Exchange) -> str | None:
    body, problem = json_body(exchange)
    rid = body.get("id") if not problem and isinstance(body, dict) else None
    return rid if isinstance(rid, str) and rid else None


def _success(exchange: Exchange) -> bool:
    return exchange.status is not None and 200 <= exchange.status < 300


def new_resource_after_expiry(first: Exchange, later: Exchange) -> list[Finding]:
    """DIGIFI-IDEM-06: after the key's 6 hours the same request made a new resource: a success
    with an id other than the first request's. (Which 2xx it is, is DIGIFI-STATUS-01's concern.)"""
    what = "reuse of a 6-hour-old idempotency-key"
    promise = [
        x.status_between(later.id, 200, 299),
        x.json_matches(later.id, ["id"], NONEMPTY),
        x.distinct([first.id, later.id], ["id"]),
    ]
    if not _success(later) or _id_of(later) is None:
        got = later.status if later.status is not None else later.error
        return [
            fail(
                "DIGIFI-IDEM-06",
                f"{what}: {describe(later)} ({got}), no new resource",
                later,
                expect=promise[:2],
            )
        ]
    if _id_of(later) == _id_of(first):
        return [
            fail(
                "DIGIFI-IDEM-06",
                "a key reused after 6 hours still replayed the first result "
                f"(resource {_id_of(first)!r}); the seed says a new request is made",
                first,
                later,
                expect=promise,
            )
        ]
    return []


def concurrent_single_resource(
    exchanges: Sequence[Exchange], created: int | None, evidence: Sequence[Exchange] = ()
) -> list[Finding]:
    """DIGIFI-IDEM-07: N concurrent POSTs with one key created exactly one resource (``created``
    as counted by the caller); each answered a success naming that resource, or 409 while the
    first was in flight (IETF draft). Which 2xx it is, is DIGIFI-STATUS-01's concern."""
    findings: list[Finding] = []
    successes = [e for e in exchanges if _success(e)]
    other = [e for e in exchanges if not _success(e) and e.status != 409]
    if other:
        findings.append(
            fail(
                "DIGIFI-IDEM-07",
                f"{len(other)} of {len(exchanges)} concurrent requests with one key answered "
                f"neither a success nor 409 (first: {describe(other[0])})",
                *other[:3],
                expect=[
                    x.any_of(x.status_between(e.id, 200, 299), x.status_in(e.id, [409]))
                    for e in other[:3]
                ],
            )
        )
    ids = {_id_of(e) for e in successes}
    if len(ids) > 1:
        findings.append(
            fail(
                "DIGIFI-IDEM-07",
                f"concurrent requests with one key answered {len(ids)} different resources",
                *successes[:3],
                expect=[x.same([e.id for e in successes], ["id"])],
            )
        )
    # The caller counts with a search before and after (``evidence``): total grows by one.
    counted = [_grew_by(evidence[0], evidence[1], 1)] if len(evidence) == 2 else []
    if created is None:
        findings.append(
            fail(
                "DIGIFI-IDEM-07",
                "could not count the resources created",
                *evidence[:2],
                expect=[x.json_type(e.id, ["total"], "integer") for e in evidence[:2]],
            )
        )
    elif created != 1:
        findings.append(
            fail(
                "DIGIFI-IDEM-07",
                f"{len(exchanges)} concurrent requests with one key created {created} resources, "
                "expected exactly 1",
                *[*successes[:2], *evidence[:2]],
                expect=counted,
            )
        )
    return findings


def request_version(exchange: Exchange) -> str | None:
    """The api-version a request asked for (``MM/DD/YYYY`` as ``YYYY-MM-DD``); None when the
    request carried no api-version header."""
    for key, value in exchange.request_headers.items():
        if key.lower() == VERSION_HEADER:
            text = value.strip()
            us = _US_DATE.match(text)
            return f"{us.group(3)}-{us.group(1)}-{us.group(2)}" if us else text
    return None


def same_answer(
    requirement: str, default: Exchange, explicit: Exchange, what: str
) -> list[Finding]:
    """DIGIFI-VER-01 style: the request without api-version was answered exactly like the same
    request naming the default version (same status, equal JSON body)."""
    if default.status != explicit.status or _body_value(default) != _body_value(explicit):
        _, first_body = _body_value(default)
        _, second_body = _body_value(explicit)
        detail = (
            f"status {default.status} vs {explicit.status}"
            if default.status != explicit.status
            else _difference(first_body, second_body)
        )
        return [
            fail(
                requirement,
                f"{what}: without api-version the answer differs from api-version "
                f"{DEFAULT_VERSION} ({detail})",
                default,
                explicit,
                expect=_same_answer(explicit, default),
            )
        ]
    return []


class VersionedContract:
    """DIGIFI-VER-02 as an observer: each exchange is held to the OpenAPI document of the
    api-version it asked for (the default version when it sent none). Requests naming a version
    without a document are left to DIGIFI-VER-03."""

    def __init__(self, documents: Mapping[str, dict[str, Any]], requirement: str) -> None:
        self.requirement = requirement
        self.contracts = {v: OpenApiContract(doc, requirement) for v, doc in documents.items()}

    def check(self, exchange: Exchange) -> list[Finding]:
        """Findings of the exchange's own version's contract; [] for an unknown version or an
        incomplete response (left to the test that sent it)."""
        if exchange.error:
            return []
        version = request_version(exchange) or DEFAULT_VERSION
        contract = self.contracts.get(version)
        if contract is None:
            return []
        findings = contract.check(exchange)
        for finding in findings:
            finding.message = f"[api-version {version}] {finding.message}"
        return findings
