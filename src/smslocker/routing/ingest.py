"""Ingest: the connectors' sink that makes every inbound SMS durable, once, in the right inbox.

Theory of operation: :meth:`StoreSink.accept` prepares each message of a
connector's batch (destination in E.164, message time, de-duplication key,
OTP codes, sender's service: :mod:`.prepare`) and hands them to a
:class:`~.group_commit.GroupCommit`, which coalesces the batches of every
connector and every read into one transaction (:func:`store_batch`) and
returns to each caller only once the transaction holding its messages has
committed. Only then does the connector acknowledge the PDUs (DESIGN.md,
guarantee 1); if the transaction fails, ``accept`` raises and the connector
answers with a temporary error, so the SMSC redelivers and de-duplication
(:mod:`.dedup`) keeps the inbox exact.

In the transaction, per batch and not per message: duplicates are dropped
(within the batch and against the de-duplication window), each message is
routed to the rental of its destination whose window contains the message
time (one query for all the batch's destinations, :mod:`.route`), the rows
are inserted, the rentals' and numbers' counters move, a number still
RESERVED becomes IN_USE, and health probes are marked as arrived. A message in
no window is stored unmatched (no rental, no account) and is never shown to a
renter; a probe is never routed.

Delivery receipts are not messages: they are counted and logged (there is no
table for them yet) and acknowledged at once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from smslocker.gateway.messages import InboundEvent, InboundMessage, InboundReceipt
from smslocker.log import get_logger
from smslocker.settings import IngestSettings
from smslocker.store import Database
from smslocker.store.types import utcnow

from .group_commit import GroupCommit
from .ingest_sql import store_postgres, store_sqlite
from .prepare import PreparedMessage, Preparer, ServiceGuess

log = get_logger(__name__)

#: ``(connection, token, arrived_at)``: marks a health probe as arrived, in our transaction.
ProbeCompleter = Callable[[AsyncConnection, str, datetime], Awaitable[Any]]
#: Called after each commit with the messages it stored (the fan-out will hang here).
StoredListener = Callable[[Sequence[PreparedMessage]], None]


@dataclass
class IngestStats:
    """Counters for metrics and the operator's console."""

    stored: int = 0
    duplicates: int = 0
    routed: int = 0
    unmatched: int = 0
    probes: int = 0
    receipts: int = 0
    batches: int = 0
    failed_batches: int = 0
    last_error: str | None = None


@dataclass(frozen=True, slots=True)
class BatchOutcome:
    """What one transaction did: the rows it stored, in arrival order, and the duplicates."""

    stored: list[PreparedMessage]
    duplicates: int


async def store_batch(
    database: Database,
    rows: Sequence[PreparedMessage],
    *,
    now: datetime,
    dedup_window: timedelta,
    complete_probe: ProbeCompleter | None,
) -> BatchOutcome:
    """Write one batch in one transaction. See the module docstring."""
    since = now - dedup_window
    if database.is_sqlite and all(row.probe_token is None for row in rows):
        # The common case: the whole batch in the writer thread, one round trip (ingest_sql).
        fresh = await database.run_write(partial(store_sqlite, rows=rows, since=since, now=now))
        return BatchOutcome(fresh, len(rows) - len(fresh))
    async with database.write() as connection:
        if database.is_sqlite:
            # A probe's completion is an async pool function on this connection; probes are
            # rare, so their batches take the slower road through run_sync.
            fresh = await connection.run_sync(store_sqlite, rows, since, now)
        else:
            fresh = await store_postgres(connection, rows, since, now)
        for row in fresh:
            if row.probe_token is None:
                continue
            if complete_probe is None:
                log.warning("ingest.probe_unhandled", token=row.probe_token)
            else:
                await complete_probe(connection, row.probe_token, row.received_at)
    return BatchOutcome(fresh, len(rows) - len(fresh))


def default_probe_completer() -> ProbeCompleter:
    """The pool's :func:`~smslocker.pool.health.complete_probe`."""
    from smslocker.pool.health import complete_probe

    return complete_probe


class StoreSink:
    """The connectors' sink: group commit to the durable inbox. See the module docstring."""

    def __init__(
        self,
        database: Database,
        settings: IngestSettings,
        *,
        clock: Callable[[], datetime] = utcnow,
        guess_service: ServiceGuess | None = None,
        complete_probe: ProbeCompleter | None = None,
        on_stored: StoredListener | None = None,
        extract_codes: bool = True,
    ) -> None:
        """``extract_codes=False`` stores messages without looking for codes (``codes`` is
        ``[]``): the benchmark uses it to show what extraction costs."""
        self.database = database
        self.settings = settings
        self.stats = IngestStats()
        self._clock = clock
        self._preparer = Preparer(
            max_skew_s=settings.timestamp_max_skew_s,
            max_age_s=settings.timestamp_max_age_s,
            guess_service=guess_service,
            extract=extract_codes,
        )
        self._dedup_window = timedelta(seconds=settings.dedup_window_s)
        self._complete_probe = complete_probe
        self._on_stored = on_stored
        self._group: GroupCommit[PreparedMessage] = GroupCommit(
            self._commit, batch_max=settings.batch_max, batch_ms=settings.batch_ms, name="ingest"
        )

    @property
    def untrusted_timestamps(self) -> int:
        """Messages whose SMSC timestamp was not believed (routed by received time)."""
        return self._preparer.untrusted_timestamps

    async def accept(self, batch: Sequence[InboundEvent]) -> None:
        """Return once every message of ``batch`` is committed (or known as a duplicate)."""
        prepare = self._preparer.prepare
        rows = []
        for event in batch:
            if type(event) is InboundMessage:
                rows.append(prepare(event))
            elif isinstance(event, InboundReceipt):
                self._receipt(event)
        if rows:
            await self._group.submit(rows)

    def _receipt(self, event: InboundReceipt) -> None:
        self.stats.receipts += 1
        receipt = event.receipt
        log.info(
            "ingest.receipt",
            connector=event.connector,
            message_id=receipt.message_id,
            state=receipt.state,
        )

    async def _commit(self, rows: list[PreparedMessage]) -> None:
        stats = self.stats
        try:
            outcome = await store_batch(
                self.database,
                rows,
                now=self._clock(),
                dedup_window=self._dedup_window,
                complete_probe=self._complete_probe,
            )
        except Exception as error:
            stats.failed_batches += 1
            stats.last_error = repr(error)
            log.error("ingest.batch_failed", messages=len(rows), error=repr(error))
            raise
        stats.batches += 1
        stats.duplicates += outcome.duplicates
        for row in outcome.stored:
            if row.probe_token is not None:
                stats.probes += 1
            elif row.rental_id is None:
                stats.unmatched += 1
            else:
                stats.routed += 1
        stats.stored += len(outcome.stored)
        if self._on_stored is not None and outcome.stored:
            try:
                self._on_stored(outcome.stored)
            except Exception as error:  # committed is committed: no redelivery for this
                log.error("ingest.listener_failed", error=repr(error))

    async def close(self, timeout: float = 10.0) -> None:
        """Commit what is queued, then refuse more (callers get an error: redelivery)."""
        await self._group.close(timeout)
