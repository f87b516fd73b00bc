"""Retention: message bodies go after ``retention.body_s``, whole rows after ``metadata_s``.

Purging a body sets text, binary and codes to NULL and stamps ``body_purged_at``;
the row stays (who, when, which rental, the de-duplication key) for metrics and
abuse review until ``metadata_s``, when it is deleted. Both go by ``received_at``.

The work is done in chunks of :data:`CHUNK` rows, each in its own transaction: on
SQLite a purge of a day's backlog in one transaction would hold the single writer
for seconds and stall ingest (whose connectors would start nacking).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update

from smslocker.metrics import PURGED
from smslocker.settings import RetentionSettings
from smslocker.store import Database
from smslocker.store.models import Message

from . import concat_marks

#: Rows per transaction.
CHUNK = 5000


@dataclass(frozen=True, slots=True)
class PurgeCounts:
    bodies: int
    """Messages whose text, binary and codes were purged."""
    rows: int
    """Message rows deleted."""


async def purge(
    db: Database, now: datetime, retention: RetentionSettings, *, chunk: int = CHUNK
) -> PurgeCounts:
    """Apply the retention settings at ``now``; returns what was purged and deleted."""
    rows = await _delete_old_rows(db, now - timedelta(seconds=retention.metadata_s), chunk)
    bodies = await _purge_old_bodies(db, now, now - timedelta(seconds=retention.body_s), chunk)
    # The long messages' marks hold digests of their parts: they go with the bodies.
    await concat_marks.purge(db, now - timedelta(seconds=retention.body_s))
    PURGED.labels(what="message_rows").inc(rows)
    PURGED.labels(what="message_bodies").inc(bodies)
    return PurgeCounts(bodies=bodies, rows=rows)


async def _delete_old_rows(db: Database, before: datetime, chunk: int) -> int:
    total = 0
    while True:
        async with db.write() as connection:
            ids = select(Message.id).where(Message.received_at < before).limit(chunk)
            result = await connection.execute(
                delete(Message).where(Message.id.in_(ids.scalar_subquery()))
            )
        deleted = int(result.rowcount)
        total += deleted
        if deleted < chunk:
            return total


async def _purge_old_bodies(db: Database, now: datetime, before: datetime, chunk: int) -> int:
    total = 0
    while True:
        async with db.write() as connection:
            ids = (
                select(Message.id)
                .where(Message.received_at < before, Message.body_purged_at.is_(None))
                .limit(chunk)
            )
            result = await connection.execute(
                update(Message)
                .where(Message.id.in_(ids.scalar_subquery()))
                .values(text=None, binary=None, codes=None, sealed=None, body_purged_at=now)
            )
        purged = int(result.rowcount)
        total += purged
        if purged < chunk:
            return total


__all__ = ["CHUNK", "PurgeCounts", "purge"]
