"""Digitzs checks: the JSON:API-like envelope, lists, fees, masks and refusals (seed 001).

Pure functions over recorded exchanges. The fee rule is derived here from the seed on its own
(2.9 % + 30 cents, rounded half up as the seed's examples show), never shared with the sandbox.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

from apicert import expect as x
from apicert.checks.base import NONEMPTY, describe, fail, json_body
from apicert.model import Exchange, Finding

__all__ = [
    "COLLECTIONS",
    "card_fees",
    "collection_of",
    "data_of",
    "envelope",
    "expected_fee",
    "list_page",
    "masked_details",
    "more_consistent",
    "net_balances",
    "owned_by",
    "refused",
    "within_dates",
]

COLLECTIONS = ("auth", "merchants", "payments", "customers", "tokens")
RATE = "2.90"
FIXED_FEE = 30  # cents
_CENTS = re.compile(r"^[0-9]+$")
_MASKED = re.compile(r"^x{2,}[^x]{0,4}$")
MASKED = r"x{2,}[^x]{0,4}"
MAX_DATE_RANGE = 62  # days: a longer date filter gets no expectation (the pattern would be huge)


def collection_of(exchange: Exchange) -> str | None:
    """The Digitzs collection a request addresses (first path segment), or None."""
    parts = [p for p in exchange.path.split("/") if p]
    for part in parts:
        if part in COLLECTIONS:
            return part
    return None


def _is_list(exchange: Exchange, collection: str) -> bool:
    parts = [p for p in exchange.path.split("/") if p]
    return exchange.method == "GET" and collection != "auth" and parts[-1:] == [collection]


def data_of(exchange: Exchange) -> Any:
    """``data`` of a JSON body (None when absent or the body is not JSON)."""
    try:
        body = exchange.json()
    except ValueError:
        return None
    return body.get("data") if isinstance(body, dict) else None


def _query(exchange: Exchange, name: str) -> str | None:
    values = parse_qs(urlsplit(exchange.url).query).get(name)
    return values[0] if values else None


def _ok(exchange: Exchange) -> bool:
    return exchange.status is not None and 200 <= exchange.status < 300


def envelope(exchange: Exchange) -> list[Finding]:
    """Observer: a 2xx Digitzs answer is ``{"data": ...}`` whose type is the collection
    (ENV-01), resources carry a non-empty string id (ENV-02), and lists are well formed
    (LIST-01, LIST-02). Other exchanges are ignored."""
    collection = collection_of(exchange)
    if collection is None or not _ok(exchange):
        return []
    where = describe(exchange)
    ex = exchange.id
    body, problem = json_body(exchange)
    if problem:
        return [fail("DIGITZS-ENV-01", f"{where}: {problem}", exchange, expect=[x.json_body(ex)])]
    data = body.get("data") if isinstance(body, dict) else None
    if _is_list(exchange, collection):
        if not isinstance(data, list):
            return [
                fail(
                    "DIGITZS-ENV-01",
                    f"{where}: a list answer needs a data array",
                    exchange,
                    expect=[x.json_type(ex, ["data"], "array")],
                )
            ]
        findings = list_page(exchange)
        for index, item in enumerate(data):
            findings.extend(
                _resource(exchange, item, collection, f"{where}: data[{index}]", ["data", index])
            )
        return findings
    if not isinstance(data, dict):
        return [
            fail(
                "DIGITZS-ENV-01",
                f"{where}: body has no data object",
                exchange,
                expect=[x.json_type(ex, ["data"], "object")],
            )
        ]
    return _resource(exchange, data, collection, where, ["data"])


def _resource(
    exchange: Exchange, item: Any, collection: str, where: str, path: list[str | int]
) -> list[Finding]:
    ex = exchange.id
    if not isinstance(item, dict):
        return [
            fail(
                "DIGITZS-ENV-01",
                f"{where} is {type(item).__name__}, not an object",
                exchange,
                expect=[x.json_type(ex, path, "object")],
            )
        ]
    findings: list[Finding] = []
    kind = item.get("type")
    if kind != collection:
        findings.append(
            fail(
                "DIGITZS-ENV-01",
                f"{where}: type is {kind!r}, not {collection!r}",
                exchange,
                expect=[x.json_equals(ex, [*path, "type"], collection)],
            )
        )
    if collection != "auth":
        # The seed's merchant detail names its id partnerId; every other answer names it id.
        ident = item.get("id", item.get("partnerId") if collection == "merchants" else None)
        if not isinstance(ident, str) or not ident.strip():
            key = "partnerId" if "id" not in item and "partnerId" in item else "id"
            findings.append(
                fail(
                    "DIGITZS-ENV-02",
                    f"{where}: id is {ident!r}, not a non-empty string",
                    exchange,
                    expect=[x.json_matches(ex, [*path, key], NONEMPTY)],
                )
            )
    return findings


def list_page(exchange: Exchange, limit: int | None = None) -> list[Finding]:
    """A list answer has meta {items, limit, more} with items == len(data) <= limit (LIST-01),
    and honours the request's ``limit`` query parameter (or ``limit``) (LIST-02)."""
    where = describe(exchange)
    ex = exchange.id
    shape = [x.json_type(ex, ["meta"], "object"), x.json_type(ex, ["data"], "array")]
    body, problem = json_body(exchange)
    if problem or not isinstance(body, dict):
        return [
            fail(
                "DIGITZS-LIST-01",
                f"{where}: {problem or 'body is not an object'}",
                exchange,
                expect=[x.json_body(ex), *shape],
            )
        ]
    meta, data = body.get("meta"), body.get("data")
    if not isinstance(meta, dict) or not isinstance(data, list):
        return [
            fail(
                "DIGITZS-LIST-01",
                f"{where}: needs meta object and data array",
                exchange,
                expect=shape,
            )
        ]
    items, meta_limit, more = meta.get("items"), _int(meta.get("limit")), meta.get("more")
    counted = [
        x.json_type(ex, ["meta", "items"], "integer"),
        x.compare(x.operand(ex, ["meta", "items"]), "eq", x.operand(ex, ["data"], length=True)),
        x.compare(
            x.operand(ex, ["meta", "items"]), "le", x.operand(ex, ["meta", "limit"], number=True)
        ),
    ]
    findings: list[Finding] = []
    if not isinstance(items, int) or isinstance(items, bool) or meta_limit is None:
        findings.append(
            fail(
                "DIGITZS-LIST-01",
                f"{where}: meta.items/limit are not numbers: {meta}",
                exchange,
                expect=counted,
            )
        )
    elif items != len(data) or items > meta_limit:
        findings.append(
            fail(
                "DIGITZS-LIST-01",
                f"{where}: meta.items {items} with {len(data)} entries and limit {meta_limit}",
                exchange,
                expect=counted,
            )
        )
    if not isinstance(more, bool):
        findings.append(
            fail(
                "DIGITZS-LIST-01",
                f"{where}: meta.more is {more!r}",
                exchange,
                expect=[x.json_type(ex, ["meta", "more"], "boolean")],
            )
        )
    from_query = limit is None
    requested = limit if limit is not None else _int(_query(exchange, "limit"))
    if requested is not None:
        asked = (
            x.operand(ex, query="limit", number=True) if from_query else x.operand(value=requested)
        )
        if meta_limit is not None and meta_limit != requested:
            findings.append(
                fail(
                    "DIGITZS-LIST-02",
                    f"{where}: meta.limit {meta_limit} but the request asked for {requested}",
                    exchange,
                    expect=[x.compare(x.operand(ex, ["meta", "limit"], number=True), "eq", asked)],
                )
            )
        if len(data) > requested:
            findings.append(
                fail(
                    "DIGITZS-LIST-02",
                    f"{where}: {len(data)} entries for limit {requested}",
                    exchange,
                    expect=[x.compare(x.operand(ex, ["data"], length=True), "le", asked)],
                )
            )
    return findings


