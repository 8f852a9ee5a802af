"""DigiFi reference sandbox: what the seed and the vendor's Node client promise, served locally.

Sources: the seed ``shared/seeds/000_498303aeafd3570d.txt`` ("API Overview": ``api-key`` on every
verb, the IP address whitelist, the status table 200/400/401/404/500, 100 requests per second
per customer with 429 beyond, idempotent POSTs with ``idempotency-key`` saved for 6 hours success
or failure, date versions in ``api-version`` defaulting to 12/01/2023) and the Node client facts in
``shared/VENDORS.md`` section 1 (paths under ``/api``, list ``{items, nextToken}``, DELETE answers
the resource as JSON, where the client reads an error message, ``x-request-id``).

Every request passes these gates in order: IP allow-list (403) -> ``api-key`` (401) -> rate
limit per API key (429) -> ``api-version`` (400) -> idempotency (POST) -> the resource handler.

Inferred choices (the documents are silent; the catalog marks them SHOULD):

* a refused address answers 403 ``ipNotAllowed``; the allow-list (``--option allow_ips=IP,CIDR``)
  is matched against the socket's peer address only, never ``X-Forwarded-For``;
* error bodies are ``{"error": {"code", "message"}}`` (every Node client version finds
  ``error.message``); unknown routes *and* unsupported methods answer 404 (kept inside the
  documented table, no 405); every success, creations and DELETE included, is 200; unknown
  body fields are ignored;
* versions ``2023-12-01`` (default) and ``2024-02-26`` (the Node client's pin), each also spelled
  ``MM/DD/YYYY``; anything else is 400 ``unsupportedApiVersion``. Both page lists by
  ``count``/``nextToken``: 2023-12-01 answers ``{"data": [...], "nextToken": str | null}`` and
  names an application's borrowers ``borrower``/``coBorrowers``; 2024-02-26 answers
  ``{"items": [...], "nextToken"?}`` (the Node client's shape) and names them
  ``borrowerId``/``coborrowerIds``. ``GET /api/x/search?search=&offset=&count=`` answers
  ``{"items", "total"}`` in both. Responses echo the version in ``api-version``;
* idempotency: what the handler answers (2xx or 4xx) is saved, gate refusals (403, 401, 429, bad
  version or key) are not; a replay answers the saved status and body bytes whatever the new
  body (the vendor's rule) with ``idempotent-replayed: true``; a request arriving while the first
  with its key is still running gets 409 ``idempotencyKeyInUse`` with ``Retry-After: 1`` (the IETF
  draft; the Node client retries 409) and is not saved;
* the rate limit counts authenticated requests per API key in a sliding one-second window of
  real time (``--option rate_limit=N``, default 100) and sends ``RateLimit-Policy``/``RateLimit``
  on every authenticated answer, plus ``Retry-After`` on a 429.

Options (``--option`` at start or ``PUT /__sandbox__/options``): ``allow_ips``, ``rate_limit``,
``idempotency_ttl`` (seconds, default 21600), ``work_delay`` (seconds a POST holds its key
before the work, default 0: lets a test see the in-flight 409).
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import json
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, NoMatchFound
from starlette.types import Receive, Scope, Send

from apicert.sandbox import digifi_idempotency as idem
from apicert.sandbox.common import read_capped
from apicert.sandbox.digifi_resources import (
    COLLECTIONS,
    PRODUCTS,
    V2023,
    V2024,
    Invalid,
    Missing,
    Resources,
    parse_object,
    product,
)
from apicert.sandbox.digifi_resources import SCHEMA as RESOURCE_SCHEMA
from apicert.sandbox.ratelimit import Decision, RateLimiter
from apicert.sandbox.runtime import CONTROL_PREFIX, Fault, SandboxState

__all__ = [
    "DEFAULT_CREDENTIALS",
    "FAULTS",
    "SCHEMA",
    "exception_handlers",
    "routes",
    "validate_option",
]

DEFAULT_CREDENTIALS = {"api_key": "sandbox-api-key"}
SCHEMA = RESOURCE_SCHEMA + idem.SCHEMA

VERSIONS: dict[str, str] = {
    "2023-12-01": V2023,
    "12/01/2023": V2023,
    "2024-02-26": V2024,
    "02/26/2024": V2024,
}
DEFAULT_VERSION = V2023
IDEMPOTENCY_TTL = 6 * 3600.0
MAX_BODY = 1024 * 1024
MAX_KEY = 255
DEFAULT_RATE_LIMIT = 100
RACE_WINDOW = 0.15
LOCKOUT_HORIZON = 5.0

Q = "DIGIFI-"
FAULTS: tuple[Fault, ...] = (
    Fault(
        "auth-skipped-on-delete",
        (Q + "AUTH-01", Q + "AUTH-02"),
        "DELETE is served without checking api-key",
    ),
    Fault("any-api-key", (Q + "AUTH-02", Q + "VER-02"), "any non-empty api-key is accepted"),
    Fault("allow-list-ignored", (Q + "IP-01", Q + "IP-02"), "the IP allow-list is not enforced"),
    Fault("ip-refused-401", (Q + "IP-02",), "an address outside the allow-list gets 401, not 403"),
    Fault(
        "create-201",
        (Q + "STATUS-01", Q + "VER-02"),
        "creations answer 201 instead of 200",
    ),
    Fault(
        "delete-204",
        (Q + "STATUS-01", Q + "JSON-01", Q + "VER-02"),
        "DELETE answers 204 with no body",
    ),
    Fault(
        "validation-500", (Q + "STATUS-02", Q + "VER-02"), "invalid bodies answer 500 internalError"
    ),
    Fault("not-found-400", (Q + "STATUS-03",), "an unknown id in the path answers 400"),
    Fault(
        "errors-plain-text",
        (Q + "JSON-01", Q + "VER-02"),
        "error bodies are text/plain",
    ),
    Fault(
        "error-message-elsewhere",
        (Q + "ERR-01", Q + "VER-02"),
        'error bodies are {"error": "<text>"}',
    ),
    Fault(
        "replay-new-body",
        (Q + "IDEM-01", Q + "IDEM-05", Q + "IDEM-06", Q + "IDEM-07"),
        "a replayed success carries a newly minted id",
    ),
    Fault(
        "replay-creates-duplicate",
        (Q + "IDEM-02", Q + "IDEM-05", Q + "IDEM-07"),
        "a replayed success does the work again (a second resource), answering the saved body",
    ),
    Fault("failure-not-saved", (Q + "IDEM-03",), "failed requests are not saved under their key"),
    Fault(
        "changed-payload-processed",
        (Q + "IDEM-05", Q + "IDEM-03"),
        "a reused key with a different body is processed anew",
    ),
    Fault("keys-never-expire", (Q + "IDEM-06",), "idempotency keys are kept forever"),
    Fault("keys-expire-early", (Q + "IDEM-06",), "idempotency keys are deleted after 1 hour"),
    Fault(
        "concurrent-duplicates",
        (Q + "IDEM-07",),
        "no reservation: concurrent requests with one key each create a resource",
    ),
    Fault(
        "rate-limit-50",
        (Q + "RATE-01", Q + "RATE-03"),
        # Reads only: the harness paces at 80/s and retries a refused GET, so a write
        # limited at 50/s would fail whichever POST happened to come fast (nondeterministic).
        "GET requests are limited to 50 per second, not 100",
    ),
    Fault("no-rate-limit", (Q + "RATE-02",), "requests are never refused with 429"),
    Fault("rate-limit-no-retry-after", (Q + "RATE-03",), "429 answers carry no Retry-After"),
    Fault(
        "rate-limit-no-recovery",
        (Q + "RATE-04",),
        "after a 429, the first request sent after backing off (>= 0.5 s quiet) is refused too",
    ),
    Fault(
        "version-header-ignored",
        (Q + "VER-02", Q + "VER-03"),
        "api-version is ignored (always 2023-12-01)",
    ),
    Fault(
        "wrong-default-version",
        (Q + "VER-01", Q + "VER-02"),
        "no api-version header means 2024-02-26",
    ),
    Fault(
        "unknown-version-accepted",
        (Q + "VER-03",),
        "an unknown api-version is served as the default",
    ),
)

Handler = Callable[["Call"], Awaitable[Response]]


# --- options -----------------------------------------------------------------------------------


def _networks(value: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    out = []
    for part in value.split(","):
        part = part.strip()
        if part:
            try:
                out.append(ipaddress.ip_network(part, strict=False))
            except ValueError:
                raise ValueError(f"allow_ips: {part!r} is not an IP address or CIDR") from None
    return tuple(out)


def _positive(key: str, value: Any, *, whole: bool) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if isinstance(value, bool) or not number > 0 or number == float("inf"):
        raise ValueError(f"{key} must be a positive number, not {value!r}")
    if whole and number != int(number):
        raise ValueError(f"{key} must be a whole number, not {value!r}")
    return int(number) if whole else number


def validate_option(key: str, value: Any) -> Any:
    """The checked value of sandbox option ``key``; ValueError names what is wrong."""
    if key == "allow_ips":
        if isinstance(value, list):
            value = ",".join(str(v) for v in value)
        if not isinstance(value, str):
            raise ValueError("allow_ips must be a comma-separated list of IPs or CIDRs")
        _networks(value)
        return value
    if key == "rate_limit":
        return _positive(key, value, whole=True)
    if key == "idempotency_ttl":
        return _positive(key, value, whole=False)
    if key == "work_delay":
        delay = 0.0 if value in (0, "0") else _positive(key, value, whole=False)
        if delay > 10:
            raise ValueError("work_delay must be at most 10 seconds")
        return delay
    known = "allow_ips, rate_limit, idempotency_ttl, work_delay"
    raise ValueError(f"unknown digifi option {key!r}; known: {known}")


# --- the per-request context ---------------------------------------------------------------------


@dataclass
class Call:
    """One request as it passes the gates: who sent it, which version, extra headers."""

    state: SandboxState
    app: DigiFi
    request: Request
    request_id: str
    owner: str = ""
    version: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def fault(self, name: str) -> bool:
        """True when fault ``name`` is on."""
        return self.state.fault(name)

    def respond(self, status: int, body: Any, extra: dict[str, str] | None = None) -> Response:
        """A JSON response with the request id, version and rate-limit headers."""
        content = b"" if body is None else _dumps(body)
        return self.raw(status, content, extra)

    def raw(self, status: int, content: bytes, extra: dict[str, str] | None = None) -> Response:
        """A response of ``content`` bytes (JSON unless empty) with the standard headers."""
        headers = {"x-request-id": self.request_id, **self.headers, **(extra or {})}
        if self.version is not None and "api-version" not in headers:
            headers["api-version"] = self.version
        media = None
        if content:
            media = "application/json" if content.startswith((b"{", b"[")) else "text/plain"
        return Response(content, status_code=status, headers=headers, media_type=media)

    def error(
        self, status: int, code: str, message: str, extra: dict[str, str] | None = None
    ) -> Response:
        """The error body ``{"error": {"code", "message"}}`` (or a faulty variant)."""
        if status == 400 and code == "validationFailed" and self.fault("validation-500"):
            status, code, message = 500, "internalError", "An unexpected error occurred."
        if self.fault("errors-plain-text") and status != 429:
            return self.raw(status, message.encode(), extra)
        if self.fault("error-message-elsewhere"):
            return self.respond(status, {"error": message}, extra)
        return self.respond(status, {"error": {"code": code, "message": message}}, extra)


def _dumps(body: Any) -> bytes:
    # ensure_ascii: a lone surrogate in client text is echoed escaped instead of crashing UTF-8.
    return json.dumps(body, separators=(",", ":"), ensure_ascii=True).encode()


# --- the sandbox ---------------------------------------------------------------------------------


class DigiFi:
    """The DigiFi sandbox of one :class:`SandboxState`: gates, routing and handlers."""

    def __init__(self, state: SandboxState) -> None:
        self.state = state
        self.idempotency = idem.IdempotencyStore(state.store)
        org = state.store.get_kv("digifi_organization_id")
        if org is None:
            org = secrets.token_hex(12)
            state.store.set_kv("digifi_organization_id", org)
        self.resources = Resources(str(org))
        self._limiters: dict[int, RateLimiter] = {}
        self._refused_at: dict[str, float] = {}
        self._last_seen: dict[str, float] = {}

    # gates
    def allowed_address(self, request: Request) -> bool:
        """True when the peer address is on the allow-list (or no list is set)."""
        value = str(self.state.options.get("allow_ips", "")).strip()
        if not value or self.state.fault("allow-list-ignored"):
            return True
        peer = request.client.host if request.client else ""
        try:
            address = ipaddress.ip_address(peer)
        except ValueError:
            return False
        return any(address in network for network in _networks(value))

    def authenticated(self, call: Call) -> bool:
        """True when the api-key header holds the organisation's key."""
        if call.request.method == "DELETE" and call.fault("auth-skipped-on-delete"):
            return True
        given = call.request.headers.get("api-key", "")
        if not given:
            return False
        if call.fault("any-api-key"):
            return True
        return hmac.compare_digest(given.encode(), self.state.credentials["api_key"].encode())

    def limiter(self, method: str = "GET") -> RateLimiter:
        """The limiter for the configured limit (one per limit, kept while it is in use)."""
        limit = int(self.state.options.get("rate_limit", DEFAULT_RATE_LIMIT))
        if self.state.fault("rate-limit-50") and method == "GET":
            limit = 50
        if limit not in self._limiters:
            self._limiters[limit] = RateLimiter(limit)
        return self._limiters[limit]

    def rate(self, call: Call) -> Response | None:
        """Count the request against its API key; a 429 when over the limit."""
        if call.fault("no-rate-limit"):
            return None
        limiter = self.limiter(call.request.method)
        now = time.monotonic()
        decision = limiter.hit(call.owner)
        quiet = now - self._last_seen.get(call.owner, now)
        self._last_seen[call.owner] = now
        refused_at = self._refused_at.get(call.owner)
        lockout = call.fault("rate-limit-no-recovery") and refused_at is not None
        backed_off = quiet >= limiter.window / 2
        if decision.allowed and lockout and backed_off:
            # The first request after backing off (within a few seconds of a 429) is refused too.
            del self._refused_at[call.owner]
            if refused_at is not None and now - refused_at <= LOCKOUT_HORIZON:
                limiter.reset(call.owner)
                decision = Decision(False, limiter.limit, limiter.window, 0, 0.0, 1.0)
        call.headers.update(limiter.headers(decision))
        if decision.allowed:
            return None
        if not lockout or not backed_off:
            self._refused_at[call.owner] = now
        if call.fault("rate-limit-no-retry-after"):
            call.headers.pop("Retry-After", None)
        limit = decision.limit
        return call.error(
            429, "rateLimitExceeded", f"Rate limit of {limit} requests per second exceeded."
        )

    def negotiate(self, call: Call) -> Response | None:
        """Set ``call.version`` from ``api-version``; a 400 for a version we do not have."""
        given = call.request.headers.get("api-version")
        if call.fault("version-header-ignored"):
            call.version = DEFAULT_VERSION
            return None
        if given is None:
            call.version = V2024 if call.fault("wrong-default-version") else DEFAULT_VERSION
            return None
        version = VERSIONS.get(given.strip())
        if version is None and call.fault("unknown-version-accepted"):
            version = DEFAULT_VERSION
        if version is None:
            supported = ", ".join(VERSIONS)
            return call.error(
                400,
                "unsupportedApiVersion",
                f"api-version {given[:40]!r} is not supported; use one of {supported}.",
            )
        call.version = version
        return None

    async def dispatch(self, request: Request) -> Response:
        """Run the gates, then the route's handler."""
        call = Call(self.state, self, request, secrets.token_hex(16))
        if not self.allowed_address(request):
            peer = request.client.host if request.client else "unknown"
            if call.fault("ip-refused-401"):
                return call.error(401, "unauthorized", "The api-key is missing or not valid.")
            return call.error(403, "ipNotAllowed", f"Address {peer} is not on the IP allow-list.")
        if not self.authenticated(call):
            return call.error(401, "unauthorized", "The api-key is missing or not valid.")
        call.owner = idem.digest(request.headers.get("api-key", ""))
        refusal = self.rate(call) or self.negotiate(call)
        if refusal is not None:
            return refusal
        handlers = self.route(request)
        if handlers is None:
            message = f"No route for {request.method} {request.url.path}."
            return call.error(404, "notFound", message)
        handler = handlers.get(request.method)
        if handler is None:
            # Kept inside the documented status table: no 405.
            message = f"No route for {request.method} {request.url.path}."
            return call.error(404, "notFound", message)
        return await handler(call)

    def route(self, request: Request) -> dict[str, Handler] | None:
        """The handlers by method of the request's path, or None for an unknown path."""
        parts = request.url.path.split("/")[1:]
        if len(parts) not in (2, 3) or parts[0] != "api" or not all(parts):
            return None
        collection = parts[1]
        if collection == "products":
            return {"GET": list_products if len(parts) == 2 else get_product}
        if collection not in COLLECTIONS:
            return None
        if len(parts) == 2:
            return {"GET": list_resources, "POST": create}
        if parts[2] == "search":
            return {"GET": search}
        return {"GET": retrieve, "PUT": update, "DELETE": delete}


