"""Digitzs reference sandbox: the merchant-payments API of the seed, served locally.

Source: the seed ``shared/seeds/001_e8f1e40650ff1a60.txt`` (Headers, Auth, Merchants, Payments,
Split Payments, Refunds, Customers, Tokens, Errors) and its digest in ``shared/VENDORS.md`` s.2.

Documented behaviour implemented here:

* headers ``x-api-key`` (every call), ``Authorization: Bearer <appToken>`` (every call except
  ``GET /auth``, ``POST /auth/key``, ``POST /auth/token``), ``appId`` (optional);
* ``POST /auth/key`` makes a new app key and the previous one unusable; ``POST /auth/token`` makes
  an app token (640 characters) that expires one hour later on the simulated clock
  (``--option token_lifetime=N`` changes the hour); ``GET /auth`` and ``GET /auth/token`` verify;
* a JSON:API-like envelope ``{"data": {"type": <collection>, "id", "attributes"}}``; lists
  ``{"meta": {"items", "limit", "more"}, "data": [...]}``;
* amounts are strings of cents; a card payment costs 2.9% + 30 cents. The one rounding rule:
  ``grossMinusNet = (gross * 29 + 500) // 1000 + 30`` (2.9% rounded half up to a cent, plus 30),
  ``net = gross - grossMinusNet``, ``rate "2.90"``, ``fee "30"``: the seed's 999 gives 59 and 940;
* SSN, birth date, EIN, account, routing and card numbers come back as ``xxxx`` + last four (the
  birth date's year), a CVV as ``xxx``.

Inferred choices (the seed is silent; the catalog marks what depends on them SHOULD):

* every success answers 200 (the seed lists no other 2xx);
* errors are ``{"message", "errors": [{"status", "title", "detail", "source"?}]}``;
* a missing or wrong ``x-api-key`` (or a wrong ``appId`` header) answers 403; a missing, unknown or
  expired bearer token 401; bad input 400; an unknown referenced entity (a merchant in a body, a
  list owner, an original transaction) 400 ("the requested item does not exist"); an unknown id in
  the path 404; ``data.type`` naming another collection 409 (the JSON:API rule); wrong method 405;
* tokens made before a key rotation stay valid until they expire (only the key is said to die);
* ``limit`` is 1..100, default 20; ``more`` is true when more matching entries exist; lists are
  newest first; ``start``/``end`` are inclusive UTC days ``YYYYMMDD`` on ``created``;
* a refund (``cardRefund`` of a card, token or cardSplit payment; ``cardSplitRefund`` of a
  cardSplit) never exceeds the original amount minus earlier refunds of it; a split never exceeds
  the total; only USD; past card expiry dates are accepted (the seed's own examples are expired).

Sensitive numbers are kept in the SQLite file as sent (sandbox test data only) so the masking
faults can show them; every response masks them unless such a fault is on.
"""

from __future__ import annotations

import hmac
import json
import secrets
import uuid
from collections.abc import Awaitable, Callable
from sqlite3 import Connection, Row
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from apicert.sandbox import digitzs_base as base
from apicert.sandbox import digitzs_rules as rules
from apicert.sandbox.common import FallbackRoute
from apicert.sandbox.digitzs_base import fail, ok, resource
from apicert.sandbox.digitzs_faults import FAULTS
from apicert.sandbox.digitzs_payments import create_payment, get_payment, list_payments
from apicert.sandbox.digitzs_rules import Invalid
from apicert.sandbox.runtime import SandboxState, dumps, iso

__all__ = [
    "DEFAULT_CREDENTIALS",
    "FAULTS",
    "SCHEMA",
    "exception_handlers",
    "routes",
    "validate_option",
]

DEFAULT_CREDENTIALS = {
    "api_key": "sandbox-api-key-0123456789",
    "app_id": "fade5009-d8ad-4ea3-bfe7-ebdaa3f6bf9e",
}
PARTNER_ID = "apicert-1529105340"
TOKEN_LIFETIME = 3600.0


