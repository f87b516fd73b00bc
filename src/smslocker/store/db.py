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

:meth:`Database.run_write` runs a whole transaction written as a plain function of a
(sync) connection. On SQLite that function runs in one writer thread of its own, on a
sync connection, under the same lock (:class:`~.sqlite.SqliteWriter`, which also keeps
WAL checkpoints out of the commits); on PostgreSQL it is
:meth:`~sqlalchemy.ext.asyncio.AsyncConnection.run_sync` inside :meth:`Database.write`:
the statements are network round trips either way. The hot paths (rent, release, the
sweeper) use it; :meth:`Database.write` stays for code written against an
:class:`~sqlalchemy.ext.asyncio.AsyncConnection`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from .sqlite import BUSY_TIMEOUT_MS, SqliteWriter, configure_sqlite

T = TypeVar("T")


class Database:
    """A database the platform runs on: ``read()`` and ``write()`` transactions."""

    def __init__(
        self,
        url: str,
        *,
        sqlite_synchronous: str = "FULL",
        sqlite_writes_on_loop: bool = True,
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
            configure_sqlite(
                self._writer_engine.sync_engine,
                immediate=True,
                synchronous=sqlite_synchronous,
                autocheckpoint=False,  # the SqliteWriter's checkpointer does it
            )
            configure_sqlite(
                self._reader_engine.sync_engine, immediate=False, synchronous=sqlite_synchronous
            )
            self._sqlite_writer: SqliteWriter | None = SqliteWriter(
                parsed, synchronous=sqlite_synchronous, echo=echo, on_loop=sqlite_writes_on_loop
            )
        else:
            connect_args: dict[str, Any] = {}
            if schema is not None:
                connect_args["server_settings"] = {"search_path": schema}
            self._writer_engine = create_async_engine(
                url, echo=echo, pool_size=10, max_overflow=20, connect_args=connect_args
            )
            self._reader_engine = self._writer_engine
            self._sqlite_writer = None
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
        assert self._sqlite_writer is not None
        async with self._write_lock:
            async with self._writer_engine.begin() as connection:
                yield connection
            self._sqlite_writer.committed()

    async def run_write(self, transaction: Callable[[Connection], T], *, bulk: bool = False) -> T:
        """Run ``transaction(connection)`` in one read-write transaction; return its result.

        Committed when it returns, rolled back when it raises (the exception propagates).
        ``transaction`` must do nothing but database work, and nothing that waits for the
        event loop: on SQLite it runs on the loop's thread or in the writer thread
        (:mod:`.sqlite`). ``bulk``: the transaction may take long (an import's thousands
        of rows): on SQLite it runs in the writer thread, and the loop keeps turning.
        """
        if self._write_lock is None:
            async with self._writer_engine.begin() as connection:
                return await connection.run_sync(transaction)
        assert self._sqlite_writer is not None
        async with self._write_lock:
            return await self._sqlite_writer.run(transaction, bulk=bulk)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A read-only view; on SQLite it never waits for the writer."""
        async with self._reader_engine.connect() as connection:
            yield connection

    async def close(self) -> None:
        await self._writer_engine.dispose()
        if self._reader_engine is not self._writer_engine:
            await self._reader_engine.dispose()
        if self._sqlite_writer is not None:
            await self._sqlite_writer.close()


def open_database(url: str, **kwargs: Any) -> Database:
    return Database(async_url(url), **kwargs)


def async_url(url: str) -> str:
    """``url`` with the async driver SQLAlchemy needs: ``postgresql://`` becomes
    ``postgresql+asyncpg://`` and ``sqlite://`` becomes ``sqlite+aiosqlite://``; a URL
    that already names a driver is returned unchanged."""
    scheme, separator, rest = url.partition("://")
    if not separator:
        return url
    driver = {"postgresql": "postgresql+asyncpg", "postgres": "postgresql+asyncpg"}.get(scheme)
    if scheme == "sqlite":
        driver = "sqlite+aiosqlite"
    return f"{driver}://{rest}" if driver else url


__all__ = ["BUSY_TIMEOUT_MS", "Database", "async_url", "open_database"]
