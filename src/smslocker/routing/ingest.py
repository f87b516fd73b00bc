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

Every stored message routed to a rental is a ``message.received`` event
(:mod:`smslocker.delivery.events`, its ``message`` the same Message JSON the
inbox API returns, id included). The webhook outbox rows of those events are
written in the same transaction as the messages (a message and its webhooks
commit or roll back together); the events go on the bus after the commit, and
after the batch's callers were answered, so that publishing never holds up an
acknowledgement. Publishing is ordered (one batch's events after the previous
batch's) and never fails an ingest: the messages are committed, and a push
subscriber that missed an event re-reads the inbox.

Delivery receipts are not messages: they are counted and logged (there is no
table for them yet) and acknowledged at once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from smslocker.api.views import message_json
from smslocker.delivery.bus import Bus, Event
from smslocker.delivery.events import enqueue_webhooks, message_event, publish
from smslocker.gateway.messages import InboundEvent, InboundMessage, InboundReceipt
from smslocker.log import get_logger
from smslocker.metrics import (
    INGEST_COMMIT_SECONDS,
    MESSAGES_DUPLICATE,
    MESSAGES_IN,
    MESSAGES_ROUTED,
    MESSAGES_UNMATCHED,
)
from smslocker.privacy.keyring import KeyRing
from smslocker.screening.ingest_step import Screen, record_denied, screen_rows
from smslocker.screening.rules import RuleSet
from smslocker.settings import IngestSettings
from smslocker.smpp.concat import ConcatMark
from smslocker.store import Database
from smslocker.store.types import utcnow

from . import concat_marks
from .group_commit import GroupCommit
from .ingest_sql import store_postgres, store_sqlite
from .prepare import PreparedMessage, Preparer, ServiceGuess

log = get_logger(__name__)

#: ``(connection, token, arrived_at)``: marks a health probe as arrived, in our transaction.
ProbeCompleter = Callable[[AsyncConnection, str, datetime], Awaitable[Any]]
#: Called after each commit with the messages it stored (tests, metrics; push goes by the bus).
StoredListener = Callable[[Sequence[PreparedMessage]], None]

#: Batches of events waiting for the bus. Beyond this the bus is not keeping up (Redis
#: down, say): new events are dropped, not queued without end; the messages are stored
#: and their webhooks in the outbox, and subscribers re-read the inbox.
MAX_PUBLISH_BACKLOG = 1000


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
    #: Inbound filters (smslocker.screening): refused (never stored), stored held.
    denied: int = 0
    held: int = 0


@dataclass(frozen=True, slots=True)
class BatchOutcome:
    """What one transaction did: the rows it stored, in arrival order, the duplicates, and
    the ``message.received`` events of the stored rows routed to a rental."""

    stored: list[PreparedMessage]
    duplicates: int
    events: list[Event]


def received_events(rows: Sequence[PreparedMessage]) -> list[Event]:
    """The ``message.received`` event of each stored row routed to a rental, in order;
    none for a held row (its release publishes it: smslocker.screening.held)."""
    return [
        message_event(row.account_id, row.rental_id, message_json(row))
        for row in rows
        if row.rental_id is not None and row.account_id is not None and not row.held
    ]


def _enqueue(connection: Connection, fresh: list[PreparedMessage], now: datetime) -> list[Event]:
    """The events of ``fresh``, their webhook outbox rows added in ``connection``'s
    transaction."""
    events = received_events(fresh)
    if events:
        enqueue_webhooks(connection, events, now)
    return events


def _sqlite_transaction(
    connection: Connection,
    *,
    rows: Sequence[PreparedMessage],
    since: datetime,
    now: datetime,
    rules: RuleSet | None,
) -> tuple[list[PreparedMessage], list[Event]]:
    fresh = store_sqlite(connection, rows, since, now, rules)
    concat_marks.record(connection, rows, now)
    return fresh, _enqueue(connection, fresh, now)


async def store_batch(
    database: Database,
    rows: Sequence[PreparedMessage],
    *,
    now: datetime,
    dedup_window: timedelta,
    complete_probe: ProbeCompleter | None,
    rules: RuleSet | None = None,
) -> BatchOutcome:
    """Write one batch in one transaction. See the module docstring. With ``rules``, a
    message routed to a rental whose service lists its senders, from another sender, is
    stored held (:func:`~smslocker.screening.ingest_step.hold_unknown_senders`)."""
    since = now - dedup_window
    if database.is_sqlite and all(row.probe_token is None for row in rows):
        # The common case: the whole batch in the writer thread, one round trip (ingest_sql).
        fresh, events = await database.run_write(
            partial(_sqlite_transaction, rows=rows, since=since, now=now, rules=rules)
        )
        return BatchOutcome(fresh, len(rows) - len(fresh), events)
    async with database.write() as connection:
        if database.is_sqlite:
            # A probe's completion is an async pool function on this connection; probes are
            # rare, so their batches take the slower road through run_sync.
            fresh = await connection.run_sync(store_sqlite, rows, since, now, rules)
            events = await connection.run_sync(_enqueue, fresh, now)
        else:
            fresh, events = await store_postgres(
                connection, rows, since, now, received_events, rules
            )
        if any(row.concat is not None for row in rows):
            await connection.run_sync(concat_marks.record, rows, now)
        for row in fresh:
            if row.probe_token is None:
                continue
            if complete_probe is None:
                log.warning("ingest.probe_unhandled", token=row.probe_token)
            else:
                await complete_probe(connection, row.probe_token, row.received_at)
    return BatchOutcome(fresh, len(rows) - len(fresh), events)


def default_probe_completer() -> ProbeCompleter:
    """The pool's :func:`~smslocker.pool.health.complete_probe`."""
    from smslocker.pool.health import complete_probe

    return complete_probe


def _export_metrics(
    rows: Sequence[PreparedMessage],
    connectors: Counter[str],
    routed: int,
    unmatched: int,
    duplicates: int,
    now: datetime,
) -> None:
    """Prometheus counters, once per batch (never per message: labels cost a lookup)."""
    for connector, count in connectors.items():
        MESSAGES_IN.labels(connector=connector).inc(count)
    if duplicates and rows:
        MESSAGES_DUPLICATE.labels(connector=rows[0].connector).inc(duplicates)
    if routed:
        MESSAGES_ROUTED.inc(routed)
    if unmatched:
        MESSAGES_UNMATCHED.inc(unmatched)
    if rows:
        # The oldest message of the batch waited this long for its ack (the ack itself
        # is written right after this returns).
        waited = (now - min(row.received_at for row in rows)).total_seconds()
        INGEST_COMMIT_SECONDS.observe(max(waited, 0.0))


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
        bus: Bus | None = None,
        ring: KeyRing | None = None,
        screen: Screen | None = None,
    ) -> None:
        """``bus`` gets the ``message.received`` events after each commit (without one,
        only the webhook outbox hears of messages). ``extract_codes=False`` stores
        messages without looking for codes (``codes`` is ``[]``): the benchmark uses it to
        show what extraction costs. ``ring`` seals every body (encryption at rest,
        :mod:`smslocker.privacy`). ``screen`` gives the inbound filters to decide with
        (``RuleCache.rules``, :mod:`smslocker.screening.ingest_step`); without rules
        (the default) the step costs one check per batch."""
        self.database = database
        self._screen = screen
        self.bus = bus
        self.settings = settings
        self.stats = IngestStats()
        self._clock = clock
        self._preparer = Preparer(
            max_skew_s=settings.timestamp_max_skew_s,
            max_age_s=settings.timestamp_max_age_s,
            guess_service=guess_service,
            extract=extract_codes,
            ring=ring,
        )
        self._dedup_window = timedelta(seconds=settings.dedup_window_s)
        self._complete_probe = complete_probe
        self._on_stored = on_stored
        self._publishing: asyncio.Task[None] | None = None
        self._publish_backlog = 0  # batches committed and not yet published
        self._unpublished: list[list[Event]] = []
        self.dropped_events = 0
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
        if rows and self._screen is not None:
            rules = await self._screen()
            if not rules.empty:
                rows, denied = screen_rows(rules, rows)
                if denied:
                    # On record before the connector acknowledges (a failure: redelivery).
                    await record_denied(self.database, denied, self._clock())
                    self.stats.denied += len(denied)
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
                rules=await self._screen() if self._screen is not None else None,
            )
        except Exception as error:
            stats.failed_batches += 1
            stats.last_error = repr(error)
            log.error("ingest.batch_failed", messages=len(rows), error=repr(error))
            raise
        stats.batches += 1
        stats.duplicates += outcome.duplicates
        routed = unmatched = 0
        connectors: Counter[str] = Counter()
        for row in outcome.stored:
            connectors[row.connector] += 1
            if row.probe_token is not None:
                stats.probes += 1
            elif row.held:
                stats.held += 1
            elif row.rental_id is None:
                unmatched += 1
            else:
                routed += 1
        stats.routed += routed
        stats.unmatched += unmatched
        stats.stored += len(outcome.stored)
        _export_metrics(rows, connectors, routed, unmatched, outcome.duplicates, self._clock())
        if self.bus is not None and outcome.events:
            self._publish_later(self.bus, outcome.events)
        if self._on_stored is not None and outcome.stored:
            try:
                self._on_stored(outcome.stored)
            except Exception as error:  # committed is committed: no redelivery for this
                log.error("ingest.listener_failed", error=repr(error))

    def _publish_later(self, bus: Bus, events: list[Event]) -> None:
        if self._publish_backlog >= MAX_PUBLISH_BACKLOG:
            self.dropped_events += len(events)
            log.warning("ingest.events_dropped", events=len(events), backlog=self._publish_backlog)
            return
        self._publish_backlog += 1
        self._unpublished.append(events)
        if self._publishing is None or self._publishing.done():
            self._publishing = asyncio.get_running_loop().create_task(
                self._publish_all(bus), name="ingest-publish"
            )

    async def _publish_all(self, bus: Bus) -> None:
        """Publish the committed batches' events, in commit order, until none is left:
        one task, so per-channel order holds across batches; the batches that committed
        while a publish was out go together in the next (one round trip on Redis)."""
        # One turn first: the group commit answers this batch's callers when _commit
        # returns, and their acknowledgements should not wait for the bus.
        await asyncio.sleep(0)
        while self._unpublished:
            batches, self._unpublished = self._unpublished, []
            try:
                await publish(bus, [event for events in batches for event in events])
            except Exception as error:  # committed is committed: the inbox has the messages
                log.error("ingest.publish_failed", batches=len(batches), error=repr(error))
            finally:
                self._publish_backlog -= len(batches)

    async def recall(self, connector: str, within_s: float) -> list[ConcatMark]:
        """The marks of the long messages stored through ``connector`` in the last
        ``within_s`` seconds (a starting connector asks: :mod:`.concat_marks`)."""
        since = self._clock() - timedelta(seconds=within_s)
        return await concat_marks.recall(self.database, connector, since, self._preparer.ring)

    async def wait_published(self) -> None:
        """Return once the events of every batch committed so far are on the bus."""
        task = self._publishing
        if task is not None and not task.done():
            await asyncio.wait([task])

    async def close(self, timeout: float = 10.0) -> None:
        """Commit what is queued, then refuse more (callers get an error: redelivery);
        then publish the committed batches' events (within ``timeout`` too)."""
        await self._group.close(timeout)
        task = self._publishing
        if task is not None and not task.done():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(task), timeout)