def validate_option(key: str, value: Any) -> Any:
    """The checked value of sandbox option ``key`` (``token_lifetime``: positive seconds)."""
    if key == "token_lifetime":
        try:
            seconds = float(value)
        except (TypeError, ValueError):
            seconds = 0.0
        if not 0 < seconds < 10**9 or isinstance(value, bool):
            raise ValueError("token_lifetime must be a positive number of seconds")
        return seconds
    raise ValueError(f"unknown digitzs option {key!r}; known: token_lifetime")


SCHEMA = """
CREATE TABLE IF NOT EXISTS dz_app_keys (
    digest TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS dz_app_tokens (
    digest TEXT PRIMARY KEY,
    expires_at REAL NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS dz_merchants (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT UNIQUE NOT NULL,
    account_name TEXT NOT NULL,
    account_type TEXT NOT NULL,
    attributes TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS dz_customers (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT UNIQUE NOT NULL,
    merchant_id TEXT NOT NULL,
    attributes TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS dz_customers_merchant ON dz_customers(merchant_id);
CREATE TABLE IF NOT EXISTS dz_tokens (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT UNIQUE NOT NULL,
    customer_id TEXT NOT NULL,
    token_type TEXT NOT NULL,
    attributes TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS dz_tokens_customer ON dz_tokens(customer_id);
CREATE TABLE IF NOT EXISTS dz_payments (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT UNIQUE NOT NULL,
    merchant_id TEXT NOT NULL,
    payment_type TEXT NOT NULL,
    amount INTEGER NOT NULL,
    split_id TEXT,
    split_merchant_id TEXT,
    split_amount INTEGER,
    original_id TEXT,
    attributes TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS dz_payments_merchant ON dz_payments(merchant_id, created);
CREATE INDEX IF NOT EXISTS dz_payments_original ON dz_payments(original_id);
CREATE INDEX IF NOT EXISTS dz_payments_split ON dz_payments(split_id);
"""

Handler = Callable[[SandboxState, Request], Awaitable[Response]]


# --- auth ----------------------------------------------------------------------------------------


def _key_refusal(state: SandboxState, request: Request) -> Response | None:
    """403 unless x-api-key is the partner's key (and appId, when sent, its application)."""
    key = request.headers.get("x-api-key")
    if key is None:
        return fail(403, "The x-api-key header is required.")
    good = hmac.compare_digest(key.encode(), state.credentials["api_key"].encode())
    if not good and not state.fault("any-api-key-accepted"):
        return fail(403, "The account is not authorized.")
    app_id = request.headers.get("appid")
    if app_id is not None and not hmac.compare_digest(
        app_id.encode(), state.credentials["app_id"].encode()
    ):
        return fail(403, "The appId header does not name this account's application.")
    return None


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def _token_state(state: SandboxState, token: str) -> str:
    """'valid', 'expired' or 'unknown' for an app token."""
    row = state.store.one(
        "SELECT expires_at FROM dz_app_tokens WHERE digest = ?", (base.digest(token),)
    )
    if row is None:
        return "unknown"
    return "valid" if row["expires_at"] > state.now() else "expired"


def _token_refusal(state: SandboxState, request: Request) -> Response | None:
    """401 unless the request carries a live app token as ``Authorization: Bearer``."""
    token = _bearer(request)
    if token is None:
        if state.fault("token-not-required"):
            return None
        return fail(401, "An authorization header (Bearer <appToken>) is required.")
    status = _token_state(state, token)
    if status == "unknown" and state.fault("any-token-accepted"):
        return None
    if status == "expired" and state.fault("token-never-expires"):
        return None
    if status != "valid":
        return fail(401, f"The app token is {'expired' if status == 'expired' else 'not valid'}.")
    return None


