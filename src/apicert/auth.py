"""Per-vendor authentication for the client: how each vendor's credentials become headers.

Every credential and token is registered with the run's redactor the moment it is known, so it
can never reach a report, log or terminal line.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from apicert.http import Client
    from apicert.model import Exchange
    from apicert.redact import Redactor

__all__ = ["AuthError", "ConnectFiAuth"]


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
