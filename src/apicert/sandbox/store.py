"""SQLite state for a reference sandbox: a real file, so a restarted sandbox keeps its data.

Each vendor app declares its own tables; this module only owns the connection, a lock and a
small key-value table the runtime itself uses (the clock offset and the active faults).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["Store"]


class Store:
    """One SQLite database, serialised behind a lock so async handlers can share it."""

    def __init__(self, path: str | Path, schema: str = "") -> None:
        self.path = str(path)
        self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._conn.row_factory = sqlite3.Row
        self._lock = threading.RLock()
        with self._lock:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS runtime_kv (key TEXT PRIMARY KEY, value TEXT NOT NULL)"
            )
            if schema:
                self._conn.executescript(schema)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Hold the lock and an immediate transaction for the block; commit or roll back."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def execute(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        """Run one statement under the lock (autocommit) and return its cursor."""
        with self._lock:
            return self._conn.execute(sql, params)

    def one(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        """Return the first row of a query, or None."""
        with self._lock:
            row: sqlite3.Row | None = self._conn.execute(sql, params).fetchone()
            return row

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        """Return every row of a query."""
        with self._lock:
            return list(self._conn.execute(sql, params).fetchall())

    def get_kv(self, key: str, default: Any = None) -> Any:
        """Return a JSON value saved under ``key`` in the runtime table."""
        row = self.one("SELECT value FROM runtime_kv WHERE key = ?", (key,))
        return default if row is None else json.loads(row["value"])

    def set_kv(self, key: str, value: Any) -> None:
        """Save a JSON value under ``key`` in the runtime table."""
        self.execute(
            "INSERT INTO runtime_kv(key, value) VALUES(?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, json.dumps(value)),
        )

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._conn.close()