# --- handlers ------------------------------------------------------------------------------------


def _kind(call: Call) -> str:
    return COLLECTIONS[call.request.url.path.split("/")[2]]


def _path_id(call: Call) -> str:
    return call.request.url.path.split("/")[3]


def _missing(call: Call, exc: Missing) -> Response:
    if call.fault("not-found-400"):
        return call.error(400, "validationFailed", str(exc))
    return call.error(404, "notFound", str(exc))


def _invalid(call: Call, exc: Invalid) -> Response:
    return call.error(400, "validationFailed", str(exc))


async def list_products(call: Call) -> Response:
    """GET /api/products: the seeded products (a bare array, as the Node client expects)."""
    return call.respond(200, [dict(p) for p in PRODUCTS])


async def get_product(call: Call) -> Response:
    """GET /api/products/{id}."""
    found = product(call.request.url.path.split("/")[3])
    if found is None:
        return _missing(call, Missing(f"No product with id {_path_id(call)!r} exists."))
    return call.respond(200, found)


async def list_resources(call: Call) -> Response:
    """GET /api/{collection}?count=&nextToken=: one page in the version's list shape."""
    kind = _kind(call)
    resources = call.app.resources
    query = call.request.query_params
    assert call.version is not None
    try:
        with call.state.store.transaction() as conn:
            page = resources.page(conn, kind, query)
    except Invalid as exc:
        return _invalid(call, exc)
    return call.respond(200, resources.list_view(kind, page, call.version))


