"""Canned exchanges for unit tests of checks: no server, just what a vendor might answer."""

from __future__ import annotations

import itertools
import json
from typing import Any

from apicert.model import Exchange

_ids = itertools.count(1)


def exchange(
    method: str = "GET",
    path: str = "/health",
    *,
    status: int | None = 200,
    body: Any = None,
    raw: str | None = None,
    content_type: str = "application/json",
    request: Any = None,
    error: str | None = None,
) -> Exchange:
    """Build an :class:`Exchange` as the client would have recorded it."""
    text = raw if raw is not None else (None if body is None else json.dumps(body))
    return Exchange(
        id=f"canned-{next(_ids)}",
        method=method,
        url=f"http://vendor.test{path}",
        request_headers={"Content-Type": "application/json"},
        request_body=None if request is None else json.dumps(request),
        status=status,
        response_headers={"Content-Type": content_type} if status is not None else {},
        response_body=text,
        error=error,
    )


def ok(
    data: Any = None, *, status: int = 200, request_id: str = "r" * 32, **kwargs: Any
) -> Exchange:
    """A connectFi success envelope."""
    return exchange(
        status=status,
        body={"code": "0", "data": {} if data is None else data, "requestId": request_id},
        **kwargs,
    )


def err(
    code: str = "notFound", *, status: int = 404, request_id: str = "e" * 32, **kwargs: Any
) -> Exchange:
    """A connectFi error envelope."""
    return exchange(
        status=status,
        body={"code": code, "message": "Something is wrong.", "requestId": request_id},
        **kwargs,
    )
