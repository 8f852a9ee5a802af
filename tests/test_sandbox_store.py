"""The sandbox Store: commits are visible to other connections at once, a failed block leaves
nothing behind, WAL checkpoints run in the background and stop with the store."""

from __future__ import annotations

import sqlite3
import threading
import time
from contextlib import closing
from pathlib import Path

import pytest

from apicert.sandbox import store as store_module
from apicert.sandbox.store import Store

SCHEMA = "CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v TEXT NOT NULL);"


def _rows(path: Path) -> list[tuple[int, str]]:
    with closing(sqlite3.connect(path)) as other:
        return list(other.execute("SELECT id, v FROM t ORDER BY id"))


def test_a_commit_is_seen_by_another_connection_at_once(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite", SCHEMA)
    try:
        with store.transaction() as conn:
            conn.execute("INSERT INTO t(v) VALUES('a')")
        store.execute("INSERT INTO t(v) VALUES('b')")
        assert _rows(tmp_path / "s.sqlite") == [(1, "a"), (2, "b")]
    finally:
        store.close()


def test_a_failed_block_is_rolled_back_and_the_store_stays_usable(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite", SCHEMA)
    try:
        with pytest.raises(RuntimeError), store.transaction() as conn:
            conn.execute("INSERT INTO t(v) VALUES('lost')")
            raise RuntimeError("boom")
        with store.transaction() as conn:
            conn.execute("INSERT INTO t(v) VALUES('kept')")
        assert [v for _, v in _rows(tmp_path / "s.sqlite")] == ["kept"]
        # the lock was released: another thread can write
        worker = threading.Thread(target=store.execute, args=("INSERT INTO t(v) VALUES('x')",))
        worker.start()
        worker.join(timeout=5)
        assert not worker.is_alive()
    finally:
        store.close()


def test_checkpoints_run_in_the_background_and_keep_the_wal_small(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_module, "CHECKPOINT_EVERY", 20)
    path = tmp_path / "s.sqlite"
    store = Store(path, SCHEMA)
    wal = Path(f"{path}-wal")
    try:
        for _ in range(30):  # each round: 20 commits, then a background checkpoint
            for i in range(20):
                with store.transaction() as conn:
                    conn.execute("INSERT INTO t(v) VALUES(?)", ("x" * 2000 + str(i),))
            time.sleep(0.05)  # time for the checkpoint (two fsyncs) before the next writes
        # 600 commits of ~2 pages each without a checkpoint would need >= 1,200 WAL frames
        # (~5 MB); the background checkpoints let the WAL restart from its beginning.
        assert wal.stat().st_size < 2_000_000
        assert len(_rows(path)) == 600
        names = {t.name for t in threading.enumerate()}
        assert "sandbox-checkpoint" in names
    finally:
        store.close()
    assert not wal.exists()  # the last connection closed: WAL folded into the file
    assert len(_rows(path)) == 600


def test_close_stops_the_checkpoint_thread(tmp_path: Path) -> None:
    before = sum(t.name == "sandbox-checkpoint" for t in threading.enumerate())
    store = Store(tmp_path / "s.sqlite", SCHEMA)
    assert sum(t.name == "sandbox-checkpoint" for t in threading.enumerate()) == before + 1
    store.close()
    assert sum(t.name == "sandbox-checkpoint" for t in threading.enumerate()) == before
