"""Inbound filters in the ingest sink: deny (not stored, audited, acknowledged), hold
(stored, out of the counters), per-connector scope, and rules reloaded across two sinks
(two processes, each with its own cache). Both databases."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select

from smslocker.gateway.messages import InboundMessage
from smslocker.guard import audit
from smslocker.routing.ingest import StoreSink
from smslocker.screening.rules import Action, Field, Match
from smslocker.screening.store import RuleCache, create_filter, rule_cache, update_filter
from smslocker.settings import IngestSettings
from smslocker.store import Database
from smslocker.store.models import Message, Number

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
INGEST = IngestSettings(batch_ms=0.0)
NUMBER = "+14155550100"


class Ticks:
    """A monotonic clock tests move by hand (the cache's refresh interval)."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def sms(text: str, *, source: str = "447700900001", connector: str = "smsc-a") -> InboundMessage:
    return InboundMessage(
        connector=connector,
        source=source,
        destination=NUMBER.lstrip("+"),
        text=text,
        data_coding=0,
        encoding="gsm7",
        received_at=T0,
    )


def sink_on(db: Database, cache: RuleCache | None = None) -> StoreSink:
    screen = (cache or rule_cache(db)).rules
    return StoreSink(db, INGEST, clock=lambda: T0, screen=screen)


async def rows(db: Database) -> list[Any]:
    async with db.read() as connection:
        query = select(Message.id, Message.text, Message.source, Message.held, Message.held_reason)
        return list((await connection.execute(query.order_by(Message.id))).all())


async def add_number(db: Database) -> None:
    async with db.write() as connection:
        await connection.execute(
            insert(Number).values(e164=NUMBER, state="FREE", state_since=T0, created_at=T0)
        )


async def rule(db: Database, **values: Any) -> int:
    record = await create_filter(db, now=T0, actor="test", **values)
    return record.id


async def test_deny_is_not_stored_but_audited_and_acknowledged(database: Database) -> None:
    sink = sink_on(database)
    rule_id = await rule(
        database, field=Field.CONTENT, match=Match.CONTAINS, pattern="casino", action=Action.DENY
    )
    # accept returning normally is what lets the connector send its deliver_sm_resp OK.
    await sink.accept([sms("Win at the CASINO tonight"), sms("Your code is 1234")])
    await sink.close()

    assert [row.text for row in await rows(database)] == ["Your code is 1234"]
    assert sink.stats.denied == 1
    assert sink.stats.stored == 1
    [entry] = await audit.entries(database, audit.AuditFilter(action="message.denied"))
    assert entry.details["rule_id"] == rule_id
    assert entry.details["connector"] == "smsc-a"
    assert entry.details["source"] == "447700900001"
    assert "casino" not in str(entry.details).lower()  # never the text
    assert (await audit.verify(database)).ok


async def test_rules_apply_to_their_connector_only(database: Database) -> None:
    sink = sink_on(database)
    await rule(
        database,
        field=Field.SOURCE,
        match=Match.PREFIX,
        pattern="4477",
        action=Action.DENY,
        connector="smsc-b",
    )
    await rule(database, field=Field.SMSC, match=Match.EXACT, pattern="smsc-c", action=Action.HOLD)
    await sink.accept(
        [
            sms("a", connector="smsc-a"),
            sms("b", connector="smsc-b"),
            sms("c", connector="smsc-c"),
        ]
    )
    await sink.close()
    stored = await rows(database)
    assert [(row.text, row.held) for row in stored] == [("a", False), ("c", True)]
    assert stored[1].held_reason is not None
    assert "smsc" in stored[1].held_reason
    assert sink.stats.denied == 1
    assert sink.stats.held == 1


async def test_held_message_moves_no_counter(database: Database) -> None:
    await add_number(database)
    sink = sink_on(database)
    await rule(database, field=Field.SOURCE, match=Match.EXACT, pattern="SPAM", action=Action.HOLD)
    await sink.accept([sms("x", source="SPAM"), sms("y", source="SPAM")])
    await sink.close()
    async with database.read() as connection:
        count = await connection.scalar(select(Number.messages_count))
    assert count == 0
    assert [row.held for row in await rows(database)] == [True, True]


async def test_no_rules_reads_the_table_once_per_interval(database: Database) -> None:
    ticks = Ticks()
    cache = RuleCache(database, refresh_s=5.0, clock=ticks)
    sink = sink_on(database, cache)
    for i in range(3):
        await sink.accept([sms(f"m{i}")])
    assert cache.reads == 1
    assert (await cache.rules()).empty
    ticks.now += 5.0
    await sink.accept([sms("m3")])
    assert cache.reads == 2
    assert cache.reloads == 1  # compiled once: the second read found the same (no) rules
    await sink.close()
    assert len(await rows(database)) == 4
    assert sink.stats.denied == sink.stats.held == 0


async def test_rules_reload_across_two_sinks(database: Database) -> None:
    """Sink A shares the cache the store invalidates (this process); sink B has its own,
    as another process would, and sees changes once its refresh interval passed."""
    ticks = Ticks()
    sink_a = sink_on(database)
    other_process = RuleCache(database, refresh_s=2.0, clock=ticks)
    sink_b = sink_on(database, other_process)
    await sink_b.accept([sms("before", connector="smsc-b")])  # B loads the (empty) rules

    rule_id = await rule(
        database, field=Field.CONTENT, match=Match.CONTAINS, pattern="spam", action=Action.DENY
    )
    await sink_a.accept([sms("spam a1", connector="smsc-a")])
    await sink_b.accept([sms("spam b1", connector="smsc-b")])  # B has not looked yet
    ticks.now += 2.5
    await sink_b.accept([sms("spam b2", connector="smsc-b")])

    # A change of an existing rule (no new id, same count) is seen too.
    await update_filter(database, rule_id, {"enabled": False}, now=T0, actor="test")
    await sink_a.accept([sms("spam a3", connector="smsc-a")])
    await sink_b.accept([sms("spam b3", connector="smsc-b")])  # still the old rules
    ticks.now += 2.5
    await sink_b.accept([sms("spam b4", connector="smsc-b")])
    await sink_a.close()
    await sink_b.close()

    assert [row.text for row in await rows(database)] == [
        "before",
        "spam b1",
        "spam a3",
        "spam b4",
    ]
    assert sink_a.stats.denied == 1
    assert sink_b.stats.denied == 2


async def test_probes_are_never_screened(database: Database) -> None:
    sink = sink_on(database)
    await rule(
        database, field=Field.CONTENT, match=Match.CONTAINS, pattern="probe", action=Action.DENY
    )
    await sink.accept([sms("smslocker probe abcdef0123")])
    await sink.close()
    assert sink.stats.denied == 0
    assert len(await rows(database)) == 1


async def test_a_denied_redelivery_is_denied_again(database: Database) -> None:
    sink = sink_on(database)
    await rule(database, field=Field.SOURCE, match=Match.EXACT, pattern="BAD", action=Action.DENY)
    for _ in range(2):
        await sink.accept([sms("same", source="BAD")])
    await sink.close()
    assert await rows(database) == []
    denied = await audit.entries(database, audit.AuditFilter(action="message.denied"))
    assert len(denied) == 2