async def verify_key(state: SandboxState, request: Request) -> Response:
    """GET /auth: the API key is valid; answers the application id."""
    attrs = {} if state.fault("auth-verify-no-app-id") else {"appId": state.credentials["app_id"]}
    return resource(state, "auth", None, attrs)


def _auth_type(state: SandboxState) -> str:
    return "token" if state.fault("app-token-type-wrong") else "auth"


async def create_key(state: SandboxState, request: Request) -> Response:
    """POST /auth/key: a new app key; every earlier key becomes unusable."""
    data = await base.body(request, "auth")
    attrs = rules.obj(data, "attributes", "/data")
    app_id = rules.required_text(attrs, "appId", "/data/attributes", max_len=200)
    if not hmac.compare_digest(app_id.encode(), state.credentials["app_id"].encode()):
        return fail(403, "The appId does not belong to this account.", "/data/attributes/appId")
    key = secrets.token_urlsafe(48)
    with state.store.transaction() as conn:
        row = conn.execute("SELECT COALESCE(MAX(seq), 0) AS seq FROM dz_app_keys").fetchone()
        conn.execute(
            "INSERT INTO dz_app_keys(digest, seq, created) VALUES(?, ?, ?)",
            (base.digest(key), row["seq"] + 1, state.now()),
        )
    body = {"type": _auth_type(state), "id": state.credentials["api_key"]}
    return ok({"data": {**body, "attributes": {"appKey": key}}})


def _key_usable(state: SandboxState, key: str) -> bool:
    row = state.store.one(
        "SELECT seq, (SELECT MAX(seq) FROM dz_app_keys) AS newest FROM dz_app_keys"
        " WHERE digest = ?",
        (base.digest(key),),
    )
    if row is None:
        return False
    return bool(row["seq"] == row["newest"]) or state.fault("old-app-key-accepted")


async def create_token(state: SandboxState, request: Request) -> Response:
    """POST /auth/token: an app token (valid one hour) for the current app key."""
    data = await base.body(request, "auth")
    api_key = rules.required_text(data, "id", "/data", max_len=200)
    attrs = rules.obj(data, "attributes", "/data")
    key = rules.required_text(attrs, "appKey", "/data/attributes", max_len=200)
    if not hmac.compare_digest(api_key.encode(), state.credentials["api_key"].encode()):
        return fail(403, "data.id is not this account's API key.", "/data/id")
    if not _key_usable(state, key):
        return fail(401, "The app key is not valid (a newer key replaced it, or it never existed).")
    token = secrets.token_urlsafe(480)
    lifetime = float(state.config.options.get("token_lifetime", TOKEN_LIFETIME))
    state.store.execute(
        "INSERT INTO dz_app_tokens(digest, expires_at, created) VALUES(?, ?, ?)",
        (base.digest(token), state.now() + lifetime, state.now()),
    )
    body = {"type": _auth_type(state), "id": api_key}
    return ok({"data": {**body, "attributes": {"appToken": token}}})


async def verify_token(state: SandboxState, request: Request) -> Response:
    """GET /auth/token: 200 with the token while it is valid, else 401."""
    token = _bearer(request)
    if token is None:
        return fail(401, "An authorization header (Bearer <appToken>) is required.")
    status = _token_state(state, token)
    lying = status == "unknown" and state.fault("token-verify-lies")
    if status == "expired" and state.fault("token-never-expires"):
        lying = True
    if status != "valid" and not lying:
        return fail(401, f"The app token is {'expired' if status == 'expired' else 'not valid'}.")
    return resource(state, "auth", None, {"appToken": token})


# --- merchants -----------------------------------------------------------------------------------


def _slug(name: str) -> str:
    letters = "".join(c for c in name.lower() if c.isascii() and c.isalnum())
    return (letters or "merchant")[:10]


