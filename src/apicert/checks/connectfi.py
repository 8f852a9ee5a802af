"""connectFi checks: the response envelope and error shape (seed 002; vendor error pages)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from apicert import expect as x
from apicert.checks.base import NONEMPTY, describe, fail, json_body
from apicert.model import Exchange, Finding

__all__ = [
    "RequestIdLedger",
    "envelope",
    "error_envelope",
    "parse_expiry",
    "refused",
    "success_envelope",
    "token_response",
    "unique_request_ids",
]

SUCCESS_CODE = "0"
# An error code: a non-empty string other than the success code "0".
ERROR_CODE = r"(?!0\Z)[\s\S]*\S[\s\S]*"
# An ISO 8601 date-time (what parse_expiry accepts in practice).
ISO_TIME = (
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?"
    r"(Z|[+-][0-9]{2}:?[0-9]{2})?"
)


def _request_id(body: object) -> object:
    return body.get("requestId") if isinstance(body, dict) else None


def success_envelope(exchange: Exchange) -> list[Finding]:
    """Check a 2xx answer: status 200/201 (ENV-07), code "0" (ENV-01), object data (ENV-02),
    non-empty requestId (ENV-03)."""
    where = describe(exchange)
    findings: list[Finding] = []
    if exchange.status not in (200, 201):
        findings.append(
            fail(
                "CONNECTFI-ENV-07",
                f"{where}: success must be 200 or 201",
                exchange,
                expect=[x.status_in(exchange.id, [200, 201])],
            )
        )
    body, problem = json_body(exchange)
    if problem:
        findings.append(
            fail(
                "CONNECTFI-ENV-01",
                f"{where}: {problem}",
                exchange,
                expect=[x.json_body(exchange.id)],
            )
        )
        return findings
    if not isinstance(body, dict):
        findings.append(
            fail(
                "CONNECTFI-ENV-01",
                f"{where}: body is {type(body).__name__}, not an object",
                exchange,
                expect=[x.json_type(exchange.id, [], "object")],
            )
        )
        return findings
    code = body.get("code", "<missing>")
    if code != SUCCESS_CODE:
        findings.append(
            fail(
                "CONNECTFI-ENV-01",
                f'{where}: code is {code!r} ({type(code).__name__}), not the string "0"',
                exchange,
                expect=[x.json_equals(exchange.id, ["code"], SUCCESS_CODE)],
            )
        )
    data = body.get("data", "<missing>")
    if not isinstance(data, dict):
        kind = "missing" if data == "<missing>" else type(data).__name__
        findings.append(
            fail(
                "CONNECTFI-ENV-02",
                f"{where}: data is {kind}, not an object",
                exchange,
                expect=[x.json_type(exchange.id, ["data"], "object")],
            )
        )
    findings.extend(_request_id_present(exchange, body, where))
    return findings


def _request_id_present(exchange: Exchange, body: dict[str, object], where: str) -> list[Finding]:
    rid = body.get("requestId")
    if not isinstance(rid, str) or not rid.strip():
        return [
            fail(
                "CONNECTFI-ENV-03",
                f"{where}: requestId is {rid!r}, not a non-empty string",
                exchange,
                expect=[x.json_matches(exchange.id, ["requestId"], NONEMPTY)],
            )
        ]
    return []


def error_envelope(exchange: Exchange) -> list[Finding]:
    """Check an answer with status >= 300: string code other than "0", string message,
    non-empty requestId (ENV-06, ENV-03)."""
    where = describe(exchange)
    body, problem = json_body(exchange)
    shape = [
        x.json_body(exchange.id),
        x.json_matches(exchange.id, ["code"], ERROR_CODE),
        x.json_matches(exchange.id, ["message"], NONEMPTY),
    ]
    if problem:
        return [fail("CONNECTFI-ENV-06", f"{where}: {problem}", exchange, expect=shape)]
    if not isinstance(body, dict):
        return [
            fail(
                "CONNECTFI-ENV-06",
                f"{where}: error body is {type(body).__name__}, not an object",
                exchange,
                expect=[x.json_type(exchange.id, [], "object"), *shape[1:]],
            )
        ]
    findings: list[Finding] = []
    code = body.get("code")
    if not isinstance(code, str) or not code or code == SUCCESS_CODE:
        findings.append(
            fail(
                "CONNECTFI-ENV-06",
                f"{where}: error code is {code!r}, not a short name",
                exchange,
                expect=[shape[1]],
            )
        )
    message = body.get("message")
    if not isinstance(message, str) or not message.strip():
        findings.append(
            fail(
                "CONNECTFI-ENV-06",
                f"{where}: error message is {message!r}",
                exchange,
                expect=[shape[2]],
            )
        )
    findings.extend(_request_id_present(exchange, body, where))
    return findings


def envelope(exchange: Exchange) -> list[Finding]:
    """Check any answer: the success or error envelope by status, and that 2xx comes only with
    code "0" (ENV-05). An exchange with no response gives a finding on ENV-06."""
    if exchange.status is None:
        return [
            fail(
                "CONNECTFI-ENV-06",
                f"{describe(exchange)}: {exchange.error}",
                exchange,
                expect=[x.json_body(exchange.id)],
            )
        ]
    if 200 <= exchange.status < 300:
        body, _ = json_body(exchange)
        code = body.get("code") if isinstance(body, dict) else None
        if isinstance(code, str) and code != SUCCESS_CODE:
            return [
                fail(
                    "CONNECTFI-ENV-05",
                    f"{describe(exchange)}: status {exchange.status} with error code {code!r}",
                    exchange,
                    # The answer names an error: a conformant vendor says so with an error status.
                    expect=[x.status_between(exchange.id, 300, 599)],
                )
            ]
        return success_envelope(exchange)
    return error_envelope(exchange)


def unique_request_ids(exchanges: Iterable[Exchange]) -> list[Finding]:
    """Check that no two responses carry the same requestId (ENV-04)."""
    ledger = RequestIdLedger()
    for exchange in exchanges:
        findings = ledger.observe(exchange)
        if findings:
            return findings
    return []


def refused(
    requirement: str, exchange: Exchange, *, status: int | None = None, code: str | None = None
) -> list[Finding]:
    """Check that a request was refused: status >= 300 (or exactly ``status``) and, when given,
    the error ``code``."""
    where = describe(exchange)
    promise = [
        x.status_in(exchange.id, [status])
        if status is not None
        else x.status_between(exchange.id, 300, 599)
    ]
    if code is not None:
        promise.append(x.json_equals(exchange.id, ["code"], code))
    if exchange.status is None:
        return [fail(requirement, f"{where}: {exchange.error}", exchange, expect=promise)]
    if exchange.status < 300:
        return [
            fail(requirement, f"{where}: accepted, but must be refused", exchange, expect=promise)
        ]
    if status is not None and exchange.status != status:
        return [
            fail(
                requirement,
                f"{where}: refused with {exchange.status}, expected {status}",
                exchange,
                expect=promise,
            )
        ]
    if code is not None:
        body, _ = json_body(exchange)
        got = body.get("code") if isinstance(body, dict) else None
        if got != code:
            return [
                fail(
                    requirement,
                    f"{where}: error code {got!r}, expected {code!r}",
                    exchange,
                    expect=promise,
                )
            ]
    return []


def parse_expiry(value: object) -> datetime | None:
    """Parse ``dtsExpireAt`` (ISO 8601) into an aware datetime; None when it is not one."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def token_response(exchange: Exchange, *, now: datetime) -> list[Finding]:
    """Check a get-token answer: data.token non-empty, data.dtsExpireAt an ISO time after
    ``now`` (AUTH-03)."""
    where = describe(exchange)
    token_is = x.json_matches(exchange.id, ["data", "token"], NONEMPTY)
    expiry_is = x.json_matches(exchange.id, ["data", "dtsExpireAt"], ISO_TIME)
    promise = [x.json_body(exchange.id), x.json_type(exchange.id, ["data"], "object")]
    body, problem = json_body(exchange)
    if problem:
        return [fail("CONNECTFI-AUTH-03", f"{where}: {problem}", exchange, expect=promise)]
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, dict):
        return [fail("CONNECTFI-AUTH-03", f"{where}: no data object", exchange, expect=promise[1:])]
    findings: list[Finding] = []
    token = data.get("token")
    if not isinstance(token, str) or not token:
        findings.append(
            fail(
                "CONNECTFI-AUTH-03",
                f"{where}: data.token missing or empty",
                exchange,
                expect=[token_is],
            )
        )
    expiry = parse_expiry(data.get("dtsExpireAt"))
    if expiry is None:
        findings.append(
            fail(
                "CONNECTFI-AUTH-03",
                f"{where}: data.dtsExpireAt is {data.get('dtsExpireAt')!r}, not an ISO time",
                exchange,
                expect=[expiry_is],
            )
        )
    elif expiry <= now:
        # "After now" depends on the clock of the run: not expressible as a replayable promise.
        findings.append(
            fail(
                "CONNECTFI-AUTH-03",
                f"{where}: dtsExpireAt {expiry.isoformat()} is not in the future",
                exchange,
            )
        )
    return findings


