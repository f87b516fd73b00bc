"""Opening the database and handing out transactions.

SQLite (the embedded default) allows one writer at a time. Rather than let
concurrent transactions collide and retry, every write in this process goes through
one connection guarded by an ``asyncio.Lock`` and starts with ``BEGIN IMMEDIATE``, which
takes SQLite's write lock up front (and waits on ``busy_timeout`` if another process,
say a CLI import, holds it). That single writer is also what makes "two rent calls
never get the same number" true on SQLite. Reads use a separate pool and, in WAL mode,
never wait for the writer.

PostgreSQL has real concurrent writers: :meth:`Database.write` is a pooled connection in
a transaction there, and the callers that need it take row locks (``FOR UPDATE SKIP
LOCKED``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

BUSY_TIMEOUT_MS = 30_000


class Database:
    """A database the platform runs on: ``read()`` and ``write()`` transactions."""

    def __init__(
        self,
        url: str,
        *,
        sqlite_synchronous: str = "FULL",
        schema: str | None = None,
        echo: bool = False,
    ) -> None:
        """``schema`` (PostgreSQL only) puts every table in that schema, via search_path:
        tests use one schema each so that runs never see each other's rows."""
        self.url = url
        parsed = make_url(url)
        self.dialect = parsed.get_backend_name()
        self.is_sqlite = self.dialect == "sqlite"
        if self.is_sqlite:
            database = parsed.database or ""
            if database and database != ":memory:":
                Path(database).parent.mkdir(parents=True, exist_ok=True)
            # One connection kept open for the writer: the lock above means nobody
            # waits on the pool itself, and reopening SQLite per write costs more than
            # most writes.
            self._writer_engine = create_async_engine(url, echo=echo, pool_size=1, max_overflow=0)
            self._reader_engine = create_async_engine(url, echo=echo)
            for engine, immediate in ((self._writer_engine, True), (self._reader_engine, False)):
                _configure_sqlite(engine, immediate=immediate, synchronous=sqlite_synchronous)
        else:
            connect_args: dict[str, Any] = {}
            if schema is not None:
                connect_args["server_settings"] = {"search_path": schema}
            self._writer_engine = create_async_engine(
                url, echo=echo, pool_size=10, max_overflow=20, connect_args=connect_args
            )
            self._reader_engine = self._writer_engine
        self._write_lock = asyncio.Lock() if self.is_sqlite else None

    @property
    def engine(self) -> AsyncEngine:
        """The engine writes go through (for migrations and tools)."""
        return self._writer_engine

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """A read-write transaction, committed when the block ends without an exception."""
        if self._write_lock is None:
            async with self._writer_engine.begin() as connection:
                yield connection
            return
        async with self._write_lock, self._writer_engine.begin() as connection:
            yield connection

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A read-only view; on SQLite it never waits for the writer."""
        async with self._reader_engine.connect() as connection:
            yield connection

    async def close(self) -> None:
        await self._writer_engine.dispose()
        if self._reader_engine is not self._writer_engine:
            await self._reader_engine.dispose()


def open_database(url: str, **kwargs: Any) -> Database:
    return Database(url, **kwargs)


def _configure_sqlite(engine: AsyncEngine, *, immediate: bool, synchronous: str) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let us emit BEGIN ourselves (pysqlite's own transaction handling defers it).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


__all__ = ["Database", "open_database"]