def _int(value: Any) -> int | None:
    """An integer, or a string of digits (the seed shows "limit": "25" once)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and _CENTS.match(value):
        return int(value)
    return None


def _page(exchange: Exchange) -> tuple[list[Any], Any]:
    try:
        body = exchange.json()
    except ValueError:
        return [], None
    if not isinstance(body, dict):
        return [], None
    data = body.get("data")
    meta = body.get("meta")
    return (data if isinstance(data, list) else []), (
        meta.get("more") if isinstance(meta, dict) else None
    )


def more_consistent(small: Exchange, large: Exchange) -> list[Finding]:
    """LIST-03: ``small`` (a smaller limit) says more=true exactly when ``large`` (a larger
    limit, same filter) returns more entries."""
    small_data, more = _page(small)
    large_data, _ = _page(large)
    grew = len(large_data) > len(small_data)
    if more is True and not grew:
        message = (
            f"more=true with {len(small_data)} entries, but a larger limit returns "
            f"{len(large_data)}"
        )
    elif more is False and grew:
        message = (
            f"more=false with {len(small_data)} entries, but a larger limit returns "
            f"{len(large_data)}"
        )
    elif more is None:
        message = "the smaller page has no boolean meta.more"
    else:
        return []
    # The promise in the situation seen: more=true exactly when the larger page has more entries.
    situation = x.compare(
        x.operand(large.id, ["data"], length=True),
        "gt" if grew else "le",
        x.operand(small.id, ["data"], length=True),
    )
    promise = [x.json_equals(small.id, ["meta", "more"], grew), situation]
    return [fail("DIGITZS-LIST-03", f"{describe(small)}: {message}", small, large, expect=promise)]


def owned_by(exchange: Exchange, field: str, owner: str) -> list[Finding]:
    """LIST-04: every listed entry names ``owner`` in ``attributes.<field>``."""
    entries, _ = _page(exchange)
    bad = [
        i
        for i, e in enumerate(entries)
        if not isinstance(e, dict) or (e.get("attributes") or {}).get(field) != owner
    ]
    if not bad:
        return []
    # The owner is the request's id= parameter (a run's id): compared, never written literally.
    owner_is = (
        [
            x.each(
                exchange.id,
                ["data"],
                ["attributes", field],
                cmp="eq",
                right=x.operand(exchange.id, query="id"),
            )
        ]
        if _query(exchange, "id") == owner
        else []
    )
    return [
        fail(
            "DIGITZS-LIST-04",
            f"{describe(exchange)}: entries {bad[:5]} do not belong to the {field} asked for",
            exchange,
            expect=owner_is,
        )
    ]


def _created_day(value: Any) -> date | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC).date()
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC).date()
        except ValueError:
            return None
    return None


def within_dates(exchange: Exchange, start: date, end: date) -> list[Finding]:
    """LIST-05: every listed payment was created between ``start`` and ``end`` (inclusive)."""
    entries, _ = _page(exchange)
    outside = []
    for index, entry in enumerate(entries):
        created = (
            (entry.get("attributes") or {}).get("created") if isinstance(entry, dict) else None
        )
        day = _created_day(created)
        if day is None or not start <= day <= end:
            outside.append(f"data[{index}] created {created!r}")
    if not outside:
        return []
    return [
        fail(
            "DIGITZS-LIST-05",
            f"{describe(exchange)}: outside {start:%Y%m%d}..{end:%Y%m%d}: {', '.join(outside[:3])}",
            exchange,
            expect=_created_within(exchange.id, start, end),
        )
    ]


def _created_within(ex: str, start: date, end: date) -> list[dict[str, Any]]:
    """Every listed entry's attributes.created is an ISO time (UTC) on a day of start..end
    (the days are the request's own start/end parameters, re-sent as they were)."""
    days = (end - start).days + 1
    if not 0 < days <= MAX_DATE_RANGE:
        return []
    names = [date.fromordinal(start.toordinal() + n).isoformat() for n in range(days)]
    pattern = f"(?:{'|'.join(names)})T[^+-]*(Z|[+-]00:?00)?"
    return [x.each(ex, ["data"], ["attributes", "created"], pattern=pattern)]


def refused(requirement: str, exchange: Exchange, statuses: Iterable[int]) -> list[Finding]:
    """The request was refused with one of ``statuses``."""
    allowed = tuple(statuses)
    if exchange.status in allowed:
        return []
    got = exchange.status if exchange.status is not None else exchange.error
    wanted = " or ".join(map(str, allowed))
    return [
        fail(
            requirement,
            f"{describe(exchange)}: expected {wanted}, got {got}",
            exchange,
            expect=[x.status_in(exchange.id, list(allowed))],
        )
    ]


def expected_fee(gross: int) -> int:
    """grossMinusNet for a card payment of ``gross`` cents: 2.9 % rounded half up, plus 30
    (seed examples: 999 -> 59, 500 -> 45, 100 -> 33)."""
    return (gross * 29 + 500) // 1000 + FIXED_FEE


def _transaction(exchange: Exchange) -> dict[str, Any]:
    data = data_of(exchange)
    attributes = data.get("attributes") if isinstance(data, dict) else None
    transaction = attributes.get("transaction") if isinstance(attributes, dict) else None
    return transaction if isinstance(transaction, dict) else {}


def _cents(value: Any) -> int | None:
    return int(value) if isinstance(value, str) and _CENTS.match(value) else None


def card_fees(exchange: Exchange, amount: int) -> list[Finding]:
    """MONEY-01: a card payment of ``amount`` cents answers amount and gross as that string of
    cents, rate "2.90", fee "30" and grossMinusNet = expected_fee(amount)."""
    tx = _transaction(exchange)
    where = describe(exchange)
    problems = []
    for name in ("amount", "gross"):
        if _cents(tx.get(name)) != amount:
            problems.append(f"{name} {tx.get(name)!r} (sent {amount})")
    if tx.get("rate") != RATE:
        problems.append(f"rate {tx.get('rate')!r}, not {RATE!r}")
    if tx.get("fee") != str(FIXED_FEE):
        problems.append(f"fee {tx.get('fee')!r}, not '30'")
    want = expected_fee(amount)
    if _cents(tx.get("grossMinusNet")) != want:
        problems.append(
            f"grossMinusNet {tx.get('grossMinusNet')!r}, 2.9% + 30c of {amount} is {want}"
        )
    if not problems:
        return []
    tx_path = ["data", "attributes", "transaction"]
    promise = [
        x.json_equals(exchange.id, [*tx_path, "amount"], str(amount)),
        x.json_equals(exchange.id, [*tx_path, "gross"], str(amount)),
        x.json_equals(exchange.id, [*tx_path, "rate"], RATE),
        x.json_equals(exchange.id, [*tx_path, "fee"], str(FIXED_FEE)),
        x.json_equals(exchange.id, [*tx_path, "grossMinusNet"], str(want)),
    ]
    return [fail("DIGITZS-MONEY-01", f"{where}: {'; '.join(problems)}", exchange, expect=promise)]


def _signed_cents(value: Any) -> int | None:
    if isinstance(value, str) and re.fullmatch(r"-?[0-9]+", value):
        return int(value)
    return None


def net_balances(exchange: Exchange) -> list[Finding]:
    """MONEY-02: net + grossMinusNet == gross on a card payment's transaction."""
    tx = _transaction(exchange)
    gross = _signed_cents(tx.get("gross"))
    net = _signed_cents(tx.get("net"))
    cut = _signed_cents(tx.get("grossMinusNet"))
    if gross is None or net is None or cut is None:
        message = f"gross/net/grossMinusNet are {tx.get('gross')!r}/{tx.get('net')!r}/" + repr(
            tx.get("grossMinusNet")
        )
    elif net + cut != gross:
        message = f"net {net} + grossMinusNet {cut} = {net + cut}, not gross {gross}"
    else:
        return []
    tx_path = ["data", "attributes", "transaction"]
    balanced = x.compare(
        x.operand(
            exchange.id,
            [*tx_path, "net"],
            add=[x.operand(exchange.id, [*tx_path, "grossMinusNet"])],
        ),
        "eq",
        x.operand(exchange.id, [*tx_path, "gross"], number=True),
    )
    return [
        fail("DIGITZS-MONEY-02", f"{describe(exchange)}: {message}", exchange, expect=[balanced])
    ]


_MASK_KEYS = {"socialSecurity", "birthDate", "ein", "accountNumber", "routingNumber"}


def _mask_problems(
    value: Any,
    path: str,
    out: list[str],
    steps: list[str | int],
    masks: list[tuple[list[Any], str]],
) -> None:
    if isinstance(value, dict):
        for key, child in value.items():
            where = f"{path}.{key}"
            if key in _MASK_KEYS or (key == "number" and path.endswith(".card")):
                if isinstance(child, str) and child and not _MASKED.match(child):
                    out.append(f"{where} is not masked as xxxx + last four")
                    masks.append(([*steps, key], MASKED))
            elif key == "code" and path.endswith(".card"):
                if isinstance(child, str) and child and set(child) != {"x"}:
                    out.append(f"{where} (CVV) is not masked as xxx")
                    masks.append(([*steps, key], "x+"))
            else:
                _mask_problems(child, where, out, [*steps, key], masks)
    elif isinstance(value, list):
        for index, child in enumerate(value):
            _mask_problems(child, f"{path}[{index}]", out, [*steps, index], masks)


def masked_details(exchange: Exchange) -> list[Finding]:
    """MASK-02 observer: in any 2xx Digitzs answer, socialSecurity, birthDate, ein,
    accountNumber, routingNumber and card.number show at most four characters after "xxxx",
    and card.code (the CVV) is all "x"."""
    if collection_of(exchange) is None or not _ok(exchange):
        return []
    try:
        body = exchange.json()
    except ValueError:
        return []
    problems: list[str] = []
    masks: list[tuple[list[Any], str]] = []
    _mask_problems(body, "$", problems, [], masks)
    if not problems:
        return []
    return [
        fail(
            "DIGITZS-MASK-02",
            f"{describe(exchange)}: {'; '.join(problems[:4])}",
            exchange,
            expect=[x.json_matches(exchange.id, path, pattern) for path, pattern in masks],
        )
    ]
