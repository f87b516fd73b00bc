"""Retention on both databases: bodies purged after body_s, rows deleted after metadata_s."""

from __future__ import annotations

from datetime import timedelta

from routing_support import T0, FakeClock, add_account, add_number, add_rental, inbound, stored

from smslocker.routing.inbox import latest_code, rental_messages
from smslocker.routing.ingest import StoreSink
from smslocker.routing.retention import purge
from smslocker.settings import IngestSettings, RetentionSettings
from smslocker.store import Database

HOUR = 3600
RETENTION = RetentionSettings(body_s=24 * HOUR, metadata_s=30 * 24 * HOUR)


async def store_at(db: Database, *ages_h: float) -> None:
    """One message per age (hours before T0 + 40 days), each with a code."""
    sink = StoreSink(db, IngestSettings(dedup_window_s=1), clock=FakeClock())
    for age in ages_h:
        received = T0 - timedelta(hours=age)
        text = f"Your code is {int(age):06d}"
        await sink.accept([inbound("447700900100", text, received_at=received)])


async def test_bodies_go_after_body_s_and_rows_after_metadata_s(database: Database) -> None:
    await store_at(database, 1, 23, 25, 24 * 29, 24 * 31)
    counts = await purge(database, T0, RETENTION)
    assert (counts.bodies, counts.rows) == (2, 1)
    rows = await stored(database)
    assert [(row.text is None, row.codes is None, row.body_purged_at) for row in rows] == [
        (False, False, None),  # 1 hour
        (False, False, None),  # 23 hours
        (True, True, T0),  # 25 hours: body gone, row kept
        (True, True, T0),  # 29 days
    ]
    # Metadata stays: who, when, where, the de-duplication key.
    assert all(row.source and row.destination and row.dedup_key for row in rows)


async def test_purging_again_changes_nothing(database: Database) -> None:
    await store_at(database, 25, 24 * 31)
    await purge(database, T0, RETENTION)
    counts = await purge(database, T0, RETENTION)
    assert (counts.bodies, counts.rows) == (0, 0)


async def test_work_is_chunked(database: Database) -> None:
    await store_at(database, *(30 + i for i in range(7)), *(24 * 31 + i for i in range(5)))
    counts = await purge(database, T0, RETENTION, chunk=2)
    assert (counts.bodies, counts.rows) == (7, 5)
    assert len(await stored(database)) == 7


async def test_a_renter_sees_a_purged_message_without_its_body(database: Database) -> None:
    account = await add_account(database, "alice")
    number = await add_number(database, "+447700900100")
    start = T0 - timedelta(hours=30)
    rental = await add_rental(
        database, account, number, "+447700900100", start, start + timedelta(minutes=10)
    )
    sink = StoreSink(database, IngestSettings(), clock=FakeClock(start))
    await sink.accept([inbound("447700900100", "Your code is 4321", received_at=start)])
    await purge(database, T0, RETENTION)
    [message] = await rental_messages(database, account, rental)
    assert (message.text, message.codes, message.body_purged_at) == (None, None, T0)
    assert await latest_code(database, account, rental) is None
