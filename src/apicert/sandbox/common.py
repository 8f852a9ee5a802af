"""Pieces every reference sandbox needs: a Luhn check, a capped body read, a catch-all route.

Shared by the sandboxes only. The harness keeps its own versions (``apicert.redact``,
``apicert.http``): sandboxes and checks share no behaviour code, so a bug cannot hide itself on
both sides (ARCHITECTURE.md).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, NoMatchFound, Route
from starlette.types import Receive, Scope, Send

from apicert.sandbox.runtime import CONTROL_PREFIX

__all__ = ["FallbackRoute", "luhn_valid", "read_capped"]


def luhn_valid(digits: str) -> bool:
    """True when the string of digits ``digits`` passes the Luhn check."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


async def read_capped(request: Request, cap: int) -> bytes | None:
    """The whole request body, or None as soon as it grows past ``cap`` bytes."""
    chunks: list[bytes] = []
    total = 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > cap:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


class FallbackRoute(BaseRoute):
    """Matches any path (outside ``/__sandbox__/``) that none of ``siblings`` matches and answers
    ``not_found()``: unknown paths get the vendor's 404 error shape, never a redirect or a bare
    Starlette page."""

    def __init__(self, siblings: list[Route], not_found: Callable[[], Response]) -> None:
        self.siblings = siblings
        self.not_found = not_found

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        """Full match for an HTTP path no sibling route knows; no match otherwise."""
        if scope["type"] != "http" or str(scope.get("path", "")).startswith(CONTROL_PREFIX + "/"):
            return Match.NONE, {}
        if any(route.matches(scope)[0] is not Match.NONE for route in self.siblings):
            return Match.NONE, {}
        return Match.FULL, {}

    def url_path_for(self, name: str, /, **path_params: Any) -> Any:
        """A catch-all has no URL of its own."""
        raise NoMatchFound(name, path_params)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer the vendor's 404."""
        await self.not_found()(scope, receive, send)
