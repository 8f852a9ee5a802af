"""Masking of secrets and card/identity data before anything is written or printed.

Three layers, applied together by :class:`Redactor`:

1. *known values*: every credential, token and sensitive test datum the harness sends or receives
   is registered, and any occurrence of it in any text is replaced;
2. *names*: header names and JSON keys that carry secrets (api keys, tokens, passwords) are blanked,
   and keys that carry identity numbers (SSN, EIN, account, routing, card, CVV, birth date) keep at
   most their last four characters;
3. *patterns*: card-like digit runs (13-19 digits passing Luhn) and SSN-shaped numbers are masked
   wherever they appear, even if nobody registered them.

PCI DSS 3.4 allows the last four digits to be shown; we never show more.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, quote_plus

__all__ = ["Redactor", "luhn_valid", "mask_tail"]

SECRET_HEADERS = frozenset(
    {
        "api-key",
        "x-api-key",
        "authorization",
        "proxy-authorization",
        "x-connectfi-token",
        "cookie",
        "set-cookie",
        "appkey",
        "x-app-key",
    }
)

# JSON keys compared after lower-casing and dropping "_" and "-".
SECRET_KEYS = frozenset(
    {
        "password",
        "pass",
        "secret",
        "token",
        "apptoken",
        "appkey",
        "apikey",
        "accesstoken",
        "refreshtoken",
        "clientsecret",
        "authorization",
    }
)
IDENTITY_KEYS = frozenset(
    {
        "ssn",
        "socialsecurity",
        "socialsecuritynumber",
        "taxid",
        "ein",
        "fein",
        "itin",
        "accountnumber",
        "routingnumber",
        "cardnumber",
        "pan",
        "cvv",
        "cvc",
        "birthdate",
        "dateofbirth",
        "dob",
    }
)

# A bare run of 13-19 digits, or 4-digit groups split by one consistent space or dash (the way
# cards are printed). Group-wise matching keeps "2024-11-21 4111..." from swallowing the date.
_DIGIT_RUN = re.compile(
    r"(?<![0-9])(?:\d{13,19}|\d{4}([ -])\d{4}\1\d{4}\1\d{1,7}|\d{4}([ -])\d{6}\2\d{5})(?![0-9])"
)
_DIGITS = re.compile(r"(?<![0-9])\d{5,}(?![0-9])")
_SSN = re.compile(r"(?<![0-9A-Za-z-])\d{3}-\d{2}-\d{4}(?![0-9A-Za-z-])")
_MIN_KNOWN = 4
_ANY_DIGIT = re.compile(r"\d")
_REDACTED = "[REDACTED]"


def _norm(key: str) -> str:
    return key.lower().replace("_", "").replace("-", "")


def luhn_valid(digits: str) -> bool:
    """Return True when the digit string passes the Luhn checksum (non-digits are ignored)."""
    nums = [int(c) for c in digits if c.isdigit()]
    if len(nums) < 2:
        return False
    total = 0
    for index, value in enumerate(reversed(nums)):
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def mask_tail(value: str, keep: int = 4) -> str:
    """Return ``value`` with every character but the last ``keep`` replaced by ``x``.

    Values of ``keep`` characters or fewer are masked completely.
    """
    if len(value) <= keep:
        return "x" * len(value)
    return "x" * (len(value) - keep) + value[-keep:]


class Redactor:
    """Masks secrets and card/identity data in headers, JSON bodies and free text.

    Thread-safe: exchanges are recorded from the sandbox threads and worker threads alike.
    """

    def __init__(self, known: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._secrets: set[str] = set()
        self._identity: set[str] = set()
        # Identity numbers that are plain digits (account, routing, SSN, EIN) are matched by a
        # set lookup on every digit run, so thousands of generated ones cost no regex growth.
        self._identity_digits: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        for value in known:
            self.add_secret(value)

    def add_secret(self, value: str | None) -> None:
        """Register a value that must never appear anywhere, fully blanked where found."""
        self._add(value, self._secrets)

    def add_identity(self, value: str | None) -> None:
        """Register a card or identity number; where found it keeps only its last four digits."""
        if value is not None and str(value).isdigit():
            if len(str(value)) > 4:  # four digits or fewer are shown whole anyway
                with self._lock:
                    self._identity_digits.add(str(value))
            return
        self._add(value, self._identity)

    def learn_request(self, body: str | None) -> None:
        """Register every identity value a JSON request body carries under an identity key
        (card, account, routing, SSN, EIN, birth date), so an echo of it anywhere, under any
        key or in free text, is masked too."""
        if not body:
            return
        try:
            parsed = json.loads(body)
        except ValueError:
            return
        stack: list[tuple[str | None, Any]] = [(None, parsed)]
        while stack:
            key, value = stack.pop()
            if isinstance(value, dict):
                stack.extend(value.items())
            elif isinstance(value, list):
                stack.extend((key, item) for item in value)
            elif (
                key is not None
                and _norm(key) in IDENTITY_KEYS
                and isinstance(value, str | int)
                and not isinstance(value, bool)
            ):
                self.add_identity(str(value))

    def _add(self, value: str | None, bucket: set[str]) -> None:
        if value is None:
            return
        text = str(value)
        if len(text) < _MIN_KNOWN:
            return
        # The same value as it appears in a URL or a form body.
        variants = {text, quote(text, safe=""), quote_plus(text, safe="")}
        with self._lock:
            if not variants <= bucket:
                bucket.update(variants)
                self._pattern = None

    def _compiled(self) -> re.Pattern[str] | None:
        pattern = self._pattern  # the common case: built, and no value added since
        if pattern is not None:
            return pattern
        with self._lock:
            if self._pattern is None and (self._secrets or self._identity):
                values = sorted(self._secrets | self._identity, key=len, reverse=True)
                self._pattern = re.compile("|".join(re.escape(v) for v in values))
            return self._pattern

    def text(self, value: str | None) -> str | None:
        """Return ``value`` with every known value and card/SSN-shaped number masked."""
        if not value:
            return value
        pattern = self._compiled()
        if pattern is not None:
            secrets = self._secrets

            def replace(match: re.Match[str]) -> str:
                found = match.group(0)
                return _REDACTED if found in secrets else mask_tail(found)

            value = pattern.sub(replace, value)
        if not _ANY_DIGIT.search(value):  # most strings: nothing number-shaped to mask
            return value
        if self._identity_digits:
            known = self._identity_digits
            value = _DIGITS.sub(
                lambda m: mask_tail(m.group(0)) if m.group(0) in known else m.group(0), value
            )
        value = _DIGIT_RUN.sub(_mask_card_run, value)
        return _SSN.sub(lambda m: "xxx-xx-" + m.group(0)[-4:], value)

    def headers(self, headers: dict[str, str]) -> dict[str, str]:
        """Return a copy of ``headers`` with secret headers blanked and values text-redacted."""
        out: dict[str, str] = {}
        for name, value in headers.items():
            if name.lower() in SECRET_HEADERS:
                out[name] = _REDACTED
            else:
                out[name] = self.text(value) or value
        return out

    def data(self, value: Any, key: str | None = None) -> Any:
        """Return a copy of a JSON-like value with secret and identity fields masked by key."""
        if isinstance(value, dict):
            # Keys are text too: a fuzzer may put a card- or SSN-shaped number in a key name.
            return {(self.text(k) or k): self.data(v, k) for k, v in value.items()}
        if isinstance(value, list):
            return [self.data(v, key) for v in value]
        if key is not None and value is not None and not isinstance(value, bool):
            norm = _norm(key)
            if norm in SECRET_KEYS:
                return _REDACTED
            if norm in IDENTITY_KEYS:
                return mask_tail(str(value))
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, int | float) and not isinstance(value, bool):
            text = str(value)
            masked = self.text(text)
            return value if masked == text else masked
        return value

    def body(self, body: str | None) -> str | None:
        """Redact a body: structurally when it is JSON, as free text otherwise."""
        if not body:
            return body
        try:
            parsed = json.loads(body)
        except ValueError:
            return self.text(body)
        return json.dumps(self.data(parsed), ensure_ascii=False)

    def exchange(self, exchange: dict[str, Any]) -> dict[str, Any]:
        """Redact the ``to_dict()`` form of an :class:`~apicert.model.Exchange`."""
        request = dict(exchange["request"])
        response = dict(exchange["response"])
        self.learn_request(request.get("body"))
        request["url"] = self.text(request["url"])
        request["headers"] = self.headers(request["headers"])
        request["body"] = self.body(request["body"])
        response["headers"] = self.headers(response["headers"])
        response["body"] = self.body(response["body"])
        out = dict(exchange)
        out["request"] = request
        out["response"] = response
        out["error"] = self.text(exchange.get("error"))
        return out


def _mask_card_run(match: re.Match[str]) -> str:
    found = match.group(0)
    digits = re.sub(r"\D", "", found)
    if luhn_valid(digits):
        return mask_tail(digits)
    return found