def _parse_merchant(state: SandboxState, attrs: dict[str, Any]) -> dict[str, Any]:
    path = "/data/attributes"
    account_type = rules.choice(attrs, "accountType", path, ("business", "personal"))
    personal = rules.obj(attrs, "personalInfo", path)
    where = f"{path}/personalInfo"
    info: dict[str, Any] = {
        "firstName": rules.text(personal, "firstName", where, max_len=50),
        "lastName": rules.text(personal, "lastName", where, max_len=50),
        "email": rules.text(personal, "email", where, pattern=rules.EMAIL, what="an email"),
        "dayPhone": rules.text(personal, "dayPhone", where, max_len=16, pattern=rules.PHONE),
        "birthDate": rules.birth_date(personal, "birthDate", where, base.today(state)),
        "socialSecurity": rules.text(
            personal, "socialSecurity", where, max_len=9, pattern=rules.NINE, what="9 digits"
        ),
    }
    evening = rules.text(personal, "eveningPhone", where, max_len=16, required=False)
    if evening is not None:
        info["eveningPhone"] = evening
    merchant: dict[str, Any] = {
        "accountType": account_type,
        "accountName": rules.text(attrs, "accountName", path),
        "personalInfo": info,
        "personalAddress": rules.address(attrs, "personalAddress", path),
        "bankInfo": _merchant_bank(attrs, path),
    }
    business = account_type == "business"
    if business or attrs.get("businessInfo") is not None:
        block = rules.obj(attrs, "businessInfo", path)
        merchant["businessInfo"] = {
            "businessName": rules.text(block, "businessName", f"{path}/businessInfo"),
            "ein": rules.text(
                block, "ein", f"{path}/businessInfo", max_len=9, pattern=rules.NINE, what="9 digits"
            ),
        }
    address = rules.address(attrs, "businessAddress", path, required=business)
    if address is not None:
        merchant["businessAddress"] = address
    verification = _verification(attrs, path)
    if verification is not None:
        merchant["verificationData"] = verification
    return merchant


def _merchant_bank(attrs: dict[str, Any], path: str) -> dict[str, Any]:
    bank = rules.bank(attrs, "bankInfo", path)
    block = attrs["bankInfo"]
    ownership = rules.choice(
        block, "accountOwnership", f"{path}/bankInfo", ("personal", "business"), required=False
    )
    if ownership is not None:
        bank["accountOwnership"] = ownership
    return bank


def _verification(attrs: dict[str, Any], path: str) -> dict[str, Any] | None:
    if attrs.get("verificationData") is None:
        return None
    block = rules.obj(attrs, "verificationData", path)
    where = f"{path}/verificationData"
    out: dict[str, Any] = {}
    for key in ("ipAddress", "emailVerifiedTimestamp", "signature", "signatureTimestamp"):
        value = rules.text(block, key, where, required=False)
        if value is not None:
            out[key] = value
    for key in ("emailVerified", "termsAccepted"):
        flag = rules.boolean(block, key, where)
        if flag is not None:
            out[key] = flag
    return out


def _masked_merchant(state: SandboxState, row: Row) -> dict[str, Any]:
    attrs: dict[str, Any] = json.loads(row["attributes"])
    info = attrs["personalInfo"]
    if not state.fault("ssn-unmasked"):
        info["socialSecurity"] = rules.mask(info["socialSecurity"])
    if not state.fault("birthdate-unmasked"):
        info["birthDate"] = rules.mask_birth_date(info["birthDate"])
    if "businessInfo" in attrs and not state.fault("ein-unmasked"):
        attrs["businessInfo"]["ein"] = rules.mask(attrs["businessInfo"]["ein"])
    if not state.fault("merchant-bank-unmasked"):
        bank = attrs["bankInfo"]
        bank["accountNumber"] = rules.mask(bank["accountNumber"])
        bank["routingNumber"] = rules.mask(bank["routingNumber"])
    if state.fault("retrieve-name-changed"):
        attrs["accountName"] = attrs["accountName"].upper()
    attrs["created"] = iso(row["created"])
    attrs["partnerId"] = PARTNER_ID
    return attrs


