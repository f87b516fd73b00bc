"""The ``message.read`` audit of pushed messages: one writer per process, for every stream.

A WebSocket or SSE stream hands out messages as they land: a hundred renters at 1,000
messages per second are 1,000 reads per second. Written one transaction per frame, as
each stream once did, the audit trail took the database's one writer (SQLite) or the
trail's advisory lock (PostgreSQL) a thousand times a second, and the ingest commits
queued behind it: push latency went from milliseconds to seconds (``bench/ws_latency.py``).

So the streams note what they sent (:meth:`ReadTrail.note`) and one task writes what
all of them noted, in one transaction, at most every :attr:`ReadTrail.interval_s`: a
few appends per second whatever the traffic. Within one write, the reads of one
(caller, rental, path) are one entry (at most :data:`READ_IDS_PER_ENTRY` message ids
each). A frame is never held for its audit: the trail follows the push by up to the
interval. :meth:`ReadTrail.flush` writes what was noted before it and waits (a stream
calls it when it ends, the platform when it closes), so nothing noted is left behind by
an orderly stop. A failed write is logged, never raised: the messages went out already.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial

from sqlalchemy import Connection

from smslocker.log import get_logger
from smslocker.store import Database

from . import audit

log = get_logger(__name__)

#: Message ids one ``message.read`` entry lists at most: a larger read is several entries.
READ_IDS_PER_ENTRY = 100


@dataclass(frozen=True, slots=True)
class Read:
    """Messages of one rental handed to one caller by one path (``via``)."""

    account_id: int
    actor: str
    via: str
    rental_id: str
    message_ids: tuple[int, ...]


def append_reads(connection: Connection, reads: Sequence[Read], *, at: datetime) -> None:
    """Append the entries of ``reads`` in ``connection``'s transaction, the reads of one
    (caller, rental, path) merged, in the order they were first noted."""
    merged: dict[tuple[int, str, str, str], list[int]] = {}
    for read in reads:
        key = (read.account_id, read.actor, read.via, read.rental_id)
        merged.setdefault(key, []).extend(read.message_ids)
    audit.append_many(
        connection,
        [
            audit.Draft(
                audit.MESSAGE_READ,
                at,
                actor,
                account_id,
                rental_id,
                {"message_ids": ids[start : start + READ_IDS_PER_ENTRY], "via": via},
            )
            for (account_id, actor, via, rental_id), ids in merged.items()
            for start in range(0, len(ids), READ_IDS_PER_ENTRY)
        ],
    )


class ReadTrail:
    """Collects the reads of every stream of a process and writes them in batches."""

    def __init__(
        self, db: Database, clock: Callable[[], datetime], *, interval_s: float = 1.0
    ) -> None:
        self.db = db
        self.interval_s = interval_s
        self._clock = clock
        self._pending: list[Read] = []
        self._noted = 0  # reads noted so far
        self._written = 0  # of which written (or given up on)
        self._progress = asyncio.Condition()
        self._urgent = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        #: Entries' writes that failed (logged; the reads are not retried).
        self.failed = 0

    def note(self, reads: Sequence[Read]) -> None:
        """Record ``reads`` with the next write (within :attr:`interval_s`)."""
        if not reads:
            return
        self._pending.extend(reads)
        self._noted += len(reads)
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write(), name="audit-reads")

    async def flush(self) -> None:
        """Write what was noted until now, without waiting for the interval; return once
        it is written (or its write failed)."""
        target = self._noted
        if self._written >= target:
            return
        self._urgent.set()
        async with self._progress:
            await self._progress.wait_for(lambda: self._written >= target)

    async def _write(self) -> None:
        while self._pending:
            if not self._urgent.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._urgent.wait(), self.interval_s)
            self._urgent.clear()
            batch, self._pending = self._pending, []
            try:
                await self.db.run_write(partial(append_reads, reads=batch, at=self._clock()))
            except Exception as error:
                self.failed += 1
                log.error("audit.reads_failed", reads=len(batch), error=repr(error))
            async with self._progress:
                self._written += len(batch)
                self._progress.notify_all()


__all__ = ["READ_IDS_PER_ENTRY", "Read", "ReadTrail", "append_reads"]
