"""DigiFi idempotency keys: saved results per API key in SQLite, with an in-flight reservation.

Promise (seed, "Idempotent Requests"): the status and body of the first POST made with a key are
saved, success or failure, and every later request with that key (same API key) gets them back
until the key is deleted 6 hours (simulated clock) after that first request.

Concurrency: :meth:`IdempotencyStore.reserve` inserts an ``in_progress`` row inside an
``IMMEDIATE`` transaction before any work is done, so of N concurrent requests exactly one wins;
the others see the reservation (the endpoint answers them 409) or, once the winner finished, the
saved result. When nothing is awaited between reserving and working (no ``work_delay``), the
endpoint reserves, works and saves in one transaction (:meth:`IdempotencyStore.reserve_in`), so
the others only ever see the saved result. A reservation left by a process that died
(``kill -9``) belongs to another boot and is taken over by the next request, so a crash never
wedges a key.

Only digests of the API key and of the request are stored, never the key itself.
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
from dataclasses import dataclass

from apicert.sandbox.store import Store

__all__ = ["SCHEMA", "IdempotencyStore", "Reservation", "Saved", "digest"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS df_idempotency (
    owner TEXT NOT NULL,
    idem_key TEXT NOT NULL,
    state TEXT NOT NULL,
    boot TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    created_at REAL NOT NULL,
    status INTEGER,
    body BLOB,
    version TEXT,
    PRIMARY KEY (owner, idem_key)
);
"""


def digest(text: str | bytes) -> str:
    """SHA-256 hex digest of ``text`` (what the store keeps instead of secrets and bodies)."""
    data = text.encode() if isinstance(text, str) else text
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Saved:
    """The saved outcome of the first request with a key."""

    status: int
    body: bytes
    version: str
    fingerprint: str


@dataclass(frozen=True)
class Reservation:
    """What :meth:`IdempotencyStore.reserve` found: ``new`` (go ahead), ``busy`` or ``saved``."""

    kind: str
    saved: Saved | None = None


class IdempotencyStore:
    """The ``df_idempotency`` table of one sandbox; every method is one short transaction."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.boot = secrets.token_hex(8)

    def _live(
        self, conn: sqlite3.Connection, owner: str, key: str, now: float, ttl: float
    ) -> sqlite3.Row | None:
        row: sqlite3.Row | None = conn.execute(
            "SELECT * FROM df_idempotency WHERE owner = ? AND idem_key = ?", (owner, key)
        ).fetchone()
        if row is None:
            return None
        stale = row["state"] == "in_progress" and row["boot"] != self.boot
        if now >= row["created_at"] + ttl or stale:
            conn.execute(
                "DELETE FROM df_idempotency WHERE owner = ? AND idem_key = ?", (owner, key)
            )
            return None
        return row

    def reserve(
        self, owner: str, key: str, fingerprint: str, now: float, ttl: float
    ) -> Reservation:
        """Atomically: the saved result, ``busy`` while another request holds the key, or a new
        ``in_progress`` reservation (expired keys are deleted first)."""
        with self.store.transaction() as conn:
            return self.reserve_in(conn, owner, key, fingerprint, now, ttl)

    def reserve_in(
        self, conn: sqlite3.Connection, owner: str, key: str, fingerprint: str, now: float,
        ttl: float,
    ) -> Reservation:  # fmt: skip
        """:meth:`reserve` inside the caller's transaction (which may then do the work and
        :meth:`complete` it before committing: no other request ever sees the reservation)."""
        row = self._live(conn, owner, key, now, ttl)
        if row is None:
            conn.execute(
                "INSERT INTO df_idempotency(owner, idem_key, state, boot, fingerprint,"
                " created_at) VALUES(?, ?, 'in_progress', ?, ?, ?)",
                (owner, key, self.boot, fingerprint, now),
            )
            return Reservation("new")
        if row["state"] == "in_progress":
            return Reservation("busy")
        return Reservation("saved", _saved(row))

    def lookup(self, owner: str, key: str, now: float, ttl: float) -> Saved | None:
        """The saved (finished) result of ``key``, without reserving anything."""
        with self.store.transaction() as conn:
            row = self._live(conn, owner, key, now, ttl)
        if row is None or row["state"] != "done":
            return None
        return _saved(row)

    def complete(
        self,
        conn: sqlite3.Connection,
        owner: str,
        key: str,
        saved: Saved,
        now: float,
    ) -> None:
        """Save the outcome of ``key`` (inside the caller's transaction, with the work itself).

        Upserts, so it also serves the non-atomic path of the ``concurrent-duplicates`` fault.
        """
        conn.execute(
            "INSERT INTO df_idempotency(owner, idem_key, state, boot, fingerprint, created_at,"
            " status, body, version) VALUES(?, ?, 'done', ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT(owner, idem_key) DO UPDATE SET state = 'done', status = excluded.status,"
            " body = excluded.body, version = excluded.version",
            (
                owner,
                key,
                self.boot,
                saved.fingerprint,
                now,
                saved.status,
                saved.body,
                saved.version,
            ),
        )

    def release(self, owner: str, key: str) -> None:
        """Forget ``key`` (a reservation whose work failed unexpectedly, or was not to be saved)."""
        self.store.execute(
            "DELETE FROM df_idempotency WHERE owner = ? AND idem_key = ?", (owner, key)
        )


def _saved(row: sqlite3.Row) -> Saved:
    return Saved(
        status=int(row["status"]),
        body=bytes(row["body"]),
        version=str(row["version"]),
        fingerprint=str(row["fingerprint"]),
    )
