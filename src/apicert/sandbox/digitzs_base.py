"""Digitzs sandbox plumbing shared by its endpoint modules: envelope, errors, lists, ids."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from datetime import UTC, date, datetime
from sqlite3 import Row
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from apicert.sandbox import digitzs_rules as rules
from apicert.sandbox.digitzs_rules import Invalid
from apicert.sandbox.runtime import SandboxState

__all__ = [
    "body",
    "collection_type",
    "digest",
    "digits",
    "fail",
    "ok",
    "owned_listing",
    "owner",
    "resource",
    "today",
]


# --- envelope ------------------------------------------------------------------------------------


def collection_type(state: SandboxState, name: str) -> str:
    """The ``type`` of a resource of collection ``name`` (singular under ``type-singular``)."""
    if name != "auth" and state.fault("type-singular"):
        return name[:-1]
    return name


def ok(body: dict[str, Any]) -> JSONResponse:
    """A 200 answer (the only success status the seed lists)."""
    return JSONResponse(body)


def resource(state: SandboxState, collection: str, ident: str | None, attrs: Any) -> JSONResponse:
    """``{"data": {"type", "id"?, "attributes"}}``."""
    data: dict[str, Any] = {"type": collection_type(state, collection)}
    if ident is not None:
        data["id"] = ident
    data["attributes"] = attrs
    return ok({"data": data})


def fail(
    status: int, detail: str, pointer: str | None = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    """The error body: ``{"message", "errors": [{"status", "title", "detail", "source"?}]}``."""
    error: dict[str, Any] = {
        "status": str(status),
        "title": rules.TITLES.get(status, "Error"),
        "detail": detail,
    }
    if pointer:
        error["source"] = {"pointer": pointer}
    return JSONResponse({"message": detail, "errors": [error]}, status, headers=headers)


def digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def today(state: SandboxState) -> date:
    return datetime.fromtimestamp(state.now(), UTC).date()


# --- lists ---------------------------------------------------------------------------------------


def listing(
    state: SandboxState,
    request: Request,
    rows_for: Callable[[int | None], list[Row]],
    count: Callable[[], int],
    collection: str,
    view: Callable[[Row], dict[str, Any]],
) -> Response:
    """``{"meta": {"items", "limit", "more"}, "data": [...]}`` of the newest ``limit`` rows."""
    limit = rules.parse_limit(request.query_params.get("limit"))
    rows = rows_for(None if state.fault("limit-ignored") else limit + 1)
    total = count()
    shown = rows if state.fault("limit-ignored") else rows[:limit]
    more = len(rows) > len(shown) and not state.fault("more-always-false")
    items = total if state.fault("items-miscounted") else len(shown)
    data = []
    for row in shown:
        item: dict[str, Any] = {"id": row["id"], "attributes": view(row)}
        if collection == "merchants" and state.fault("list-item-id-missing"):
            del item["id"]
        item["type"] = collection_type(state, collection)
        data.append(item)
    return ok({"meta": {"items": items, "limit": limit, "more": more}, "data": data})


def owner(state: SandboxState, request: Request, table: str, what: str) -> str:
    owner = request.query_params.get("id")
    if owner is None or not owner.strip():
        raise Invalid(f"The query parameter id (the {what} id) is required.")
    if state.store.one(f"SELECT id FROM {table} WHERE id = ?", (owner,)) is None:
        raise Invalid(f"No {what} with id {owner!r} exists.")
    return owner


def page(state: SandboxState, sql: str, params: tuple[Any, ...], limit: int | None) -> list[Row]:
    if limit is None:
        return state.store.all(sql + " ORDER BY created DESC, seq DESC", params)
    return state.store.all(sql + " ORDER BY created DESC, seq DESC LIMIT ?", (*params, limit))


def count(state: SandboxState, sql: str, params: tuple[Any, ...]) -> int:
    row = state.store.one(f"SELECT COUNT(*) AS n FROM ({sql})", params)
    return int(row["n"]) if row is not None else 0


def owned_listing(
    state: SandboxState,
    request: Request,
    sql: str,
    params: tuple[Any, ...],
    collection: str,
    view: Callable[[Row], dict[str, Any]],
) -> Response:
    return listing(
        state,
        request,
        lambda limit: page(state, sql, params, limit),
        lambda: count(state, sql, params),
        collection,
        view,
    )


async def body(request: Request, collection: str) -> dict[str, Any]:
    chunks: list[bytes] = []
    total = 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > rules.MAX_BODY:
            raise Invalid(f"The request body must not exceed {rules.MAX_BODY} bytes.", status=413)
        chunks.append(chunk)
    return rules.document(b"".join(chunks), collection)


def digits(count: int) -> str:
    return "".join(secrets.choice("0123456789") for _ in range(count))