class RequestIdLedger:
    """Remembers every requestId seen so far and reports the first repeat (ENV-04).

    Holds only requestId -> (exchange id, method, url, status) as one small tuple per answer (a
    whole Exchange object each made a long run's memory grow ~0.5 KB per answer; issue 8).
    """

    def __init__(self) -> None:
        self._seen: dict[str, tuple[str, str, str, int | None]] = {}

    def observe(self, exchange: Exchange) -> list[Finding]:
        """Record ``exchange``'s requestId; return a finding when an earlier response had it."""
        body, problem = json_body(exchange)
        rid = _request_id(body) if problem is None else None
        if not isinstance(rid, str) or not rid:
            return []
        seen = self._seen.get(rid)
        if seen is not None:
            first = Exchange(
                id=seen[0], method=seen[1], url=seen[2], request_headers={}, request_body=None,
                status=seen[3],
            )  # fmt: skip
            return [
                fail(
                    "CONNECTFI-ENV-04",
                    f"requestId {rid!r} answered both {describe(first)} and {describe(exchange)}",
                    first,
                    exchange,
                    expect=[x.distinct([first.id, exchange.id], ["requestId"])],
                )
            ]
        self._seen[rid] = (exchange.id, exchange.method, exchange.url, exchange.status)
        return []
