"""SQLite specifics: run_write's writer thread, and checkpoints kept out of the commits."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, text

from smslocker.store import sqlite as sqlite_module
from smslocker.store.db import Database


async def test_run_write_commits_returns_and_rolls_back(database: Any) -> None:
    def create(connection: Connection) -> int:
        connection.execute(text("CREATE TABLE things (name TEXT)"))
        connection.execute(text("INSERT INTO things (name) VALUES ('a')"))
        return 7

    assert await database.run_write(create) == 7

    def fail(connection: Connection) -> None:
        connection.execute(text("INSERT INTO things (name) VALUES ('b')"))
        raise LookupError("nope")

    with pytest.raises(LookupError):
        await database.run_write(fail)
    async with database.read() as connection:
        names = (await connection.execute(text("SELECT name FROM things"))).scalars().all()
    assert names == ["a"]


async def test_sqlite_transactions_run_on_the_event_loop_by_default(
    sqlite_database: Database,
) -> None:
    loop_thread = threading.get_ident()
    assert await sqlite_database.run_write(lambda _connection: threading.get_ident()) == (
        loop_thread
    )


async def test_bulk_transactions_run_in_the_writer_thread(sqlite_database: Database) -> None:
    """An import's batch of thousands of rows must not stop the loop for its duration."""
    loop_thread = threading.get_ident()
    bulk = await sqlite_database.run_write(lambda _c: threading.get_ident(), bulk=True)
    assert bulk != loop_thread
    assert await sqlite_database.run_write(lambda _c: threading.get_ident()) == loop_thread


async def test_without_writes_on_loop_they_run_in_one_writer_thread(tmp_path: Path) -> None:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'off.db'}", sqlite_writes_on_loop=False)
    try:
        loop_thread = threading.get_ident()
        seen = await database.run_write(lambda _connection: threading.get_ident())
        assert seen != loop_thread
        assert await database.run_write(lambda _connection: threading.get_ident()) == seen
    finally:
        await database.close()


async def test_a_write_lock_held_elsewhere_is_waited_for_off_the_loop(tmp_path: Path) -> None:
    """Another process (here: another connection) holds SQLite's write lock: the
    transaction must not stall the event loop waiting for it, and must still run, in
    the writer thread, once the lock is free."""
    path = tmp_path / "locked.db"
    database = Database(f"sqlite+aiosqlite:///{path}")
    other = sqlite3.connect(path, isolation_level=None)
    try:
        await database.run_write(lambda c: c.execute(text("CREATE TABLE t (n INTEGER)")).close())
        other.execute("BEGIN IMMEDIATE")  # the other process's write lock
        other.execute("INSERT INTO t VALUES (1)")

        def insert(connection: Connection) -> int:
            connection.execute(text("INSERT INTO t VALUES (2)"))
            return threading.get_ident()

        pending = asyncio.ensure_future(database.run_write(insert))
        ticks = 0
        for _ in range(20):  # the loop keeps turning while the write waits
            await asyncio.sleep(0.01)
            ticks += 1
        assert not pending.done()
        other.execute("COMMIT")
        ran_in = await asyncio.wait_for(pending, 10)
        assert ticks == 20
        assert ran_in != threading.get_ident()
        writer = database._sqlite_writer
        assert writer is not None
        assert writer.sent_to_thread == 1
        # The next transaction, with nobody else holding the lock, is back on the loop.
        assert await database.run_write(lambda _c: threading.get_ident()) == (threading.get_ident())
        async with database.read() as connection:
            rows = (await connection.execute(text("SELECT n FROM t ORDER BY n"))).scalars()
            assert list(rows) == [1, 2]
    finally:
        other.close()
        await database.close()


async def test_concurrent_run_writes_are_serialised(database: Any) -> None:
    await database.run_write(lambda c: c.execute(text("CREATE TABLE counter (n INTEGER)")).close())
    await database.run_write(lambda c: c.execute(text("INSERT INTO counter VALUES (0)")).close())

    def bump(connection: Connection) -> None:
        # Read, then write: lost updates if two ever interleaved (SQLite) — PostgreSQL
        # serialises the row through its lock on UPDATE.
        value = connection.execute(text("SELECT n FROM counter")).scalar_one()
        connection.execute(text("UPDATE counter SET n = :n"), {"n": value + 1})

    if not database.is_sqlite:
        pytest.skip("read-then-write without a row lock is only safe under SQLite's one writer")
    await asyncio.gather(*(database.run_write(bump) for _ in range(50)))
    async with database.read() as connection:
        assert (await connection.execute(text("SELECT n FROM counter"))).scalar_one() == 50


async def test_the_wal_is_checkpointed_in_the_background(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_module, "CHECKPOINT_EVERY", 10)
    monkeypatch.setattr(sqlite_module, "CATCH_UP_EVERY", 20)
    path = tmp_path / "wal.db"
    database = Database(f"sqlite+aiosqlite:///{path}")
    try:
        await database.run_write(lambda c: c.execute(text("CREATE TABLE blobs (b BLOB)")).close())
        for _ in range(300):
            await database.run_write(
                lambda c: c.execute(text("INSERT INTO blobs VALUES (:b)"), {"b": b"x" * 3000})
            )
            # Let each checkpoint finish before the next commit: on a busy machine a
            # background checkpoint can lag behind any number of commits otherwise.
            assert database._sqlite_writer is not None
            await database._sqlite_writer.checkpointed()
        wal = await asyncio.to_thread(os.path.getsize, f"{path}-wal")
    finally:
        await database.close()
    # 300 commits of a page or two each would be ~2.4 MB of WAL without checkpoints; with
    # one every 10 commits the WAL restarts again and again.
    assert wal < 600_000, wal
