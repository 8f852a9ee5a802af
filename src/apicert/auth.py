"""Per-vendor authentication for the client: how each vendor's credentials become headers.

Every credential and token is registered with the run's redactor the moment it is known, so it
can never reach a report, log or terminal line.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from apicert.http import Client
    from apicert.model import Exchange
    from apicert.redact import Redactor

__all__ = ["AuthError", "ConnectFiAuth", "DigiFiAuth", "DigitzsAuth"]


class AuthError(Exception):
    """No token could be had; the message says what to check.

    ``refused`` is True when the vendor answered 401/403: the user's credentials are wrong, a
    set-up error of the run. Otherwise the vendor's token endpoint itself misbehaved.
    """

    def __init__(self, message: str, *, refused: bool = False) -> None:
        super().__init__(message)
        self.refused = refused


class ConnectFiAuth:
    """connectFi: ``POST /auth/get-token`` with login and password, then ``x-connectfi-token``.

    The token is fetched on first use and cached until :meth:`invalidate` (called when a
    suite moves the sandbox clock or wants a fresh token).
    """

    header = "x-connectfi-token"

    def __init__(self, login: str, password: str) -> None:
        self.login = login
        self.password = password
        self._token: str | None = None
        self._refused: AuthError | None = None
        self._lock = threading.Lock()

    def credentials_body(self, password: str | None = None) -> dict[str, object]:
        """Return the get-token request body (with another password when given)."""
        return {
            "user": {
                "login": self.login,
                "password": self.password if password is None else password,
            }
        }

    def token(self, client: Client) -> str:
        """Return a token, fetching one with the configured credentials if none is cached."""
        with self._lock:
            if self._refused is not None:
                # Asking again with credentials the vendor refused risks locking the account.
                raise self._refused
            if self._token is None:
                client.redactor.add_secret(self.password)
                exchange = client.post("/auth/get-token", auth=False, json=self.credentials_body())
                token = None
                if exchange.status is not None and 200 <= exchange.status < 300:
                    try:
                        data = exchange.json().get("data") or {}
                        token = data.get("token") if isinstance(data, dict) else None
                    except (ValueError, AttributeError):
                        token = None
                if exchange.status in (401, 403):
                    self._refused = AuthError(
                        f"connectfi: get-token refused the credentials ({exchange.status}); "
                        "check APICERT_CONNECTFI_LOGIN and APICERT_CONNECTFI_PASSWORD",
                        refused=True,
                    )
                    raise self._refused
                if not isinstance(token, str) or not token:
                    raise AuthError(
                        f"connectfi: get-token answered {exchange.status or exchange.error} "
                        "without a token"
                    )
                self._token = token
            return self._token

    @staticmethod
    def learn_secrets(exchange: Exchange, redactor: Redactor) -> None:
        """Register the token of any get-token answer, whoever asked for it, before the
        exchange is redacted and stored."""
        if not exchange.path.endswith("/auth/get-token"):
            return
        try:
            data = exchange.json().get("data")
        except (ValueError, AttributeError):
            return
        if isinstance(data, dict) and isinstance(data.get("token"), str):
            redactor.add_secret(data["token"])

    def invalidate(self) -> None:
        """Forget the cached token; the next request fetches a new one."""
        with self._lock:
            self._token = None

    def __call__(self, client: Client, headers: dict[str, str]) -> None:
        headers[self.header] = self.token(client)


def _attribute(exchange: Exchange, name: str) -> str | None:
    """``data.attributes.<name>`` of a JSON response when it is a non-empty string."""
    try:
        body = exchange.json()
    except ValueError:
        return None
    data = body.get("data") if isinstance(body, dict) else None
    attributes = data.get("attributes") if isinstance(data, dict) else None
    value = attributes.get(name) if isinstance(attributes, dict) else None
    return value if isinstance(value, str) and value else None


class DigitzsAuth:
    """Digitzs: ``x-api-key`` on every call; ``POST /auth/key`` (appId) gives an appKey,
    ``POST /auth/token`` (apiKey + appKey) an appToken sent as ``Authorization: Bearer``.

    The token is cached with its creation time (``now``, the target's clock) and refreshed
    ``margin`` seconds before its documented hour is up, and once when a resource answers 401
    to it. A refused key (401/403 from the auth endpoints) is remembered and never sent again.
    """

    lifetime = 3600.0  # seed: "Tokens expire after one hour."

    def __init__(
        self,
        api_key: str,
        app_id: str,
        *,
        margin: float = 300.0,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.api_key = api_key
        self.app_id = app_id
        self.margin = margin
        self.now = now
        self._app_key: str | None = None
        self._token: str | None = None
        self._created = 0.0
        self._refused: AuthError | None = None
        self._refreshed_after_401: set[str] = set()
        self._lock = threading.RLock()

    # -- bodies and headers --------------------------------------------------------------
    def key_headers(self) -> dict[str, str]:
        """Headers of the auth endpoints: the API key only."""
        return {"x-api-key": self.api_key}

    def key_body(self, app_id: str | None = None) -> dict[str, Any]:
        """The ``POST /auth/key`` body (with another appId when given)."""
        return {"data": {"type": "auth", "attributes": {"appId": app_id or self.app_id}}}

    def token_body(self, app_key: str) -> dict[str, Any]:
        """The ``POST /auth/token`` body for ``app_key``."""
        return {"data": {"type": "auth", "id": self.api_key, "attributes": {"appKey": app_key}}}

    def headers_for(self, token: str) -> dict[str, str]:
        """Every header a resource call needs, with ``token`` as the app token."""
        return {"x-api-key": self.api_key, "appId": self.app_id, "Authorization": f"Bearer {token}"}

    # -- keys and tokens -----------------------------------------------------------------
    def _refuse(self, what: str, status: int | None) -> AuthError:
        self._refused = AuthError(
            f"digitzs: {what} refused the credentials ({status}); "
            "check APICERT_DIGITZS_API_KEY and APICERT_DIGITZS_APP_ID",
            refused=True,
        )
        return self._refused

    def new_app_key(self, client: Client) -> str:
        """Create a new appKey (the old one becomes unusable) and use it from now on."""
        with self._lock:
            if self._refused is not None:
                raise self._refused
            client.redactor.add_secret(self.api_key)
            key = self._issue(client, "/auth/key", self.key_body(), "appKey")
            self._app_key = key
            self._token = None
            return key

    def new_token(self, client: Client, app_key: str | None = None) -> str:
        """Create an app token from ``app_key`` (the current key, created if needed)."""
        with self._lock:
            if self._refused is not None:
                raise self._refused
            key = app_key or self._app_key or self.new_app_key(client)
            return self._issue(client, "/auth/token", self.token_body(key), "appToken")

    def _issue(self, client: Client, path: str, body: dict[str, object], attribute: str) -> str:
        """POST ``body`` to ``path`` and return ``data.attributes.<attribute>``, registered as a
        secret; a 401/403 is a refusal of the credentials, anything else without it an error."""
        exchange = client.post(path, auth=False, headers=self.key_headers(), json=body)
        if exchange.status in (401, 403):
            raise self._refuse(f"POST {path}", exchange.status)
        value = _attribute(exchange, attribute) if exchange.status == 200 else None
        if value is None:
            raise AuthError(
                f"digitzs: POST {path} answered {exchange.status or exchange.error} "
                f"without an {attribute}"
            )
        client.redactor.add_secret(value)
        return value

    def token(self, client: Client) -> str:
        """The cached app token; a new one when none is cached or its hour is nearly up."""
        with self._lock:
            age = self.now() - self._created
            if self._token is None or age >= self.lifetime - self.margin:
                self._token = self.new_token(client)
                self._created = self.now()
            return self._token

    def invalidate(self) -> None:
        """Forget the cached token; the next request creates a new one."""
        with self._lock:
            self._token = None

    def adopt_key(self, exchange: Exchange) -> None:
        """When ``exchange`` (sent by anyone, e.g. a generated case) created a new appKey, use
        it from now on: the vendor has made the cached one unusable."""
        if exchange.method != "POST" or not exchange.path.endswith("/auth/key"):
            return
        key = _attribute(exchange, "appKey") if exchange.status == 200 else None
        if key is not None:
            with self._lock:
                self._app_key = key
                self._token = None

    def refused_last(self, client: Client) -> bool:
        """True (once per token) when the client's last request with our token got a 401."""
        last = client.last
        token = self._token
        if (
            last is None
            or token is None
            or last.status != 401
            or token in self._refreshed_after_401
        ):
            return False
        if last.request_headers.get("Authorization") != f"Bearer {token}":
            return False
        self._refreshed_after_401.add(token)
        return True

    @staticmethod
    def learn_secrets(exchange: Exchange, redactor: Redactor) -> None:
        """Register any appKey or appToken a response reveals, whoever asked for it, before the
        exchange is redacted and stored."""
        if "/auth" not in exchange.path:
            return
        for name in ("appKey", "appToken"):
            redactor.add_secret(_attribute(exchange, name))

    def __call__(self, client: Client, headers: dict[str, str]) -> None:
        with self._lock:
            if self.refused_last(client):
                self.invalidate()
            headers.update(self.headers_for(self.token(client)))


class DigiFiAuth:
    """DigiFi: the organisation's key in the ``api-key`` header of every request, GET, POST, PUT
    and DELETE alike (seed 000, "API Authentication").

    The key is registered with the redactor and verified once, before the first request carries
    it (``GET /api/borrowers?count=1``): a 401 or 403 there means the user's key (or this
    machine's address) is refused, a set-up error that ends the run, never retried.
    """

    header = "api-key"
    # Seed 000, "API Versions": the version is a date in this header (2023-12-01 when absent).
    version_header = "api-version"
    verify_path = "/api/borrowers"

    def __init__(self, api_key: str) -> None:
        self.api_key = api_key
        self._verified = False
        self._refused: AuthError | None = None
        self._lock = threading.Lock()

    def verify(self, client: Client) -> None:
        """Check once that the vendor accepts the key; raise AuthError(refused=True) if not."""
        with self._lock:
            if self._refused is not None:
                raise self._refused
            if self._verified:
                return
            client.redactor.add_secret(self.api_key)
            exchange = client.get(
                self.verify_path,
                auth=False,
                headers={self.header: self.api_key},
                params={"count": 1},
            )
            if exchange.status in (401, 403):
                self._refused = AuthError(
                    f"digifi: the API refused the key ({exchange.status}); check "
                    "APICERT_DIGIFI_API_KEY and the organisation's IP allow-list",
                    refused=True,
                )
                raise self._refused
            self._verified = True

    def invalidate(self) -> None:
        """Nothing to forget: a DigiFi key does not expire (called when the clock moves)."""

    def __call__(self, client: Client, headers: dict[str, str]) -> None:
        self.verify(client)
        headers[self.header] = self.api_key
