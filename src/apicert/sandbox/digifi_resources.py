"""DigiFi resources: borrowers, intermediaries, applications (CRUD + list) and seeded products.

Request validation, SQLite storage and the two versions' views. Everything here is synchronous
and runs inside the caller's store transaction, so a create and the saving of its idempotent
result commit together. Bad input raises :class:`Invalid` (400), an unknown id :class:`Missing`
(404); the caller turns them into the error body.

Inferred rules (the documents are silent; taken from the vendor's Node client types):

* a person borrower needs non-empty ``borrower_first_name`` and ``borrower_last_name`` variables,
  a company borrower ``borrower_company_name``, an intermediary ``intermediary_name``;
* variable values are strings (<= 1000 chars), finite numbers, booleans or null;
* a body that names a product, borrower or intermediary that does not exist is a 400 (the
  path's own id not existing is the 404);
* ``PUT`` merges ``variables``; a borrower's ``type`` cannot change;
* products are read-only and seeded; their ``borrowerTypes`` are informative, not enforced.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from sqlite3 import Connection, Row
from typing import Any

__all__ = [
    "COLLECTIONS",
    "PRODUCTS",
    "SCHEMA",
    "V2023",
    "V2024",
    "Invalid",
    "Missing",
    "Page",
    "Resources",
]

V2023 = "2023-12-01"
V2024 = "2024-02-26"

SCHEMA = """
CREATE TABLE IF NOT EXISTS df_resources (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    doc TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS df_resources_kind ON df_resources(kind, seq);
"""

# path segment -> stored kind
COLLECTIONS: dict[str, str] = {
    "borrowers": "borrower",
    "intermediaries": "intermediary",
    "applications": "application",
}
BORROWER_TYPES = ("person", "company")
REQUIRED_VARIABLES = {
    "person": ("borrower_first_name", "borrower_last_name"),
    "company": ("borrower_company_name",),
    "intermediary": ("intermediary_name",),
}
MAX_VARIABLES = 50
MAX_NAME = 100
MAX_TEXT = 1000
MAX_REASON = 500
MAX_COBORROWERS = 3
DEFAULT_COUNT = 20
MAX_COUNT = 100
EPOCH = "2023-12-01T00:00:00.000Z"
PRODUCTS: tuple[dict[str, Any], ...] = (
    {
        "id": "prd_personal_loan",
        "name": "Personal Loan",
        "type": "personalLoan",
        "borrowerTypes": ["person"],
        "createdAt": EPOCH,
        "updatedAt": EPOCH,
    },
    {
        "id": "prd_business_loan",
        "name": "Small Business Loan",
        "type": "smallBusinessLoan",
        "borrowerTypes": ["company"],
        "createdAt": EPOCH,
        "updatedAt": EPOCH,
    },
)
COUNT = re.compile(r"[0-9]{1,4}")
OFFSET = re.compile(r"[0-9]{1,9}")
DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


class Invalid(Exception):
    """Bad input: answered 400 ``validationFailed`` with this message."""


class Missing(Exception):
    """The path names a resource that does not exist: answered 404 ``notFound``."""


@dataclass(frozen=True)
class Page:
    """One page of a list: the rows, the next page's token (cursor paging) or the total."""

    rows: list[dict[str, Any]]
    next_token: str | None = None
    total: int | None = None


# --- validation ------------------------------------------------------------------------------


def parse_object(raw: bytes | None) -> dict[str, Any]:
    """The request body as a JSON object; ``None`` means it was over the size cap."""
    if raw is None:
        raise Invalid("The request body must not exceed 1 MB.")

    def no_constant(name: str) -> Any:
        raise ValueError(name)

    try:
        body = json.loads(raw, parse_constant=no_constant)
    except (ValueError, RecursionError):
        raise Invalid("The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise Invalid("The request body must be a JSON object.")
    return body


def _text(value: Any, where: str, max_len: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise Invalid(f"{where} must be a non-empty string.")
    if len(value) > max_len:
        raise Invalid(f"{where} must be at most {max_len} characters long.")
    return value


def _variables(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise Invalid(f"{where} must be an object.")
    if len(value) > MAX_VARIABLES:
        raise Invalid(f"{where} must hold at most {MAX_VARIABLES} variables.")
    for name, item in value.items():
        if not 1 <= len(name) <= MAX_NAME:
            raise Invalid(f"{where} names must be 1 to {MAX_NAME} characters long.")
        if isinstance(item, str):
            if len(item) > MAX_TEXT:
                raise Invalid(f"{where}.{name} must be at most {MAX_TEXT} characters long.")
        elif isinstance(item, float) and not math.isfinite(item):
            raise Invalid(f"{where}.{name} must be a finite number.")
        elif item is not None and not isinstance(item, (bool, int, float)):
            raise Invalid(f"{where}.{name} must be a string, number, boolean or null.")
    return dict(value)


def _required_variables(variables: Mapping[str, Any], kind: str, where: str) -> None:
    for name in REQUIRED_VARIABLES[kind]:
        value = variables.get(name)
        if not isinstance(value, str) or not value.strip():
            raise Invalid(f"{where}.{name} is required and must be a non-empty string.")


def _lock_end_date(value: Any, where: str) -> str | None:
    if value is None:
        return None
    message = f"{where} must be a date (YYYY-MM-DD) or null."
    if not isinstance(value, str) or not DATE.fullmatch(value):
        raise Invalid(message)
    try:
        date.fromisoformat(value)
    except ValueError:
        raise Invalid(message) from None
    return value


def _lock_reason(value: Any, where: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > MAX_REASON:
        raise Invalid(f"{where} must be a string of at most {MAX_REASON} characters, or null.")
    return value


def borrower_create(body: Mapping[str, Any], where: str = "$") -> dict[str, Any]:
    """The stored fields of a new borrower, from a create body."""
    kind = body.get("type")
    if kind not in BORROWER_TYPES:
        raise Invalid(f"{where}.type is required and must be one of {', '.join(BORROWER_TYPES)}.")
    if "variables" not in body:
        raise Invalid(f"{where}.variables is required.")
    variables = _variables(body["variables"], f"{where}.variables")
    _required_variables(variables, str(kind), f"{where}.variables")
    return {
        "type": kind,
        "variables": variables,
        "lockEndDate": _lock_end_date(body.get("lockEndDate"), f"{where}.lockEndDate"),
        "lockReason": _lock_reason(body.get("lockReason"), f"{where}.lockReason"),
    }


def intermediary_create(body: Mapping[str, Any], where: str = "$") -> dict[str, Any]:
    """The stored fields of a new intermediary, from a create body."""
    if "variables" not in body:
        raise Invalid(f"{where}.variables is required.")
    variables = _variables(body["variables"], f"{where}.variables")
    _required_variables(variables, "intermediary", f"{where}.variables")
    return {"variables": variables}


# --- storage ---------------------------------------------------------------------------------


def new_id() -> str:
    """A 24-hex-digit id (the vendor's ids look like MongoDB ObjectIds)."""
    return secrets.token_hex(12)


def _token(kind: str, seq: int) -> str:
    return base64.urlsafe_b64encode(f"{kind}:{seq}".encode()).decode().rstrip("=")


def _token_seq(kind: str, token: str) -> int:
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        text = ""
    prefix, _, seq = text.partition(":")
    if prefix != kind or not seq.isdigit() or len(seq) > 18:
        raise Invalid("nextToken is not a token this list handed out.")
    return int(seq)


class Resources:
    """Borrowers, intermediaries and applications of the one organisation of this sandbox."""

    def __init__(self, organization_id: str) -> None:
        self.organization_id = organization_id

    # reading
    def get(self, conn: Connection, kind: str, resource_id: str) -> dict[str, Any]:
        """The stored resource, or :class:`Missing`."""
        row = conn.execute(
            "SELECT * FROM df_resources WHERE kind = ? AND id = ?", (kind, resource_id)
        ).fetchone()
        if row is None:
            raise Missing(f"No {kind} with id {resource_id!r} exists.")
        return _doc(row)

    def exists(self, conn: Connection, kind: str, resource_id: str) -> bool:
        """True when ``resource_id`` is a stored ``kind``."""
        row = conn.execute(
            "SELECT 1 FROM df_resources WHERE kind = ? AND id = ?", (kind, resource_id)
        ).fetchone()
        return row is not None

    def count(self, conn: Connection, kind: str) -> int:
        """How many ``kind`` resources are stored."""
        row = conn.execute("SELECT COUNT(*) AS n FROM df_resources WHERE kind = ?", (kind,))
        return int(row.fetchone()["n"])

    def page(self, conn: Connection, kind: str, query: Mapping[str, str]) -> Page:
        """One page in creation order: ``count`` (1..100, default 20) after ``nextToken``."""
        count = _count(query)
        after = 0
        token = query.get("nextToken")
        if token is not None:
            after = _token_seq(kind, token)
        rows = conn.execute(
            "SELECT * FROM df_resources WHERE kind = ? AND seq > ? ORDER BY seq LIMIT ?",
            (kind, after, count + 1),
        ).fetchall()
        more = len(rows) > count
        rows = rows[:count]
        next_token = _token(kind, rows[-1]["seq"]) if more else None
        return Page([_doc(row) for row in rows], next_token=next_token)

    def search(
        self, conn: Connection, kind: str, query: Mapping[str, str], text: str | None
    ) -> Page:
        """Resources whose string variables contain ``text`` (any case), paged by offset."""
        count = _count(query)
        raw_offset = query.get("offset", "0")
        if not OFFSET.fullmatch(raw_offset):
            raise Invalid("offset must be an integer of at least 0.")
        offset = int(raw_offset)
        rows = [
            _doc(row)
            for row in conn.execute(
                "SELECT * FROM df_resources WHERE kind = ? ORDER BY seq", (kind,)
            ).fetchall()
        ]
        if text:
            needle = text.casefold()
            rows = [
                doc
                for doc in rows
                if any(
                    isinstance(value, str) and needle in value.casefold()
                    for value in doc["variables"].values()
                )
            ]
        return Page(rows[offset : offset + count], total=len(rows))

    # writing
    def insert(
        self, conn: Connection, kind: str, fields: dict[str, Any], now: str
    ) -> dict[str, Any]:
        """Store a new resource and return it."""
        resource_id = new_id()
        doc = dict(fields)
        application = kind == "application"
        cursor = conn.execute(
            "INSERT INTO df_resources(id, kind, doc, created_at, updated_at) VALUES(?, ?, ?, ?, ?)",
            (resource_id, kind, "{}" if application else _dumps(doc), now, now),
        )
        if application:
            # The display id is derived from the row's sequence number, known after the insert.
            doc["displayId"] = str(100000 + int(cursor.lastrowid or 0))
            conn.execute("UPDATE df_resources SET doc = ? WHERE id = ?", (_dumps(doc), resource_id))
        return {"id": resource_id, **doc, "createdAt": now, "updatedAt": now}

    def update(
        self, conn: Connection, kind: str, resource_id: str, changes: dict[str, Any], now: str
    ) -> dict[str, Any]:
        """Apply ``changes`` (variables merged) to a stored resource and return it."""
        current = self.get(conn, kind, resource_id)
        fields = {k: v for k, v in current.items() if k not in ("id", "createdAt", "updatedAt")}
        for key, value in changes.items():
            if key == "variables":
                fields["variables"] = {**fields.get("variables", {}), **value}
            else:
                fields[key] = value
        conn.execute(
            "UPDATE df_resources SET doc = ?, updated_at = ? WHERE id = ?",
            (_dumps(fields), now, resource_id),
        )
        return {"id": resource_id, **fields, "createdAt": current["createdAt"], "updatedAt": now}

    def delete(self, conn: Connection, kind: str, resource_id: str) -> dict[str, Any]:
        """Remove a stored resource and return what it was."""
        current = self.get(conn, kind, resource_id)
        conn.execute("DELETE FROM df_resources WHERE id = ?", (resource_id,))
        return current

    # creates and updates from request bodies
    def create(
        self, conn: Connection, kind: str, body: Mapping[str, Any], now: str
    ) -> dict[str, Any]:
        """Validate a create body of ``kind`` and store the resource (and nested ones)."""
        if kind == "borrower":
            return self.insert(conn, kind, borrower_create(body), now)
        if kind == "intermediary":
            return self.insert(conn, kind, intermediary_create(body), now)
        return self._create_application(conn, body, now)

    def _reference(self, conn: Connection, kind: str, value: Any, where: str, now: str) -> str:
        """An existing id (checked) or a nested create object (stored); anything else 400."""
        if isinstance(value, str):
            if not self.exists(conn, kind, value):
                raise Invalid(f"{where} names no existing {kind} ({value!r}).")
            return value
        if isinstance(value, dict):
            fields = (
                borrower_create(value, where)
                if kind == "borrower"
                else (intermediary_create(value, where))
            )
            return str(self.insert(conn, kind, fields, now)["id"])
        raise Invalid(f"{where} must be a {kind} id or a {kind} object.")

    def _create_application(
        self, conn: Connection, body: Mapping[str, Any], now: str
    ) -> dict[str, Any]:
        product_id = body.get("productId")
        if not isinstance(product_id, str) or not product_id:
            raise Invalid("$.productId is required and must be a string.")
        if product(product_id) is None:
            raise Invalid(f"$.productId names no existing product ({product_id!r}).")
        if "borrower" not in body:
            raise Invalid("$.borrower is required.")
        co_borrowers = body.get("coBorrowers", [])
        if not isinstance(co_borrowers, list) or len(co_borrowers) > MAX_COBORROWERS:
            raise Invalid(f"$.coBorrowers must be an array of at most {MAX_COBORROWERS} items.")
        variables = _variables(body.get("variables", {}), "$.variables")
        borrower_id = self._reference(conn, "borrower", body["borrower"], "$.borrower", now)
        coborrower_ids = [
            self._reference(conn, "borrower", item, f"$.coBorrowers[{index}]", now)
            for index, item in enumerate(co_borrowers)
        ]
        intermediary = body.get("intermediary")
        intermediary_id = (
            None
            if intermediary is None
            else self._reference(conn, "intermediary", intermediary, "$.intermediary", now)
        )
        fields = {
            "productId": product_id,
            "borrowerId": borrower_id,
            "coborrowerIds": coborrower_ids,
            "intermediaryId": intermediary_id,
            "variables": variables,
        }
        return self.insert(conn, "application", fields, now)

    def change(
        self, conn: Connection, kind: str, resource_id: str, body: Mapping[str, Any], now: str
    ) -> dict[str, Any]:
        """Validate an update body of ``kind`` and apply it."""
        current = self.get(conn, kind, resource_id)
        changes: dict[str, Any] = {}
        if "variables" in body:
            changes["variables"] = _variables(body["variables"], "$.variables")
        if kind == "borrower":
            if "type" in body and body["type"] != current["type"]:
                raise Invalid("$.type cannot be changed.")
            if "lockEndDate" in body:
                changes["lockEndDate"] = _lock_end_date(body["lockEndDate"], "$.lockEndDate")
            if "lockReason" in body:
                changes["lockReason"] = _lock_reason(body["lockReason"], "$.lockReason")
        if "variables" in changes and kind in ("borrower", "intermediary"):
            merged = {**current["variables"], **changes["variables"]}
            required = current["type"] if kind == "borrower" else "intermediary"
            _required_variables(merged, required, "$.variables")
        return self.update(conn, kind, resource_id, changes, now)

    # views
    def view(self, kind: str, doc: Mapping[str, Any], version: str) -> dict[str, Any]:
        """The resource as ``version`` shows it."""
        out: dict[str, Any] = {"id": doc["id"], "organizationId": self.organization_id}
        if kind == "borrower":
            out.update(
                type=doc["type"],
                variables=doc["variables"],
                lockEndDate=doc.get("lockEndDate"),
                lockReason=doc.get("lockReason"),
            )
        elif kind == "intermediary":
            out["variables"] = doc["variables"]
        else:
            out.update(displayId=doc["displayId"], productId=doc["productId"])
            if version == V2023:
                out.update(borrower=doc["borrowerId"], coBorrowers=doc["coborrowerIds"])
            else:
                out.update(borrowerId=doc["borrowerId"], coborrowerIds=doc["coborrowerIds"])
            out.update(intermediaryId=doc["intermediaryId"], variables=doc["variables"])
        out.update(createdAt=doc["createdAt"], updatedAt=doc["updatedAt"])
        return out

    def list_view(self, kind: str, page: Page, version: str) -> dict[str, Any]:
        """A page as ``version`` shows it: a search ``{items, total}``; a list
        ``{data, nextToken|null}`` (2023-12-01) or ``{items, nextToken?}`` (2024-02-26)."""
        items = [self.view(kind, doc, version) for doc in page.rows]
        if page.total is not None:
            return {"items": items, "total": page.total}
        if version == V2023:
            return {"data": items, "nextToken": page.next_token}
        out: dict[str, Any] = {"items": items}
        if page.next_token is not None:
            out["nextToken"] = page.next_token
        return out


def _count(query: Mapping[str, str]) -> int:
    raw = query.get("count")
    if raw is None:
        return DEFAULT_COUNT
    if not COUNT.fullmatch(raw) or not 1 <= int(raw) <= MAX_COUNT:
        raise Invalid(f"count must be an integer from 1 to {MAX_COUNT}.")
    return int(raw)


def product(product_id: str) -> dict[str, Any] | None:
    """The seeded product with ``product_id``, or None."""
    for item in PRODUCTS:
        if item["id"] == product_id:
            return dict(item)
    return None


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def _doc(row: Row) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(row["doc"])
    return {"id": row["id"], **doc, "createdAt": row["created_at"], "updatedAt": row["updated_at"]}