async def search(call: Call) -> Response:
    """GET /api/{collection}/search?search=&offset=&count=: ``{items, total}`` in every version."""
    kind = _kind(call)
    resources = call.app.resources
    query = call.request.query_params
    assert call.version is not None
    try:
        with call.state.store.transaction() as conn:
            page = resources.search(conn, kind, query, query.get("search"))
    except Invalid as exc:
        return _invalid(call, exc)
    return call.respond(200, resources.list_view(kind, page, call.version))


async def retrieve(call: Call) -> Response:
    """GET /api/{collection}/{id}."""
    kind = _kind(call)
    try:
        with call.state.store.transaction() as conn:
            doc = call.app.resources.get(conn, kind, _path_id(call))
    except Missing as exc:
        return _missing(call, exc)
    assert call.version is not None
    return call.respond(200, call.app.resources.view(kind, doc, call.version))


async def update(call: Call) -> Response:
    """PUT /api/{collection}/{id}: merge variables (and borrower lock fields)."""
    kind = _kind(call)
    raw = await read_capped(call.request, MAX_BODY)
    try:
        with call.state.store.transaction() as conn:
            call.app.resources.get(conn, kind, _path_id(call))
            body = parse_object(raw)
            doc = call.app.resources.change(conn, kind, _path_id(call), body, call.state.now_iso())
    except Missing as exc:
        return _missing(call, exc)
    except Invalid as exc:
        return _invalid(call, exc)
    assert call.version is not None
    return call.respond(200, call.app.resources.view(kind, doc, call.version))


