"""connectFi reference sandbox: what the seed and the vendor's public pages promise, served locally.

Sources: the seed ``shared/seeds/002_7d4b765f14d10b6e.txt`` ("Structure of Requests and
Responses": the ``{"code": "0", "data", "requestId"}`` envelope, 200/201 on success, >= 300 on
failure, pre-requisite requests, JSON vs multipart bodies) and the vendor pages digested in
``shared/VENDORS.md`` section 3 (error shape, ``unauthorized``, ``referenceExists``,
``POST /auth/get-token`` with ``dtsExpireAt``, SSN/FEIN uniqueness, id formats).

Inferred choices (the documents do not say; the harness treats breaches of these as SHOULD):

* validation failures answer 400 with code ``validationFailed`` and ``context.field`` holding a
  JSON path (``$.customer.address.zip``); a malformed or non-object JSON body is the same error;
* creations (customer/init, document/generate, debit-card/add) answer 201, everything else 200;
* the one document type a customer needs before a card can be added is ``identity``;
* unknown route 404 ``notFound``, wrong method 405 ``methodNotAllowed``, non-multipart upload 415
  ``unsupportedMediaType``, unexpected exception 500 ``internalError``;
* ``GET /health`` needs a token like every call except ``POST /auth/get-token``;
* ``customer/status`` is ``active`` once every required document is uploaded;
* SSN and FEIN are kept only as SHA-256 digests, a card only as its last four digits.

All entities live in the SQLite store; all times come from the simulated clock.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import string
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, date, datetime
from sqlite3 import Row
from typing import Any

from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import Message, Scope

from apicert.sandbox.common import FallbackRoute, luhn_valid, read_capped
from apicert.sandbox.runtime import Fault, SandboxState, dumps, iso

__all__ = ["DEFAULT_CREDENTIALS", "FAULTS", "SCHEMA", "exception_handlers", "routes"]

DEFAULT_CREDENTIALS = {"login": "apicert_sandbox", "password": "sandbox-password"}

TOKEN_HEADER = "x-connectfi-token"
REQUIRED_DOCUMENTS: tuple[str, ...] = ("identity",)
DOCUMENT_TYPES: tuple[str, ...] = ("identity", "proofOfAddress")
CUSTOMER_TYPES: tuple[str, ...] = ("individual", "business")
MAX_UPLOAD = 5 * 1024 * 1024
MAX_JSON_BODY = 1024 * 1024
MULTIPART_OVERHEAD = 64 * 1024
BASE62 = string.digits + string.ascii_letters
REPEATED_REQUEST_ID = "SameRequestIdForEveryResponse000"

FAULTS: tuple[Fault, ...] = (
    Fault(
        "code-integer",
        (
            "CONNECTFI-ENV-01",
            "CONNECTFI-CONTRACT-01",
        ),
        'success bodies carry "code": 0 (an integer)',
    ),
    Fault(
        "data-not-object",
        (
            "CONNECTFI-ENV-02",
            "CONNECTFI-CONTRACT-01",
        ),
        "GET /customer/status answers data as a list holding the object",
    ),
    Fault(
        "requestid-missing",
        (
            "CONNECTFI-ENV-03",
            "CONNECTFI-CONTRACT-01",
        ),
        "no body carries a requestId",
    ),
    Fault("requestid-repeated", ("CONNECTFI-ENV-04",), "every response carries the same requestId"),
    Fault(
        "error-status-200",
        (
            "CONNECTFI-ENV-05",
            "CONNECTFI-REF-01",
            "CONNECTFI-REF-02",
            "CONNECTFI-CONTRACT-01",
        ),
        "referenceExists errors (customer and card) are answered with HTTP 200",
    ),
    Fault(
        "error-shape-bare",
        (
            "CONNECTFI-ENV-06",
            "CONNECTFI-REF-01",
            "CONNECTFI-REF-02",
            "CONNECTFI-CONTRACT-01",
        ),
        'error bodies are {"error": message, "requestId"} without code or message',
    ),
    Fault(
        "status-202",
        (
            "CONNECTFI-ENV-07",
            "CONNECTFI-CONTRACT-01",
        ),
        "a successful customer/init answers 202",
    ),
    Fault(
        "auth-not-required",
        (
            "CONNECTFI-AUTH-01",
            "CONNECTFI-CONTRACT-01",
        ),
        "requests without x-connectfi-token are served as if authenticated",
    ),
    Fault(
        "any-token-accepted",
        (
            "CONNECTFI-AUTH-02",
            "CONNECTFI-CONTRACT-01",
        ),
        "any non-empty token is accepted (issued tokens still expire)",
    ),
    Fault(
        "token-no-expiry-field",
        (
            "CONNECTFI-AUTH-03",
            "CONNECTFI-CONTRACT-01",
        ),
        "get-token data has no dtsExpireAt",
    ),
    Fault("token-never-expires", ("CONNECTFI-AUTH-04",), "expired tokens are still accepted"),
    Fault(
        "login-any-password",
        ("CONNECTFI-AUTH-05",),
        "get-token accepts the right login with any password",
    ),
    Fault(
        "prereq-customer-unchecked",
        ("CONNECTFI-PRE-01",),
        "debit-card/add succeeds for a customerId that was never initialised",
    ),
    Fault(
        "prereq-documents-unchecked",
        ("CONNECTFI-PRE-02",),
        "debit-card/add succeeds before the required documents are uploaded",
    ),
    Fault(
        "card-add-refused",
        ("CONNECTFI-PRE-03",),
        "debit-card/add is always refused with documentsRequired, even after the uploads",
    ),
    Fault(
        "prereq-card-unchecked",
        ("CONNECTFI-PRE-04",),
        "debit-card/activate of an unknown cardId answers 200 active",
    ),
    Fault(
        "duplicate-reference-accepted",
        ("CONNECTFI-REF-01",),
        "customer/init with a used reference creates another customer",
    ),
    Fault(
        "duplicate-reference-wrong-entity",
        ("CONNECTFI-REF-01",),
        "referenceExists context.entityId is a made-up id, not the existing customer",
    ),
    Fault(
        "duplicate-card-reference-accepted",
        ("CONNECTFI-REF-02",),
        "debit-card/add with a used reference creates another card",
    ),
    Fault(
        "duplicate-ssn-accepted",
        ("CONNECTFI-REF-03",),
        "customer/init accepts a duplicate SSN (individual) or FEIN (business)",
    ),
    Fault(
        "validation-500",
        (
            "CONNECTFI-VAL-01",
            "CONNECTFI-CONTRACT-01",
        ),
        "customer/init answers any invalid body with 500 internalError",
    ),
    Fault(
        "upload-multipart-refused",
        (
            "CONNECTFI-BODY-01",
            "CONNECTFI-PRE-03",
            "CONNECTFI-CONTRACT-01",
        ),
        'document upload refuses multipart with 415 and takes only JSON {"file": text}',
    ),
    Fault(
        "schema-drift",
        ("CONNECTFI-CONTRACT-01",),
        "GET /customer/status answers status as the integer 1 and adds legacyStatus",
    ),
    Fault(
        "health-down",
        (
            "CONNECTFI-HEALTH-01",
            "CONNECTFI-CONTRACT-01",
        ),
        "GET /health answers 503 serviceUnavailable",
    ),
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS cf_tokens (
    token TEXT PRIMARY KEY,
    login TEXT NOT NULL,
    expires_at REAL NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS cf_customers (
    customer_id TEXT PRIMARY KEY,
    reference TEXT NOT NULL,
    type TEXT NOT NULL,
    tax_id_digest TEXT NOT NULL,
    email TEXT NOT NULL,
    phone TEXT NOT NULL,
    address TEXT NOT NULL,
    details TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS cf_customers_reference ON cf_customers(reference);
CREATE INDEX IF NOT EXISTS cf_customers_tax_id ON cf_customers(type, tax_id_digest);
CREATE TABLE IF NOT EXISTS cf_documents (
    document_id TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL,
    document_type TEXT NOT NULL,
    status TEXT NOT NULL,
    size INTEGER,
    created_at TEXT NOT NULL,
    uploaded_at TEXT
);
CREATE INDEX IF NOT EXISTS cf_documents_customer ON cf_documents(customer_id);
CREATE TABLE IF NOT EXISTS cf_cards (
    card_id TEXT PRIMARY KEY,
    reference TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    last4 TEXT NOT NULL,
    expiry TEXT NOT NULL,
    name_on_card TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at TEXT NOT NULL,
    activated_at TEXT
);
CREATE INDEX IF NOT EXISTS cf_cards_reference ON cf_cards(reference);
"""