async def create_merchant(state: SandboxState, request: Request) -> Response:
    """POST /merchants: a merchant account, ready to take payments at once."""
    data = await base.body(request, "merchants")
    merchant = _parse_merchant(state, rules.obj(data, "attributes", "/data"))
    numbers = f"{base.digits(8)}-{base.digits(7)}-{base.digits(10)}"
    ident = f"apicert-{_slug(merchant['accountName'])}-{numbers}"
    state.store.execute(
        "INSERT INTO dz_merchants(id, account_name, account_type, attributes, created)"
        " VALUES(?, ?, ?, ?, ?)",
        (ident, merchant["accountName"], merchant["accountType"], dumps(merchant), state.now()),
    )
    return ok({"data": {"type": base.collection_type(state, "merchants"), "id": ident}})


async def list_merchants(state: SandboxState, request: Request) -> Response:
    """GET /merchants?limit=: the partner's merchants, newest first."""

    def view(row: Row) -> dict[str, Any]:
        created: Any = iso(row["created"])
        if state.fault("schema-drift"):
            created = int(row["created"])
        return {
            "accountName": row["account_name"],
            "accountType": row["account_type"],
            "created": created,
        }

    return base.owned_listing(state, request, "SELECT * FROM dz_merchants", (), "merchants", view)


async def get_merchant(state: SandboxState, request: Request) -> Response:
    """GET /merchants/{id}: the merchant with identity and bank numbers masked."""
    ident = request.path_params["id"]
    row = state.store.one("SELECT * FROM dz_merchants WHERE id = ?", (ident,))
    if row is None:
        return fail(404, f"No merchant with id {ident!r} exists.")
    data = {
        "type": base.collection_type(state, "merchants"),
        "id": ident,
        "partnerId": ident,
        "attributes": _masked_merchant(state, row),
    }
    return ok({"data": data})


# --- customers -----------------------------------------------------------------------------------


def _merchant_exists(conn: Connection, ident: str) -> bool:
    return conn.execute("SELECT 1 FROM dz_merchants WHERE id = ?", (ident,)).fetchone() is not None


async def create_customer(state: SandboxState, request: Request) -> Response:
    """POST /customers: a customer of an existing merchant."""
    data = await base.body(request, "customers")
    attrs = rules.obj(data, "attributes", "/data")
    path = "/data/attributes"
    merchant_id = rules.required_text(attrs, "merchantId", path, max_len=200)
    customer = {
        "name": rules.text(attrs, "name", path),
        "externalId": rules.text(attrs, "externalId", path, max_len=64, required=False),
        "merchantId": merchant_id,
        "internal": {"protectpayId": base.digits(11)},
    }
    with state.store.transaction() as conn:
        if not _merchant_exists(conn, merchant_id):
            return fail(400, f"No merchant with id {merchant_id!r} exists.", f"{path}/merchantId")
        ident = f"{merchant_id}-{base.digits(16)}-{int(state.now())}"
        conn.execute(
            "INSERT INTO dz_customers(id, merchant_id, attributes, created) VALUES(?, ?, ?, ?)",
            (ident, merchant_id, dumps(customer), state.now()),
        )
    answer = {"name": customer["name"], "externalId": customer["externalId"]}
    return resource(state, "customers", ident, answer)


def _customer_view(state: SandboxState, row: Row, *, detail: bool) -> dict[str, Any]:
    attrs: dict[str, Any] = json.loads(row["attributes"])
    if state.fault("retrieve-name-changed") and detail:
        attrs["name"] = attrs["name"].upper()
    if not detail:
        attrs.pop("internal", None)
    attrs["created"] = iso(row["created"])
    return attrs


def _owned_by(
    state: SandboxState, table: str, column: str, owner: str
) -> tuple[str, tuple[Any, ...]]:
    """The query of ``owner``'s rows (everyone's under ``list-owner-ignored``)."""
    if state.fault("list-owner-ignored"):
        return f"SELECT * FROM {table}", ()
    return f"SELECT * FROM {table} WHERE {column} = ?", (owner,)