async def delete(call: Call) -> Response:
    """DELETE /api/{collection}/{id}: answers the deleted resource as JSON."""
    kind = _kind(call)
    try:
        with call.state.store.transaction() as conn:
            doc = call.app.resources.delete(conn, kind, _path_id(call))
    except Missing as exc:
        return _missing(call, exc)
    if call.fault("delete-204"):
        return call.respond(204, None)
    assert call.version is not None
    return call.respond(200, call.app.resources.view(kind, doc, call.version))


def _create_outcome(call: Call, conn: Any, kind: str, raw: bytes | None) -> tuple[int, bytes]:
    """Do the create inside ``conn``'s transaction; (status, body bytes) success or failure."""
    try:
        doc = call.app.resources.create(conn, kind, parse_object(raw), call.state.now_iso())
    except Invalid as exc:
        response = _invalid(call, exc)
        return response.status_code, bytes(response.body)
    assert call.version is not None
    status = 201 if call.fault("create-201") else 200
    return status, _dumps(call.app.resources.view(kind, doc, call.version))


def _replay(call: Call, saved: idem.Saved) -> Response:
    body = saved.body
    if 200 <= saved.status < 300 and call.fault("replay-new-body"):
        try:
            data = json.loads(body)
            data["id"] = secrets.token_hex(12)
            body = _dumps(data)
        except (ValueError, TypeError):
            pass
    extra = {"idempotent-replayed": "true", "api-version": saved.version}
    return call.raw(saved.status, body, extra)