# Formats, identical to the patterns in schemas/connectfi/openapi.yaml (always used with fullmatch).
LOGIN = re.compile(r"[0-9a-zA-Z_]+")
REFERENCE = re.compile(r"[A-Za-z0-9_-]{1,36}")
ENTITY_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
NINE_DIGITS = re.compile(r"[0-9]{9}")
EMAIL = re.compile(r"[^@ ]+@[^@ ]+")
PHONE = re.compile(r"\+?[0-9]{10,15}")
DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
STATE = re.compile(r"[A-Z]{2}")
ZIP = re.compile(r"[0-9]{5}")
PAN = re.compile(r"[0-9]{13,19}")
EXPIRY = re.compile(r"([0-9]{4})-(0[1-9]|1[0-2])")
CVV = re.compile(r"[0-9]{3,4}")

Handler = Callable[[SandboxState, Request], Awaitable[Response]]


class Invalid(Exception):
    """A request that breaks a documented format; answered 400 validationFailed."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


# --- envelope ------------------------------------------------------------------------------------


# Random bytes below 248 (4 x 62) map evenly onto BASE62; the rest are dropped (rejection sampling,
# as uniform as secrets.choice per character, but one urandom call and one C pass per id).
_BASE62_OF_BYTE = bytes(ord(BASE62[b % 62]) for b in range(256))
_BIASED_BYTES = bytes(range(248, 256))


def _new_id(prefix: str, length: int = 22) -> str:
    text = b""
    while len(text) < length:
        text += secrets.token_bytes(length + 8).translate(_BASE62_OF_BYTE, _BIASED_BYTES)
    return prefix + text[:length].decode("ascii")


def _request_id(state: SandboxState) -> str:
    return REPEATED_REQUEST_ID if state.fault("requestid-repeated") else _new_id("", 32)


def _with_request_id(state: SandboxState, body: dict[str, Any]) -> dict[str, Any]:
    if not state.fault("requestid-missing"):
        body["requestId"] = _request_id(state)
    return body


def ok(state: SandboxState, data: Any, status: int = 200) -> JSONResponse:
    """The success envelope ``{"code": "0", "data", "requestId"}``."""
    code: str | int = 0 if state.fault("code-integer") else "0"
    return JSONResponse(_with_request_id(state, {"code": code, "data": data}), status_code=status)


def fail(
    state: SandboxState,
    status: int,
    code: str,
    message: str,
    context: dict[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """The error envelope ``{"code", "message", "requestId", "context"?}``."""
    body: dict[str, Any]
    if state.fault("error-shape-bare"):
        body = {"error": message}
    else:
        body = {"code": code, "message": message}
        if context is not None:
            body["context"] = context
    return JSONResponse(_with_request_id(state, body), status_code=status, headers=headers)


def _invalid(state: SandboxState, exc: Invalid) -> JSONResponse:
    return fail(state, 400, "validationFailed", exc.message, {"field": exc.field})


def _unauthorized(state: SandboxState) -> JSONResponse:
    return fail(state, 401, "unauthorized", "Authentication error")


def _not_found(state: SandboxState, code: str, what: str, value: str) -> JSONResponse:
    return fail(state, 404, code, f"No {what} with id {value!r} exists.")


def _reference_exists(state: SandboxState, reference: str, entity_id: str) -> JSONResponse:
    status = 200 if state.fault("error-status-200") else 400
    context = {"reference": reference, "entityId": entity_id}
    return fail(state, status, "referenceExists", "The reference is already in use.", context)


# --- request bodies ------------------------------------------------------------------------------


def _replayed(scope: Scope, body: bytes) -> Request:
    """A request over ``scope`` whose body is ``body`` (already read from the socket)."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return Request(scope, receive)


