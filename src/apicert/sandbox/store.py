"""SQLite state for a reference sandbox: a real file, so a restarted sandbox keeps its data.

Each vendor app declares its own tables; this module only owns the connection, a lock and a
small key-value table the runtime itself uses (the clock offset and the active faults).

Speed without giving up the file as the state of record: one long-lived connection per store
(statements prepared once, in the connection's statement cache), WAL journal with
``synchronous=NORMAL`` (a commit appends to the WAL and does not wait for the disk; the file
stays consistent after a crash and a power loss can at most drop the last commits), and the WAL
checkpoints (which do wait for the disk: two fsyncs each) run in a background thread on a
connection of their own, so a request never waits for one. A write transaction still costs its
``BEGIN IMMEDIATE`` / ``COMMIT`` (file locks and WAL frame writes, some tens of microseconds).
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
import weakref
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

__all__ = ["Store"]

# A background checkpoint is started after this many write transactions (a few WAL pages each).
CHECKPOINT_EVERY = 200
# Backstop: the serving connection checkpoints by itself once the WAL holds this many pages
# (about 40 MB), should the background checkpoints fall behind.
AUTOCHECKPOINT_PAGES = 10_000


class _Checkpointer:
    """A daemon thread that runs ``PRAGMA wal_checkpoint(PASSIVE)`` on its own connection each
    time :meth:`kick` is called (PASSIVE: never blocks the writer nor waits for readers)."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._wake = threading.Event()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="sandbox-checkpoint", daemon=True)
        self._thread.start()

    def kick(self) -> None:
        """Ask for a checkpoint soon (one pending request at most)."""
        self._wake.set()

    def stop(self) -> None:
        """Stop the thread (after the checkpoint it may be running) and close its connection."""
        self._stopping = True
        self._wake.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=30)

    def _run(self) -> None:
        try:
            conn = sqlite3.connect(self._path, check_same_thread=False, isolation_level=None)
        except sqlite3.Error:
            return  # the serving connection's own autocheckpoint still bounds the WAL
        try:
            while True:
                self._wake.wait()
                self._wake.clear()
                if self._stopping:
                    return
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        finally:
            conn.close()


class _Transaction:
    """The context manager :meth:`Store.transaction` returns (cheaper than a generator one)."""

    __slots__ = ("_store",)

    def __init__(self, store: Store) -> None:
        self._store = store

    def __enter__(self) -> sqlite3.Connection:
        store = self._store
        store._lock.acquire()
        try:
            store._conn.execute("BEGIN IMMEDIATE")
        except BaseException:
            store._lock.release()
            raise
        return store._conn

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        store = self._store
        try:
            if exc_type is not None:
                store._conn.execute("ROLLBACK")
                return
            try:
                store._conn.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    store._conn.execute("ROLLBACK")
                raise
            store._wrote()
        finally:
            store._lock.release()


class Store:
    """One SQLite database, serialised behind a lock so async handlers can share it."""

    def __init__(self, path: str | Path, schema: str = "") -> None:
        self.path = str(path)
        self._conn = sqlite3.connect(
            self.path, check_same_thread=False, isolation_level=None, cached_statements=256
        )
        self._conn.row_factory = sqlite3.Row
        self._lock = threading.RLock()
        self._writes = 0
        with self._lock:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute(f"PRAGMA wal_autocheckpoint={AUTOCHECKPOINT_PAGES}")
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS runtime_kv (key TEXT PRIMARY KEY, value TEXT NOT NULL)"
            )
            if schema:
                self._conn.executescript(schema)
        self._checkpointer: _Checkpointer | None = _Checkpointer(self.path)
        # A store dropped without close() must not leave its thread behind.
        self._finalizer = weakref.finalize(self, self._checkpointer.stop)

    def _wrote(self) -> None:
        """Count a write; every CHECKPOINT_EVERY writes start a background checkpoint."""
        self._writes += 1
        if self._writes >= CHECKPOINT_EVERY and self._checkpointer is not None:
            self._writes = 0
            self._checkpointer.kick()

    def transaction(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        """Hold the lock and an immediate transaction for the block; commit or roll back."""
        return _Transaction(self)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        """Run one statement under the lock (autocommit) and return its cursor."""
        with self._lock:
            cursor = self._conn.execute(sql, params)
            self._wrote()
            return cursor

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
        """Stop the background checkpoints, then close the connection (the last connection to
        close checkpoints the whole WAL into the database file)."""
        if self._checkpointer is not None:
            self._finalizer.detach()
            self._checkpointer.stop()
            self._checkpointer = None
        with self._lock:
            self._conn.close()
