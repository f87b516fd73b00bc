"""What SQLite needs beyond SQLAlchemy's defaults: pragmas, a writer, a checkpointer.

:class:`SqliteWriter` runs :meth:`~.db.Database.run_write` transactions: each one whole,
on one sync connection. aiosqlite makes three or four thread round trips per statement
(cursor, execute, fetch, close), which cost a short transaction five times the CPU of
its statements (``bench/rent.py``).

Where the transaction runs: on the event loop's own thread, by default. A transaction
is a few hundred microseconds of Python and one sync, and SQLite's one writer runs them
one at a time anyway. In a thread of its own, each of its statements gave up the GIL and
then waited for the busy event loop to hand it back (up to the 5 ms switch interval):
a 3-message ingest commit took 2.7 ms instead of well under one, and that was the
median of push latency (``bench/ws_latency.py``: p50 7-10 ms in a thread, 4.6 on the
loop). The price is that the loop does not run during a transaction's sync, which the
GIL mostly made so already. A transaction never waits on the loop for another process's
write lock: it begins with no busy timeout, and when another process (a CLI import)
holds the lock, it goes to the writer thread, which waits as long as it takes. Bulk
work (an import's batch of thousands of rows, a re-encryption chunk) is sent there
too by its caller (``run_write(..., bulk=True)``); ``writes_on_loop=False`` sends every
transaction there, as before.

Checkpoints run in the background. SQLite's automatic checkpoint (every 1000 WAL pages)
runs inside the commit that crosses the mark, copying those pages into the database
file and syncing it: with a million numbers one write in forty or so paid for it, and
those writes were the p99 latency of rent. The writers here turn it off, and after
every :data:`CHECKPOINT_EVERY` commits a PASSIVE checkpoint runs on a connection and
thread of its own, concurrently with the writer (WAL allows that), never waiting for
anyone. (Its disk writes still compete with the commits' syncs, on the same disk.)

A checkpoint that runs while the writer writes can never catch up with the frames
written meanwhile, and SQLite only starts the WAL over (instead of growing it) when a
write begins with every frame copied. So once every :data:`CATCH_UP_EVERY` commits,
after a background checkpoint, the writer itself copies the few frames written during
it, just before its next transaction, which then starts the WAL afresh. That costs a
few pages and a sync of the database file, inside one write in five hundred instead
of one in forty.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL
from sqlalchemy.exc import OperationalError

from smslocker.log import get_logger

T = TypeVar("T")
log = get_logger(__name__)

BUSY_TIMEOUT_MS = 30_000
#: Commits between two background checkpoints (a rent and a release dirty ~25 pages).
CHECKPOINT_EVERY = 50
#: Commits between two catch-ups by the writer (which restart the WAL, see above). The
#: catch-up syncs the database file inside a write, so it is rare; the WAL holds up to
#: about this many commits' pages meanwhile.
CATCH_UP_EVERY = 500


def configure_sqlite(
    sync_engine: Engine, *, immediate: bool, synchronous: str, autocheckpoint: bool = True
) -> None:
    """Pragmas on every new connection of ``sync_engine``; ``immediate`` writers take the
    write lock at BEGIN (``BEGIN IMMEDIATE``) instead of at their first write."""

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let us emit BEGIN ourselves (pysqlite's own transaction handling defers it).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        if not autocheckpoint:
            cursor.execute("PRAGMA wal_autocheckpoint=0")
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


class SqliteWriter:
    """Whole transactions on one sync connection in one thread; background checkpoints.

    The caller serialises :meth:`run` (the database's write lock) and reports every
    commit made through any other writer connection with :meth:`committed`.
    """

    def __init__(
        self, url: URL, *, synchronous: str, echo: bool = False, on_loop: bool = True
    ) -> None:
        self.path = url.database or ""
        self.on_loop = on_loop
        # The one connection is used by the loop's thread and the writer thread, never at
        # once (the database's write lock): pysqlite's same-thread check is off for it.
        self.engine = create_engine(
            url.set(drivername="sqlite"),
            echo=echo,
            pool_size=1,
            max_overflow=0,
            connect_args={"check_same_thread": False},
        )
        configure_sqlite(self.engine, immediate=True, synchronous=synchronous, autocheckpoint=False)
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-writer")
        self._checkpoint_thread = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="sqlite-checkpoint"
        )
        self._checkpoint_connection: sqlite3.Connection | None = None
        self._checkpoint: asyncio.Future[None] | None = None
        self._catch_up = False
        self._commits = 0
        self._since_catch_up = 0
        self._on_disk = bool(self.path) and self.path != ":memory:"
        self._busy_timeout_ms = BUSY_TIMEOUT_MS  # the connection's, as configured
        #: Transactions that found another process's write lock and went to the thread.
        self.sent_to_thread = 0

    async def run(self, transaction: Callable[[Connection], T], *, bulk: bool = False) -> T:
        """``transaction(connection)`` in a transaction: on the loop, or in the writer
        thread when the loop should not wait (``bulk`` work, a catch-up checkpoint, a
        lock held by another process) or ``on_loop`` is off. See the module docstring."""
        catch_up, self._catch_up = self._catch_up, False
        if self.on_loop and not catch_up and not bulk:
            try:
                result = self._on_loop(transaction)
            except _LockedElsewhere:
                self.sent_to_thread += 1
                result = await self._in_thread(transaction, False)
        else:
            result = await self._in_thread(transaction, catch_up)
        self.committed()
        return result

    async def _in_thread(self, transaction: Callable[[Connection], T], catch_up: bool) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._thread, self._waiting, transaction, catch_up)

    def _waiting(self, transaction: Callable[[Connection], T], catch_up: bool) -> T:
        with self.engine.connect() as connection:
            self._busy_timeout(connection, BUSY_TIMEOUT_MS)
        return _in_transaction(self.engine, transaction, catch_up)

    def _on_loop(self, transaction: Callable[[Connection], T]) -> T:
        with self.engine.connect() as connection:
            self._busy_timeout(connection, 0)
            try:
                began = connection.begin()  # BEGIN IMMEDIATE: takes the write lock
            except OperationalError as error:
                if getattr(error.orig, "sqlite_errorcode", None) == sqlite3.SQLITE_BUSY:
                    raise _LockedElsewhere from error
                raise
            with began:
                return transaction(connection)

    def _busy_timeout(self, connection: Connection, milliseconds: int) -> None:
        """Set the connection's busy timeout, outside any transaction (on the driver's
        connection: through SQLAlchemy the statement would begin one)."""
        if self._busy_timeout_ms != milliseconds:
            driver = connection.connection.driver_connection
            assert driver is not None
            driver.execute(f"PRAGMA busy_timeout={milliseconds}")
            self._busy_timeout_ms = milliseconds

    def committed(self) -> None:
        """A write transaction committed: start a checkpoint when enough have."""
        self._commits += 1
        self._since_catch_up += 1
        if self._commits < CHECKPOINT_EVERY or self._checkpoint is not None or not self._on_disk:
            return
        self._commits = 0
        loop = asyncio.get_running_loop()
        self._checkpoint = loop.run_in_executor(self._checkpoint_thread, self._checkpoint_now)
        self._checkpoint.add_done_callback(self._checkpoint_done)

    def _checkpoint_now(self) -> None:
        if self._checkpoint_connection is None:
            self._checkpoint_connection = sqlite3.connect(self.path, isolation_level=None)
        # PASSIVE: as much as possible without waiting for readers or the writer.
        self._checkpoint_connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    def _checkpoint_done(self, future: asyncio.Future[None]) -> None:
        self._checkpoint = None
        if self._since_catch_up >= CATCH_UP_EVERY:
            self._since_catch_up = 0
            self._catch_up = True
        if not future.cancelled() and future.exception() is not None:
            # Not fatal: the WAL only grows until the next checkpoint succeeds.
            log.warning("sqlite.checkpoint_failed", error=repr(future.exception()))

    async def checkpointed(self) -> None:
        """Return once no background checkpoint is running."""
        if self._checkpoint is not None:
            await asyncio.wait([self._checkpoint])

    async def close(self) -> None:
        """Finish a running checkpoint, close both connections and both threads."""
        await self.checkpointed()
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._thread, self.engine.dispose)
        await loop.run_in_executor(self._checkpoint_thread, self._close_checkpoint_connection)
        self._thread.shutdown(wait=True)
        self._checkpoint_thread.shutdown(wait=True)

    def _close_checkpoint_connection(self) -> None:
        if self._checkpoint_connection is not None:
            self._checkpoint_connection.close()
            self._checkpoint_connection = None


class _LockedElsewhere(Exception):
    """Another process holds the write lock: this transaction goes to the writer thread."""


def _in_transaction(
    engine: Engine, transaction: Callable[[Connection], T], catch_up: bool = False
) -> T:
    if catch_up:
        _checkpoint_outside_a_transaction(engine)
    with engine.begin() as connection:
        return transaction(connection)


def _checkpoint_outside_a_transaction(engine: Engine) -> None:
    # On the driver's connection: through SQLAlchemy, the statement would open a
    # transaction (BEGIN IMMEDIATE), and SQLite refuses to checkpoint inside one.
    raw = engine.raw_connection()
    try:
        driver = raw.driver_connection
        assert driver is not None
        driver.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
    finally:
        raw.close()


__all__ = ["BUSY_TIMEOUT_MS", "CHECKPOINT_EVERY", "SqliteWriter", "configure_sqlite"]