async def _json_object(request: Request) -> dict[str, Any]:
    """The body as a JSON object; anything else raises :class:`Invalid` on ``$``."""
    raw = await read_capped(request, MAX_JSON_BODY)
    if raw is None:
        raise Invalid("$", f"The request body must not exceed {MAX_JSON_BODY} bytes.")
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        raise Invalid("$", "The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise Invalid("$", "The request body must be a JSON object.")
    return body


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


# --- validation ----------------------------------------------------------------------------------


def _member(parent: Mapping[str, Any], key: str, path: str) -> Any:
    if key not in parent:
        raise Invalid(f"{path}.{key}", f"{path}.{key} is required.")
    return parent[key]


def _object(parent: Mapping[str, Any], key: str, path: str) -> dict[str, Any]:
    value = _member(parent, key, path)
    if not isinstance(value, dict):
        raise Invalid(f"{path}.{key}", f"{path}.{key} must be an object.")
    return value


def _text(
    parent: Mapping[str, Any],
    key: str,
    path: str,
    *,
    max_len: int = 64,
    pattern: re.Pattern[str] | None = None,
) -> str:
    where = f"{path}.{key}"
    value = _member(parent, key, path)
    if not isinstance(value, str):
        raise Invalid(where, f"{where} must be a string.")
    if not 1 <= len(value) <= max_len:
        raise Invalid(where, f"{where} must be 1 to {max_len} characters long.")
    if not value.isascii() and not _encodable(value):
        raise Invalid(where, f"{where} must be valid Unicode text.")
    if pattern is not None and not pattern.fullmatch(value):
        raise Invalid(where, f"{where} must match ^{pattern.pattern}$.")
    return value


def _encodable(value: str) -> bool:
    """False for text holding lone surrogates (JSON allows them; UTF-8 and SQLite do not)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _choice(parent: Mapping[str, Any], key: str, path: str, allowed: tuple[str, ...]) -> str:
    where = f"{path}.{key}"
    value = _member(parent, key, path)
    if not isinstance(value, str) or value not in allowed:
        raise Invalid(where, f"{where} must be one of {', '.join(allowed)}.")
    return value


def _today(state: SandboxState) -> date:
    return datetime.fromtimestamp(state.now(), UTC).date()


def _past_date(state: SandboxState, parent: Mapping[str, Any], key: str, path: str) -> str:
    value = _text(parent, key, path, max_len=10, pattern=DATE)
    try:
        parsed = date.fromisoformat(value)
    except ValueError:
        raise Invalid(f"{path}.{key}", f"{path}.{key} is not a calendar date.") from None
    if parsed >= _today(state):
        raise Invalid(f"{path}.{key}", f"{path}.{key} must be in the past.")
    return value


def _address(parent: Mapping[str, Any], key: str, path: str) -> dict[str, str]:
    value = _object(parent, key, path)
    where = f"{path}.{key}"
    return {
        "line1": _text(value, "line1", where, max_len=100),
        "city": _text(value, "city", where, max_len=50),
        "state": _text(value, "state", where, max_len=2, pattern=STATE),
        "zip": _text(value, "zip", where, max_len=5, pattern=ZIP),
        "country": _choice(value, "country", where, ("US",)),
    }


def _contact(parent: Mapping[str, Any], path: str) -> tuple[str, str]:
    email = _text(parent, "email", path, max_len=100, pattern=EMAIL)
    phone = _text(parent, "phone", path, max_len=16, pattern=PHONE)
    return email, phone


def _parse_customer_init(state: SandboxState, body: Mapping[str, Any]) -> dict[str, Any]:
    """The validated customer/init request, with SSN/FEIN reduced to a digest."""
    customer = _object(body, "customer", "$")
    path = "$.customer"
    reference = _text(customer, "reference", path, max_len=36, pattern=REFERENCE)
    kind = _choice(customer, "type", path, CUSTOMER_TYPES)
    block = _object(customer, kind, path)
    where = f"{path}.{kind}"
    details: dict[str, str]
    if kind == "individual":
        details = {
            "firstName": _text(block, "firstName", where, max_len=50),
            "lastName": _text(block, "lastName", where, max_len=50),
            "dob": _past_date(state, block, "dob", where),
        }
        tax_id = _text(block, "ssn", where, max_len=9, pattern=NINE_DIGITS)
    else:
        details = {"legalName": _text(block, "legalName", where, max_len=100)}
        tax_id = _text(block, "fein", where, max_len=9, pattern=NINE_DIGITS)
    email, phone = _contact(block, where)
    return {
        "reference": reference,
        "type": kind,
        "tax_id_digest": hashlib.sha256(f"{kind}:{tax_id}".encode()).hexdigest(),
        "email": email,
        "phone": phone,
        "address": _address(customer, "address", path),
        "details": details,
    }


def _parse_customer_update(body: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    customer_id = _text(body, "customerId", "$", pattern=ENTITY_ID)
    customer = _object(body, "customer", "$")
    path = "$.customer"
    changes: dict[str, Any] = {}
    if "email" in customer:
        changes["email"] = _text(customer, "email", path, max_len=100, pattern=EMAIL)
    if "phone" in customer:
        changes["phone"] = _text(customer, "phone", path, max_len=16, pattern=PHONE)
    if "address" in customer:
        changes["address"] = dumps(_address(customer, "address", path))
    if not changes:
        raise Invalid(path, f"{path} must hold at least one of email, phone, address.")
    return customer_id, changes


def _parse_card(state: SandboxState, body: Mapping[str, Any]) -> dict[str, str]:
    reference = _text(body, "reference", "$", max_len=36, pattern=REFERENCE)
    customer_id = _text(body, "customerId", "$", pattern=ENTITY_ID)
    card = _object(body, "card", "$")
    path = "$.card"
    pan = _text(card, "pan", path, max_len=19, pattern=PAN)
    if not luhn_valid(pan):
        raise Invalid(f"{path}.pan", f"{path}.pan is not a valid card number.")
    expiry = _text(card, "expiry", path, max_len=7, pattern=EXPIRY)
    today = _today(state)
    if (int(expiry[:4]), int(expiry[5:])) < (today.year, today.month):
        raise Invalid(f"{path}.expiry", f"{path}.expiry must not be in the past.")
    _text(card, "cvv", path, max_len=4, pattern=CVV)
    return {
        "reference": reference,
        "customer_id": customer_id,
        "last4": pan[-4:],
        "expiry": expiry,
        "name_on_card": _text(card, "nameOnCard", path, max_len=50),
    }


# --- stored state --------------------------------------------------------------------------------


def _authenticated(state: SandboxState, request: Request) -> bool:
    token = request.headers.get(TOKEN_HEADER, "")
    if not token:
        return state.fault("auth-not-required")
    row = state.store.one("SELECT expires_at FROM cf_tokens WHERE token = ?", (token,))
    if row is None:
        return state.fault("any-token-accepted")
    return bool(row["expires_at"] > state.now()) or state.fault("token-never-expires")


def _customer(state: SandboxState, customer_id: str) -> Row | None:
    return state.store.one("SELECT * FROM cf_customers WHERE customer_id = ?", (customer_id,))


def _uploaded_types(state: SandboxState, customer_id: str) -> list[str]:
    rows = state.store.all(
        "SELECT DISTINCT document_type FROM cf_documents "
        "WHERE customer_id = ? AND status = 'uploaded' ORDER BY document_type",
        (customer_id,),
    )
    return [row["document_type"] for row in rows]


def _missing_documents(state: SandboxState, customer_id: str) -> list[str]:
    uploaded = set(_uploaded_types(state, customer_id))
    return [kind for kind in REQUIRED_DOCUMENTS if kind not in uploaded]


def _customer_view(state: SandboxState, row: Row) -> dict[str, Any]:
    uploaded = _uploaded_types(state, row["customer_id"])
    active = all(kind in uploaded for kind in REQUIRED_DOCUMENTS)
    return {
        "customerId": row["customer_id"],
        "reference": row["reference"],
        "type": row["type"],
        "status": "active" if active else "documentsRequired",
        "documents": {"required": list(REQUIRED_DOCUMENTS), "uploaded": uploaded},
    }


# --- endpoints -----------------------------------------------------------------------------------


async def get_token(state: SandboxState, request: Request) -> Response:
    """POST /auth/get-token: a token and its expiry for valid credentials."""
    body = await _json_object(request)
    user = _object(body, "user", "$")
    login = _text(user, "login", "$.user", max_len=36, pattern=LOGIN)
    password = _text(user, "password", "$.user", max_len=50)
    if "requestId" in body:
        _text(body, "requestId", "$", max_len=32)
    login_ok = hmac.compare_digest(login.encode(), state.credentials["login"].encode())
    password_ok = hmac.compare_digest(password.encode(), state.credentials["password"].encode())
    if not login_ok or not (password_ok or state.fault("login-any-password")):
        return _unauthorized(state)
    token = secrets.token_urlsafe(32)
    expires_at = state.now() + float(state.config.options.get("token_lifetime", 3600))
    state.store.execute(
        "INSERT INTO cf_tokens(token, login, expires_at, created_at) VALUES(?, ?, ?, ?)",
        (token, login, expires_at, state.now_iso()),
    )
    data = {"token": token, "dtsExpireAt": iso(expires_at)}
    if state.fault("token-no-expiry-field"):
        del data["dtsExpireAt"]
    return ok(state, data)


async def health(state: SandboxState, request: Request) -> Response:
    """GET /health: the service is up."""
    if state.fault("health-down"):
        return fail(state, 503, "serviceUnavailable", "The service is unavailable.")
    return ok(state, {"status": "ok", "time": state.now_iso()})


async def customer_init(state: SandboxState, request: Request) -> Response:
    """POST /customer/init: create a customer (unique reference, SSN/FEIN)."""
    try:
        new = _parse_customer_init(state, await _json_object(request))
    except Invalid:
        if state.fault("validation-500"):
            return fail(state, 500, "internalError", "An unexpected error occurred.")
        raise
    customer_id = _new_id("cstap_")
    with state.store.transaction() as conn:
        same_ref = conn.execute(
            "SELECT customer_id FROM cf_customers WHERE reference = ?", (new["reference"],)
        ).fetchone()
        if same_ref is not None and not state.fault("duplicate-reference-accepted"):
            existing = same_ref["customer_id"]
            if state.fault("duplicate-reference-wrong-entity"):
                existing = _new_id("cstap_")
            return _reference_exists(state, new["reference"], existing)
        same_tax_id = conn.execute(
            "SELECT customer_id FROM cf_customers WHERE type = ? AND tax_id_digest = ?",
            (new["type"], new["tax_id_digest"]),
        ).fetchone()
        if same_tax_id is not None and not state.fault("duplicate-ssn-accepted"):
            code, label = (
                ("ssnExists", "SSN") if new["type"] == "individual" else ("feinExists", "FEIN")
            )
            context = {"entityId": same_tax_id["customer_id"]}
            return fail(state, 400, code, f"A customer with this {label} exists.", context)
        now = state.now_iso()
        conn.execute(
            "INSERT INTO cf_customers(customer_id, reference, type, tax_id_digest, email, phone,"
            " address, details, created_at, updated_at) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                customer_id,
                new["reference"],
                new["type"],
                new["tax_id_digest"],
                new["email"],
                new["phone"],
                dumps(new["address"]),
                dumps(new["details"]),
                now,
                now,
            ),
        )
    data = {
        "customerId": customer_id,
        "reference": new["reference"],
        "type": new["type"],
        "status": "documentsRequired",
    }
    return ok(state, data, 202 if state.fault("status-202") else 201)


async def customer_status(state: SandboxState, request: Request) -> Response:
    """GET /customer/status/{customerId}: the customer and its documents."""
    customer_id = request.path_params["customerId"]
    row = _customer(state, customer_id)
    if row is None:
        return _not_found(state, "customerNotFound", "customer", customer_id)
    data: dict[str, Any] = _customer_view(state, row)
    if state.fault("schema-drift"):
        data["legacyStatus"] = data["status"]
        data["status"] = 1
    return ok(state, [data] if state.fault("data-not-object") else data)


async def customer_update(state: SandboxState, request: Request) -> Response:
    """POST /customer/update: change email, phone or address."""
    customer_id, changes = _parse_customer_update(await _json_object(request))
    row = _customer(state, customer_id)
    if row is None:
        return _not_found(state, "customerNotFound", "customer", customer_id)
    changes["updated_at"] = state.now_iso()
    assignments = ", ".join(f"{column} = ?" for column in changes)
    state.store.execute(
        f"UPDATE cf_customers SET {assignments} WHERE customer_id = ?",
        (*changes.values(), customer_id),
    )
    return ok(state, _customer_view(state, row))


async def document_generate(state: SandboxState, request: Request) -> Response:
    """POST /akepa/document/generate: a document slot to upload a file into."""
    body = await _json_object(request)
    customer_id = _text(body, "customerId", "$", pattern=ENTITY_ID)
    document_type = _choice(body, "documentType", "$", DOCUMENT_TYPES)
    if _customer(state, customer_id) is None:
        return _not_found(state, "customerNotFound", "customer", customer_id)
    document_id = _new_id("doc_")
    state.store.execute(
        "INSERT INTO cf_documents(document_id, customer_id, document_type, status, created_at)"
        " VALUES(?, ?, ?, 'generated', ?)",
        (document_id, customer_id, document_type, state.now_iso()),
    )
    data = {
        "documentId": document_id,
        "customerId": customer_id,
        "documentType": document_type,
        "status": "generated",
    }
    return ok(state, data, 201)


async def _multipart_file(request: Request) -> bytes:
    """The bytes of the form part ``file`` (1 byte to 5 MB) of a multipart body."""
    raw = await read_capped(request, MAX_UPLOAD + MULTIPART_OVERHEAD)
    if raw is None:
        raise Invalid("$.file", f"$.file must not exceed {MAX_UPLOAD} bytes.")
    replayed = _replayed(request.scope, raw)
    try:
        async with replayed.form(max_files=4, max_fields=16, max_part_size=MAX_UPLOAD) as form:
            part = form.get("file")
            if isinstance(part, UploadFile):
                content = await part.read(MAX_UPLOAD + 1)
            elif isinstance(part, str):
                content = part.encode()
            else:
                raise Invalid("$.file", "$.file is required.")
    except (HTTPException, MultiPartException, ValueError):
        raise Invalid("$", "The multipart body could not be parsed.") from None
    if not content:
        raise Invalid("$.file", "$.file must not be empty.")
    if len(content) > MAX_UPLOAD:
        raise Invalid("$.file", f"$.file must not exceed {MAX_UPLOAD} bytes.")
    return content


async def _json_file(request: Request) -> bytes:
    """With ``upload-multipart-refused``: the file as the string ``file`` of a JSON body."""
    body = await _json_object(request)
    return _text(body, "file", "$", max_len=MAX_UPLOAD).encode()


async def document_upload(state: SandboxState, request: Request) -> Response:
    """POST /akepa/document/upload/{documentId}: the file of a generated document (multipart)."""
    document_id = request.path_params["documentId"]
    multipart = _media_type(request) == "multipart/form-data"
    json_only = state.fault("upload-multipart-refused")
    if multipart == json_only:
        expected = "application/json" if json_only else "multipart/form-data"
        return fail(state, 415, "unsupportedMediaType", f"The body must be {expected}.")
    content = await (_json_file(request) if json_only else _multipart_file(request))
    row = state.store.one(
        "SELECT document_type FROM cf_documents WHERE document_id = ?", (document_id,)
    )
    if row is None:
        return _not_found(state, "documentNotFound", "document", document_id)
    state.store.execute(
        "UPDATE cf_documents SET status = 'uploaded', size = ?, uploaded_at = ?"
        " WHERE document_id = ?",
        (len(content), state.now_iso(), document_id),
    )
    data = {
        "documentId": document_id,
        "documentType": row["document_type"],
        "status": "uploaded",
        "size": len(content),
    }
    return ok(state, data)


def _card_refusal(state: SandboxState, customer_id: str) -> Response | None:
    """The pre-requisite error of debit-card/add, or None when the card may be added."""
    if _customer(state, customer_id) is None:
        if state.fault("prereq-customer-unchecked"):
            return None
        return _not_found(state, "customerNotFound", "customer", customer_id)
    missing = _missing_documents(state, customer_id)
    if state.fault("card-add-refused"):
        missing = list(REQUIRED_DOCUMENTS)
    elif state.fault("prereq-documents-unchecked"):
        missing = []
    if missing:
        context = {"customerId": customer_id, "missing": missing}
        return fail(state, 400, "documentsRequired", "Required documents are missing.", context)
    return None


async def card_add(state: SandboxState, request: Request) -> Response:
    """POST /ibis/debit-card/add: a card for a customer whose documents are uploaded."""
    card = _parse_card(state, await _json_object(request))
    refusal = _card_refusal(state, card["customer_id"])
    if refusal is not None:
        return refusal
    card_id = _new_id("crd_")
    with state.store.transaction() as conn:
        existing = conn.execute(
            "SELECT card_id FROM cf_cards WHERE reference = ?", (card["reference"],)
        ).fetchone()
        if existing is not None and not state.fault("duplicate-card-reference-accepted"):
            return _reference_exists(state, card["reference"], existing["card_id"])
        conn.execute(
            "INSERT INTO cf_cards(card_id, reference, customer_id, last4, expiry, name_on_card,"
            " status, created_at) VALUES(?, ?, ?, ?, ?, ?, 'added', ?)",
            (
                card_id,
                card["reference"],
                card["customer_id"],
                card["last4"],
                card["expiry"],
                card["name_on_card"],
                state.now_iso(),
            ),
        )
    data = {
        "cardId": card_id,
        "reference": card["reference"],
        "customerId": card["customer_id"],
        "last4": card["last4"],
        "status": "added",
    }
    return ok(state, data, 201)


async def card_activate(state: SandboxState, request: Request) -> Response:
    """POST /ibis/debit-card/activate: activate an added card, once."""
    card_id = _text(await _json_object(request), "cardId", "$", pattern=ENTITY_ID)
    row = state.store.one("SELECT status, last4 FROM cf_cards WHERE card_id = ?", (card_id,))
    if row is None:
        if state.fault("prereq-card-unchecked"):
            return ok(state, {"cardId": card_id, "status": "active", "last4": "0000"})
        return _not_found(state, "cardNotFound", "card", card_id)
    if row["status"] == "active":
        return fail(state, 400, "cardAlreadyActive", "The card is already active.")
    state.store.execute(
        "UPDATE cf_cards SET status = 'active', activated_at = ? WHERE card_id = ?",
        (state.now_iso(), card_id),
    )
    return ok(state, {"cardId": card_id, "status": "active", "last4": row["last4"]})


# --- wiring --------------------------------------------------------------------------------------


def _endpoint(
    state: SandboxState, handler: Handler, *, public: bool = False
) -> Callable[[Request], Awaitable[Response]]:
    """Wrap ``handler``: token check first (unless public), then 400 for :class:`Invalid`."""

    async def endpoint(request: Request) -> Response:
        if not public and not _authenticated(state, request):
            return _unauthorized(state)
        try:
            return await handler(state, request)
        except Invalid as exc:
            return _invalid(state, exc)

    return endpoint


def routes(state: SandboxState) -> list[BaseRoute]:
    """The connectFi API routes, then a fallback that keeps unknown paths in the envelope."""
    api = [
        Route("/auth/get-token", _endpoint(state, get_token, public=True), methods=["POST"]),
        Route("/health", _endpoint(state, health), methods=["GET"]),
        Route("/customer/init", _endpoint(state, customer_init), methods=["POST"]),
        Route(
            "/customer/status/{customerId}",
            _endpoint(state, customer_status),
            methods=["GET"],
        ),
        Route("/customer/update", _endpoint(state, customer_update), methods=["POST"]),
        Route("/akepa/document/generate", _endpoint(state, document_generate), methods=["POST"]),
        Route(
            "/akepa/document/upload/{documentId}",
            _endpoint(state, document_upload),
            methods=["POST"],
        ),
        Route("/ibis/debit-card/add", _endpoint(state, card_add), methods=["POST"]),
        Route("/ibis/debit-card/activate", _endpoint(state, card_activate), methods=["POST"]),
    ]
    return [*api, FallbackRoute(api, lambda: fail(state, 404, "notFound", "No such route."))]


HTTP_ERROR_CODES = {
    400: "validationFailed",
    404: "notFound",
    405: "methodNotAllowed",
    413: "payloadTooLarge",
    415: "unsupportedMediaType",
}


def exception_handlers(state: SandboxState) -> dict[Any, Callable[[Request, Exception], Any]]:
    """Handlers that keep Starlette's own 404/405 and any crash in the connectFi error envelope."""

    async def http_error(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        headers = exc.headers if isinstance(exc, HTTPException) else None
        code = HTTP_ERROR_CODES.get(status, "httpError")
        message = exc.detail if isinstance(exc, HTTPException) else "HTTP error"
        return fail(state, status, code, f"{message}.", headers=headers)

    async def crash(request: Request, exc: Exception) -> Response:
        return fail(state, 500, "internalError", "An unexpected error occurred.")

    return {HTTPException: http_error, Exception: crash}