async def list_customers(state: SandboxState, request: Request) -> Response:
    """GET /customers?id={merchantId}&limit=: the merchant's customers, newest first."""
    merchant_id = base.owner(state, request, "dz_merchants", "merchant")
    sql, params = _owned_by(state, "dz_customers", "merchant_id", merchant_id)
    return base.owned_listing(
        state, request, sql, params, "customers", lambda r: _customer_view(state, r, detail=False)
    )


async def get_customer(state: SandboxState, request: Request) -> Response:
    """GET /customers/{id}."""
    ident = request.path_params["id"]
    row = state.store.one("SELECT * FROM dz_customers WHERE id = ?", (ident,))
    if row is None:
        return fail(404, f"No customer with id {ident!r} exists.")
    return resource(state, "customers", ident, _customer_view(state, row, detail=True))


# --- tokens --------------------------------------------------------------------------------------


def _parse_token(attrs: dict[str, Any]) -> dict[str, Any]:
    path = "/data/attributes"
    token_type = rules.choice(attrs, "tokenType", path, ("card", "bank"))
    token: dict[str, Any] = {
        "tokenType": token_type,
        "customerId": rules.required_text(attrs, "customerId", path, max_len=200),
        "label": rules.text(attrs, "label", path, max_len=50),
    }
    if token_type == "card":
        card = rules.card(attrs, "card", path, cvv=False)
        card["type"] = rules.text(attrs["card"], "type", f"{path}/card", max_len=20)
        protected = rules.boolean(attrs["card"], "protected", f"{path}/card")
        if protected is not None:
            card["protected"] = protected
        token["card"] = card
        billing = rules.address(attrs, "billingAddress", path, required=False)
        if billing is not None:
            token["billingAddress"] = billing
    else:
        token["bank"] = rules.bank(attrs, "bank", path)
        sec = rules.choice(attrs, "StandardEntryClassCode", path, rules.SEC_CODES, required=False)
        token["StandardEntryClassCode"] = sec or "WEB"
    return token


def _masked_token(state: SandboxState, row: Row) -> dict[str, Any]:
    attrs: dict[str, Any] = json.loads(row["attributes"])
    if "card" in attrs and not state.fault("token-card-unmasked"):
        attrs["card"]["number"] = rules.mask(attrs["card"]["number"])
    if "bank" in attrs and not state.fault("token-bank-unmasked"):
        attrs["bank"]["accountNumber"] = rules.mask(attrs["bank"]["accountNumber"])
        attrs["bank"]["routingNumber"] = rules.mask(attrs["bank"]["routingNumber"])
    attrs["created"] = iso(row["created"])
    return attrs


async def create_token_resource(state: SandboxState, request: Request) -> Response:
    """POST /tokens: a stored card or bank account of an existing customer."""
    data = await base.body(request, "tokens")
    token = _parse_token(rules.obj(data, "attributes", "/data"))
    ident = f"{uuid.uuid4()}-{int(state.now())}"
    with state.store.transaction() as conn:
        known = conn.execute("SELECT 1 FROM dz_customers WHERE id = ?", (token["customerId"],))
        if known.fetchone() is None:
            detail = f"No customer with id {token['customerId']!r} exists."
            return fail(400, detail, "/data/attributes/customerId")
        conn.execute(
            "INSERT INTO dz_tokens(id, customer_id, token_type, attributes, created)"
            " VALUES(?, ?, ?, ?, ?)",
            (ident, token["customerId"], token["tokenType"], dumps(token), state.now()),
        )
    answer = {"label": token["label"], "customerId": token["customerId"]}
    return resource(state, "tokens", ident, answer)


