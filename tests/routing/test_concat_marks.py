"""The marks of stored long messages: kept in the batch's transaction, sealed, recalled,
purged with the bodies (smslocker.routing.concat_marks)."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

from routing_support import CONNECTOR, T0, FakeClock, inbound
from sqlalchemy import func, select

from smslocker.gateway.messages import InboundMessage
from smslocker.privacy.keyring import KeyRing
from smslocker.routing.concat_marks import CONTEXT
from smslocker.routing.ingest import StoreSink
from smslocker.routing.retention import purge
from smslocker.settings import IngestSettings, RetentionSettings
from smslocker.smpp.concat import ConcatMark
from smslocker.store import Database
from smslocker.store.models import Message, StoredConcat

FINGERPRINTS = (b"\x01" * 16, b"\x02" * 16, b"\x03" * 16)


def mark(reference: int = 0x2A, connector: str = CONNECTOR) -> ConcatMark:
    return ConcatMark(
        (connector, "447700900001", "447700900100", reference, 3, "udh8"), FINGERPRINTS
    )


def long_message(
    concat: ConcatMark, text: str = "Your code is 123456, valid 5 minutes"
) -> InboundMessage:
    connector = concat.reference[0]
    return dataclasses.replace(
        inbound("447700900100", text, parts=3, connector=connector), concat=concat
    )


async def rows(db: Database) -> list[Any]:
    async with db.read() as connection:
        return list((await connection.execute(select(StoredConcat))).all())


async def test_a_stored_long_message_leaves_its_mark_sealed(database: Database) -> None:
    ring = KeyRing.generate()
    sink = StoreSink(database, IngestSettings(), clock=FakeClock(), ring=ring)
    await sink.accept([long_message(mark()), inbound("447700900100", "short")])
    [row] = await rows(database)
    assert row.sealed
    assert row.stored_at == T0
    assert b"\x01" * 16 not in row.fingerprints  # not in clear
    assert ring.open(row.fingerprints, CONTEXT) == b"".join(FINGERPRINTS)
    assert await sink.recall(CONNECTOR, 300) == [mark()]


async def test_without_a_key_ring_the_mark_is_kept_clear(database: Database) -> None:
    sink = StoreSink(database, IngestSettings(), clock=FakeClock())
    await sink.accept([long_message(mark())])
    [row] = await rows(database)
    assert not row.sealed
    assert row.fingerprints == b"".join(FINGERPRINTS)
    assert await sink.recall(CONNECTOR, 300) == [mark()]


async def test_a_redelivered_long_message_leaves_its_mark_again(database: Database) -> None:
    # Stored once, then (the acks lost) again: not a second message, but a fresh mark, so
    # that the recall window counts from the latest time the parts came.
    clock = FakeClock()
    sink = StoreSink(database, IngestSettings(), clock=clock)
    await sink.accept([long_message(mark())])
    clock.advance(200)
    await sink.accept([long_message(mark())])
    async with database.read() as connection:
        assert await connection.scalar(select(func.count()).select_from(Message)) == 1
    assert len(await rows(database)) == 2
    clock.advance(200)
    assert await sink.recall(CONNECTOR, 300) == [mark()]


async def test_recall_is_per_connector_and_within_the_window(database: Database) -> None:
    clock = FakeClock()
    sink = StoreSink(database, IngestSettings(), clock=clock)
    await sink.accept([long_message(mark(1))])
    clock.advance(100)
    await sink.accept([long_message(mark(2)), long_message(mark(3, connector="other"))])
    clock.advance(250)
    assert await sink.recall(CONNECTOR, 300) == [mark(2)]
    assert await sink.recall(CONNECTOR, 400) == [mark(1), mark(2)]
    assert await sink.recall("other", 300) == [mark(3, connector="other")]


async def test_a_mark_that_does_not_open_is_left_out(database: Database) -> None:
    sink = StoreSink(database, IngestSettings(), clock=FakeClock(), ring=KeyRing.generate())
    await sink.accept([long_message(mark())])
    # Another deployment's key (or a dropped one): the mark cannot be read back.
    stranger = StoreSink(database, IngestSettings(), clock=FakeClock(), ring=KeyRing.generate())
    assert await stranger.recall(CONNECTOR, 300) == []
    keyless = StoreSink(database, IngestSettings(), clock=FakeClock())
    assert await keyless.recall(CONNECTOR, 300) == []


async def test_retention_deletes_marks_with_the_bodies(database: Database) -> None:
    clock = FakeClock()
    sink = StoreSink(database, IngestSettings(dedup_window_s=1), clock=clock)
    await sink.accept([long_message(mark(1))])
    clock.advance(3600)
    await sink.accept([long_message(mark(2), text="another long one")])
    await purge(database, T0 + timedelta(seconds=1800), RetentionSettings(body_s=1000))
    assert [row.reference for row in await rows(database)] == [2]