async def create(call: Call) -> Response:
    """POST /api/{collection}: create, honouring ``idempotency-key``."""
    kind = _kind(call)
    raw = await read_capped(call.request, MAX_BODY)
    key = call.request.headers.get("idempotency-key")
    state = call.state
    if key is None:
        with state.store.transaction() as conn:
            status, body = _create_outcome(call, conn, kind, raw)
        return call.raw(status, body)
    if not 1 <= len(key) <= MAX_KEY or not key.isascii() or not key.isprintable():
        return call.error(
            400,
            "invalidIdempotencyKey",
            f"idempotency-key must be 1 to {MAX_KEY} printable ASCII characters.",
        )
    return await _idempotent_create(call, kind, raw, key)


def _ttl(call: Call) -> float:
    if call.fault("keys-never-expire"):
        return float("inf")
    if call.fault("keys-expire-early"):
        return 3600.0
    return float(call.state.options.get("idempotency_ttl", IDEMPOTENCY_TTL))


async def _idempotent_create(call: Call, kind: str, raw: bytes | None, key: str) -> Response:
    state = call.state
    store = call.app.idempotency
    assert call.version is not None
    fingerprint = idem.digest(
        f"{call.request.method} {call.request.url.path} ".encode() + (raw or b"")
    )
    delay = float(state.options.get("work_delay", 0.0))
    if call.fault("concurrent-duplicates"):
        saved = store.lookup(call.owner, key, state.now(), _ttl(call))
        if saved is None:
            await asyncio.sleep(max(delay, RACE_WINDOW))
            return _do_and_save(call, kind, raw, key, fingerprint)
        return _after_saved(call, kind, raw, key, fingerprint, saved)
    if not delay:
        # Nothing awaits between reserving the key and doing the work: reserve, create and save
        # the outcome in one transaction (one commit; the reservation is never seen outside).
        with state.store.transaction() as conn:
            reservation = store.reserve_in(
                conn, call.owner, key, fingerprint, state.now(), _ttl(call)
            )
            outcome = None
            if reservation.kind == "new":
                outcome = _create_and_save(call, conn, kind, raw, key, fingerprint)
        if outcome is not None:
            return call.raw(*outcome)
    else:
        reservation = store.reserve(call.owner, key, fingerprint, state.now(), _ttl(call))
    if reservation.kind == "busy":
        return call.error(
            409,
            "idempotencyKeyInUse",
            "A request with this idempotency-key is still being processed; retry later.",
            {"Retry-After": "1"},
        )
    if reservation.saved is not None:
        return _after_saved(call, kind, raw, key, fingerprint, reservation.saved)
    try:
        if delay:
            await asyncio.sleep(delay)
        return _do_and_save(call, kind, raw, key, fingerprint)
    except BaseException:
        store.release(call.owner, key)
        raise