async def list_tokens(state: SandboxState, request: Request) -> Response:
    """GET /tokens?id={customerId}&limit=: the customer's tokens, newest first, masked."""
    customer_id = base.owner(state, request, "dz_customers", "customer")
    sql, params = _owned_by(state, "dz_tokens", "customer_id", customer_id)
    return base.owned_listing(
        state, request, sql, params, "tokens", lambda r: _masked_token(state, r)
    )


async def get_token(state: SandboxState, request: Request) -> Response:
    """GET /tokens/{id}: the token with its card or bank numbers masked."""
    ident = request.path_params["id"]
    row = state.store.one("SELECT * FROM dz_tokens WHERE id = ?", (ident,))
    if row is None:
        return fail(404, f"No token with id {ident!r} exists.")
    return resource(state, "tokens", ident, _masked_token(state, row))


# --- wiring --------------------------------------------------------------------------------------


def _endpoint(
    state: SandboxState, handler: Handler, *, token: bool = True
) -> Callable[[Request], Awaitable[Response]]:
    """Wrap ``handler``: API key (403), then app token (401), then :class:`Invalid` as 4xx."""

    async def endpoint(request: Request) -> Response:
        refusal = _key_refusal(state, request)
        if refusal is None and token:
            refusal = _token_refusal(state, request)
        if refusal is not None:
            return refusal
        try:
            return await handler(state, request)
        except Invalid as exc:
            if exc.status < 500 and _as_500(state, request, exc):
                return fail(500, "There was an unexpected error.")
            return fail(exc.status, exc.detail, exc.pointer)

    return endpoint


def _as_500(state: SandboxState, request: Request, exc: Invalid) -> bool:
    """The validation faults: some bad payment input answered 500."""
    if request.method != "POST" or request.url.path != "/payments":
        return False
    if exc.missing and state.fault("missing-field-500"):
        return True
    return bool(
        state.fault("negative-amount-500")
        and exc.pointer is not None
        and exc.pointer.endswith("/amount")
        and "digits" in exc.detail
    )


def _route(
    state: SandboxState, path: str, get: Handler | None, post: Handler | None, *, token: bool = True
) -> Route:
    """One route per path, so a wrong method answers 405 with every allowed method in Allow."""
    handlers = {
        method: _endpoint(state, handler, token=token)
        for method, handler in (("GET", get), ("POST", post))
        if handler is not None
    }

    async def dispatch(request: Request) -> Response:
        method = "GET" if request.method == "HEAD" else request.method
        return await handlers[method](request)

    return Route(path, dispatch, methods=list(handlers))


def routes(state: SandboxState) -> list[BaseRoute]:
    """The Digitzs API routes, then a fallback keeping unknown paths in the error shape."""
    api = [
        _route(state, "/auth", verify_key, None, token=False),
        _route(state, "/auth/key", None, create_key, token=False),
        _route(state, "/auth/token", verify_token, create_token, token=False),
        _route(state, "/merchants", list_merchants, create_merchant),
        _route(state, "/merchants/{id}", get_merchant, None),
        _route(state, "/payments", list_payments, create_payment),
        _route(state, "/payments/{id}", get_payment, None),
        _route(state, "/customers", list_customers, create_customer),
        _route(state, "/customers/{id}", get_customer, None),
        _route(state, "/tokens", list_tokens, create_token_resource),
        _route(state, "/tokens/{id}", get_token, None),
    ]
    return [*api, FallbackRoute(api, lambda: fail(404, "The resource cannot be found."))]


def exception_handlers(state: SandboxState) -> dict[Any, Callable[[Request, Exception], Any]]:
    """Keep Starlette's own 404/405 and any crash in the error shape."""

    async def http_error(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        headers = exc.headers if isinstance(exc, HTTPException) else None
        detail = exc.detail if isinstance(exc, HTTPException) else "HTTP error"
        return fail(status, f"{detail}.", headers=dict(headers) if headers else None)

    async def crash(request: Request, exc: Exception) -> Response:
        return fail(500, "There was an unexpected error.")

    return {HTTPException: http_error, Exception: crash}
