"""Digitzs sandbox rules: request validation, money and masking, from the seed alone.

Every helper raises :class:`Invalid` (answered as a JSON:API-like 4xx error) for input that breaks
a documented or inferred format. Nothing here does I/O; the endpoints live in ``digitzs.py``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

from apicert.sandbox.common import luhn_valid

__all__ = [
    "MAX_BODY",
    "Invalid",
    "aba_valid",
    "address",
    "amount",
    "boolean",
    "card",
    "choice",
    "day_bounds",
    "document",
    "fees",
    "mask",
    "mask_birth_date",
    "member",
    "obj",
    "parse_limit",
    "text",
]

MAX_BODY = 256 * 1024
AMOUNT = re.compile(r"[0-9]{1,11}")
MAX_AMOUNT = 10**10
PAYMENT_TYPES = ("card", "ACH", "token", "cardSplit", "cardRefund", "cardSplitRefund")
SEC_CODES = ("WEB", "PPD", "CCD", "TEL")
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
PHONE = re.compile(r"\+?[0-9]{10,15}")
STATE = re.compile(r"[A-Za-z]{2}")
ZIP = re.compile(r"[0-9]{5}(-[0-9]{4})?")
COUNTRY = re.compile(r"[A-Za-z]{3}")
NINE = re.compile(r"[0-9]{9}")
ACCOUNT = re.compile(r"[0-9]{4,17}")
PAN = re.compile(r"[0-9]{12,19}")
EXPIRY = re.compile(r"(0[1-9]|1[0-2])[0-9]{2}")
CVV = re.compile(r"[0-9]{3,4}")
BIRTH_DATE = re.compile(r"([0-9]{2})-([0-9]{2})-([0-9]{4})")
DAY = re.compile(r"[0-9]{8}")

TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Payload Too Large",
    500: "Internal Server Error",
}

# The documented card pricing: 2.9% (rate "2.90") plus a fixed 30 cents (fee "30").
RATE_PER_MILLE = 29
FIXED_FEE = 30


class Invalid(Exception):
    """A request the sandbox refuses: HTTP status, one-line detail, JSON pointer of the field."""

    def __init__(
        self, detail: str, pointer: str | None = None, *, status: int = 400, missing: bool = False
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.pointer = pointer
        self.status = status
        self.missing = missing


def document(raw: bytes, collection: str) -> dict[str, Any]:
    """The ``data.attributes`` object of a JSON:API-like body whose ``data.type`` is ``collection``.

    Malformed JSON, a non-object, a missing ``data``/``type``/``attributes`` answer 400; a
    ``type`` naming another collection answers 409 (the JSON:API rule for a type mismatch).
    """
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        raise Invalid("The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise Invalid("The request body must be a JSON object.", "")
    data = obj(body, "data", "")
    kind = member(data, "type", "/data")
    if not isinstance(kind, str):
        raise Invalid("/data/type must be a string.", "/data/type")
    if kind != collection:
        raise Invalid(f"/data/type must be {collection!r}.", "/data/type", status=409)
    return data


def member(parent: Mapping[str, Any], key: str, path: str) -> Any:
    """``parent[key]``; a missing member raises a 'required' :class:`Invalid`."""
    if key not in parent or parent[key] is None:
        raise Invalid(f"{path}/{key} is required.", f"{path}/{key}", missing=True)
    return parent[key]


def obj(parent: Mapping[str, Any], key: str, path: str) -> dict[str, Any]:
    """The JSON object at ``parent[key]``."""
    value = member(parent, key, path)
    if not isinstance(value, dict):
        raise Invalid(f"{path}/{key} must be an object.", f"{path}/{key}")
    return value


def _encodable(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def text(
    parent: Mapping[str, Any],
    key: str,
    path: str,
    *,
    max_len: int = 100,
    pattern: re.Pattern[str] | None = None,
    what: str = "",
    required: bool = True,
) -> str | None:
    """A non-empty string of at most ``max_len`` characters matching ``pattern`` (fullmatch)."""
    where = f"{path}/{key}"
    if not required and parent.get(key) is None:
        return None
    value = member(parent, key, path)
    if not isinstance(value, str):
        raise Invalid(f"{where} must be a string.", where)
    if not 1 <= len(value) <= max_len or not value.strip():
        raise Invalid(f"{where} must be 1 to {max_len} characters long.", where)
    if not _encodable(value):
        raise Invalid(f"{where} must be valid Unicode text.", where)
    if pattern is not None and not pattern.fullmatch(value):
        raise Invalid(f"{where} must be {what or 'well formed'}.", where)
    return value


def required_text(parent: Mapping[str, Any], key: str, path: str, **kwargs: Any) -> str:
    """:func:`text` for a required member (never None)."""
    value = text(parent, key, path, **kwargs)
    assert value is not None
    return value


def choice(
    parent: Mapping[str, Any],
    key: str,
    path: str,
    allowed: tuple[str, ...],
    *,
    required: bool = True,
) -> str | None:
    """One of ``allowed`` (compared case-insensitively), returned in its canonical spelling."""
    if not required and parent.get(key) is None:
        return None
    where = f"{path}/{key}"
    value = member(parent, key, path)
    if isinstance(value, str):
        for option in allowed:
            if value.lower() == option.lower():
                return option
    raise Invalid(f"{where} must be one of {', '.join(allowed)}.", where)


def boolean(parent: Mapping[str, Any], key: str, path: str) -> bool | None:
    """An optional JSON boolean."""
    value = parent.get(key)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise Invalid(f"{path}/{key} must be true or false.", f"{path}/{key}")
    return value


def amount(parent: Mapping[str, Any], key: str, path: str, *, minimum: int = 1) -> tuple[str, int]:
    """An amount in cents: a string of 1 to 11 digits worth ``minimum`` to ``MAX_AMOUNT``.

    Returns the string as sent (the seed echoes ``"001"``) and its value.
    """
    where = f"{path}/{key}"
    value = member(parent, key, path)
    if not isinstance(value, str):
        raise Invalid(f"{where} must be a string of digits (an amount in cents).", where)
    if not AMOUNT.fullmatch(value):
        raise Invalid(f"{where} must be a string of 1 to 11 digits (cents, no sign).", where)
    cents = int(value)
    if not minimum <= cents <= MAX_AMOUNT:
        raise Invalid(f"{where} must be from {minimum} to {MAX_AMOUNT} cents.", where)
    return value, cents


def aba_valid(routing: str) -> bool:
    """True when a nine-digit ABA routing number passes its 3-7-1 checksum."""
    weights = (3, 7, 1) * 3
    return sum(int(d) * w for d, w in zip(routing, weights, strict=True)) % 10 == 0


def address(parent: Mapping[str, Any], key: str, path: str, *, required: bool = True) -> Any:
    """A postal address (line1, line2?, city, state, zip, 3-letter country), or None if optional."""
    if not required and parent.get(key) is None:
        return None
    value = obj(parent, key, path)
    where = f"{path}/{key}"
    out = {
        "line1": text(value, "line1", where),
        "city": text(value, "city", where, max_len=50),
        "state": required_text(value, "state", where, pattern=STATE, what="two letters").upper(),
        "zip": text(value, "zip", where, max_len=10, pattern=ZIP, what="a 5-digit ZIP code"),
        "country": required_text(
            value, "country", where, pattern=COUNTRY, what="a three-letter country code"
        ).upper(),
    }
    line2 = text(value, "line2", where, required=False)
    if line2 is not None:
        out["line2"] = line2
    return out


def card(parent: Mapping[str, Any], key: str, path: str, *, cvv: bool) -> dict[str, Any]:
    """A payment card: holder, Luhn-valid number, MMYY expiry, and a CVV code when ``cvv``."""
    value = obj(parent, key, path)
    where = f"{path}/{key}"
    number = required_text(value, "number", where, max_len=19, pattern=PAN, what="12 to 19 digits")
    if not luhn_valid(number):
        raise Invalid(f"{where}/number is not a valid card number.", f"{where}/number")
    out: dict[str, Any] = {
        "holder": text(value, "holder", where, max_len=50),
        "number": number,
        "expiry": text(value, "expiry", where, max_len=4, pattern=EXPIRY, what="MMYY"),
    }
    if cvv:
        out["code"] = text(value, "code", where, max_len=4, pattern=CVV, what="3 or 4 digits")
    return out


def bank(parent: Mapping[str, Any], key: str, path: str) -> dict[str, Any]:
    """A bank account: type, name, 4-17 digit number, ABA-valid routing number."""
    value = obj(parent, key, path)
    where = f"{path}/{key}"
    routing = required_text(value, "routingNumber", where, max_len=9, pattern=NINE, what="9 digits")
    if not aba_valid(routing):
        raise Invalid(
            f"{where}/routingNumber is not a valid ABA routing number.", f"{where}/routingNumber"
        )
    out: dict[str, Any] = {
        "accountType": choice(value, "accountType", where, ("checking", "savings")),
        "accountName": text(value, "accountName", where),
        "accountNumber": text(
            value, "accountNumber", where, max_len=17, pattern=ACCOUNT, what="4 to 17 digits"
        ),
        "routingNumber": routing,
    }
    for optional in ("bankName", "country"):
        extra = text(value, optional, where, required=False)
        if extra is not None:
            out[optional] = extra
    return out


def birth_date(parent: Mapping[str, Any], key: str, path: str, today: date) -> str:
    """A birth date written ``MM-DD-YYYY`` (the seed's form), a real date in the past."""
    value = required_text(parent, key, path, max_len=10, pattern=BIRTH_DATE, what="MM-DD-YYYY")
    match = BIRTH_DATE.fullmatch(value)
    assert match is not None
    try:
        born = date(int(match[3]), int(match[1]), int(match[2]))
    except ValueError:
        raise Invalid(f"{path}/{key} is not a calendar date.", f"{path}/{key}") from None
    if born >= today:
        raise Invalid(f"{path}/{key} must be in the past.", f"{path}/{key}")
    return value


def fees(gross: int, *, floor: bool = False) -> dict[str, str]:
    """The card pricing of the seed: 2.9% rounded half up to a cent, plus 30 cents.

    ``grossMinusNet = (gross * 29 + 500) // 1000 + 30`` and ``net = gross - grossMinusNet``;
    the seed's example 999 gives 59 and 940. ``floor`` rounds down instead (a fault).
    """
    scaled = gross * RATE_PER_MILLE
    percentage = scaled // 1000 if floor else (scaled + 500) // 1000
    gross_minus_net = percentage + FIXED_FEE
    return {
        "gross": str(gross),
        "rate": "2.90",
        "fee": str(FIXED_FEE),
        "net": str(gross - gross_minus_net),
        "grossMinusNet": str(gross_minus_net),
    }


def mask(value: str) -> str:
    """``xxxx`` plus the last four characters (the seed's ``xxxx6789``)."""
    return "xxxx" + value[-4:]


def mask_birth_date(value: str) -> str:
    """``xxxx`` plus the year of an ``MM-DD-YYYY`` date (the seed's ``xxxx1981``)."""
    return "xxxx" + value[-4:]


def parse_limit(raw: str | None, default: int = 20, maximum: int = 100) -> int:
    """The ``limit`` query parameter: an integer from 1 to ``maximum`` (default ``default``)."""
    if raw is None:
        return default
    if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= maximum:
        raise Invalid(f"limit must be an integer from 1 to {maximum}.")
    return int(raw)


def day_bounds(raw: str | None, name: str, *, end: bool) -> float | None:
    """POSIX bounds of a ``YYYYMMDD`` UTC day: its start, or (``end``) the start of the next day."""
    if raw is None:
        return None
    if not raw.isascii() or not DAY.fullmatch(raw):
        raise Invalid(f"{name} must be a date written YYYYMMDD.")
    try:
        day = datetime(int(raw[:4]), int(raw[4:6]), int(raw[6:]), tzinfo=UTC)
    except ValueError:
        raise Invalid(f"{name} is not a calendar date.") from None
    return day.timestamp() + (86400 if end else 0)