def _after_saved(
    call: Call, kind: str, raw: bytes | None, key: str, fingerprint: str, saved: idem.Saved
) -> Response:
    """What a request whose key already holds a result gets (the replay, or a faulty variant)."""
    if saved.fingerprint != fingerprint and call.fault("changed-payload-processed"):
        return _do_and_save(call, kind, raw, key, fingerprint)
    if 200 <= saved.status < 300 and call.fault("replay-creates-duplicate"):
        with call.state.store.transaction() as conn:
            _create_outcome(call, conn, kind, raw)
    return _replay(call, saved)


def _do_and_save(call: Call, kind: str, raw: bytes | None, key: str, fingerprint: str) -> Response:
    """Do the create and save its outcome under ``key`` in the same transaction."""
    with call.state.store.transaction() as conn:
        status, body = _create_and_save(call, conn, kind, raw, key, fingerprint)
    return call.raw(status, body)


def _create_and_save(
    call: Call, conn: Any, kind: str, raw: bytes | None, key: str, fingerprint: str
) -> tuple[int, bytes]:
    """Inside ``conn``'s transaction: the create, and its outcome saved under ``key``."""
    store = call.app.idempotency
    assert call.version is not None
    status, body = _create_outcome(call, conn, kind, raw)
    if status >= 300 and call.fault("failure-not-saved"):
        conn.execute(
            "DELETE FROM df_idempotency WHERE owner = ? AND idem_key = ?", (call.owner, key)
        )
    else:
        saved = idem.Saved(status, body, call.version, fingerprint)
        store.complete(conn, call.owner, key, saved, call.state.now())
    return status, body


# --- wiring --------------------------------------------------------------------------------------


class _Everything(BaseRoute):
    """Every HTTP path outside ``/__sandbox__/`` goes to the DigiFi dispatcher."""

    def __init__(self, app: DigiFi) -> None:
        self.app = app

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] != "http" or str(scope.get("path", "")).startswith(CONTROL_PREFIX + "/"):
            return Match.NONE, {}
        return Match.FULL, {}

    def url_path_for(self, name: str, /, **path_params: Any) -> Any:
        raise NoMatchFound(name, path_params)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = await self.app.dispatch(Request(scope, receive))
        await response(scope, receive, send)


def routes(state: SandboxState) -> list[BaseRoute]:
    """The DigiFi API: one route that runs the gates and dispatches by method and path."""
    return [_Everything(DigiFi(state))]


def exception_handlers(state: SandboxState) -> dict[Any, Callable[[Request, Exception], Any]]:
    """Any crash still answers JSON in the DigiFi error shape (never a bare traceback)."""

    async def crash(request: Request, exc: Exception) -> Response:
        body = {"error": {"code": "internalError", "message": "An unexpected error occurred."}}
        return Response(_dumps(body), status_code=500, media_type="application/json")

    return {Exception: crash}
