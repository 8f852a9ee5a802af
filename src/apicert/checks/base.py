"""Small helpers shared by all checks."""

from __future__ import annotations

from typing import Any

from apicert.expect import exchange_ids
from apicert.model import Exchange, Finding, Status

__all__ = ["NONEMPTY", "REFUSED", "data_object", "describe", "fail", "json_body", "review"]

# A string with at least one non-blank character (``json_matches`` fullmatches it).
NONEMPTY = r"[\s\S]*\S[\s\S]*"
# "Refused": any error status (the lowest and highest codes of ``status_between``).
REFUSED = (400, 599)


def describe(exchange: Exchange) -> str:
    """Return ``METHOD /path -> status`` for messages."""
    status = exchange.status if exchange.status is not None else "no response"
    return f"{exchange.method} {exchange.path} -> {status}"


def fail(
    requirement: str,
    message: str,
    *exchanges: Exchange,
    expect: list[dict[str, Any]] | None = None,
) -> Finding:
    """Return a failed finding for ``requirement`` with the exchanges as evidence and, when
    given, the assertions (``apicert.expect`` vocabulary) a conformant answer satisfies. Every
    exchange an expectation names is evidence too (so the report keeps what a repro needs)."""
    evidence = [e.id for e in exchanges]
    for expectation in expect or []:
        evidence += [i for i in exchange_ids(expectation) if i not in evidence]
    return Finding(requirement, Status.FAILED, message, evidence, list(expect or []))


def review(requirement: str, message: str, *exchanges: Exchange) -> Finding:
    """Return a finding that needs a person to look at the evidence."""
    return Finding(requirement, Status.REVIEW, message, [e.id for e in exchanges])


def data_object(exchange: Exchange) -> dict[str, Any]:
    """The ``data`` object of a JSON answer; {} when the body is not JSON or has none."""
    try:
        body = exchange.json()
    except ValueError:
        return {}
    data = body.get("data") if isinstance(body, dict) else None
    return data if isinstance(data, dict) else {}


def json_body(exchange: Exchange) -> tuple[Any, str | None]:
    """Return ``(parsed body, None)`` or ``(None, reason it is not usable JSON)``."""
    if exchange.error:
        return None, f"no complete response: {exchange.error}"
    if exchange.response_body is None or exchange.response_body == "":
        return None, "empty body where JSON was promised"
    if exchange.decode_error:
        return None, exchange.decode_error
    content_type = (exchange.header("content-type") or "").lower()
    try:
        parsed = exchange.json()
    except ValueError as exc:
        snippet = exchange.response_body[:60].replace("\n", " ")
        return None, f"body is not JSON ({exc.__class__.__name__}; starts {snippet!r})"
    if "json" not in content_type:
        return None, f"JSON body sent with Content-Type {content_type or '(none)'!r}"
    return parsed, None
