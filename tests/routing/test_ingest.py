"""StoreSink on both databases: routing, de-duplication, counters, probes, receipts."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta
from typing import Any

import pytest
from routing_support import (
    T0,
    FakeClock,
    add_account,
    add_number,
    add_rental,
    inbound,
    number_row,
    rental_row,
    stored,
)
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from smslocker.gateway.messages import InboundReceipt
from smslocker.routing.ingest import StoreSink, default_probe_completer
from smslocker.routing.senders import guess_service
from smslocker.settings import IngestSettings
from smslocker.smpp.receipts import parse_receipt
from smslocker.store import Database
from smslocker.store.models import Probe

NUMBER = "+14155550100"
SMPP_NUMBER = "14155550100"  # as destination_addr carries it: no "+"


def make_sink(db: Database, clock: FakeClock | None = None, **kwargs: Any) -> StoreSink:
    settings = IngestSettings(**kwargs.pop("settings", {}))
    return StoreSink(db, settings, clock=clock or FakeClock(), **kwargs)


async def rented(db: Database, start: datetime, end: datetime, state: str = "RESERVED") -> Any:
    account = await add_account(db, "alice")
    number = await add_number(db, NUMBER, state)
    rental = await add_rental(db, account, number, NUMBER, start, end)
    return account, number, rental


async def test_a_message_in_a_window_goes_to_that_rental(database: Database) -> None:
    account, _number, rental = await rented(database, T0, T0 + timedelta(minutes=10))
    sink = make_sink(database, guess_service=guess_service)
    text = "G-482913 is your Google verification code."
    await sink.accept([inbound(SMPP_NUMBER, text, received_at=T0 + timedelta(seconds=5))])
    [row] = await stored(database)
    assert (row.rental_id, row.account_id) == (rental, account)
    assert row.destination == NUMBER
    assert row.text == text
    assert row.codes[0]["value"] == "482913"
    assert row.service == "google"
    assert row.message_time == T0 + timedelta(seconds=5)
    assert sink.stats.routed == 1
    assert sink.stats.stored == 1


async def test_a_message_outside_every_window_is_stored_unmatched(database: Database) -> None:
    await rented(database, T0, T0 + timedelta(minutes=10))
    sink = make_sink(database)
    await sink.accept([inbound(SMPP_NUMBER, "too early", received_at=T0 - timedelta(seconds=1))])
    await sink.accept([inbound(SMPP_NUMBER, "too late", received_at=T0 + timedelta(minutes=11))])
    await sink.accept([inbound("447700900999", "no such number")])
    rows = await stored(database)
    assert [(r.text, r.rental_id, r.account_id) for r in rows] == [
        ("too early", None, None),
        ("too late", None, None),
        ("no such number", None, None),
    ]
    assert sink.stats.unmatched == 3


async def test_window_bounds_are_inclusive(database: Database) -> None:
    end = T0 + timedelta(minutes=10)
    _account, _number, rental = await rented(database, T0, end)
    sink = make_sink(database)
    await sink.accept([inbound(SMPP_NUMBER, "first instant", received_at=T0)])
    await sink.accept([inbound(SMPP_NUMBER, "last instant", received_at=end)])
    assert [r.rental_id for r in await stored(database)] == [rental, rental]


async def test_consecutive_rentals_of_one_number_each_get_their_own(database: Database) -> None:
    alice, bob = await add_account(database, "alice"), await add_account(database, "bob")
    number = await add_number(database, NUMBER, "IN_USE")
    first = await add_rental(
        database, alice, number, NUMBER, T0, T0 + timedelta(minutes=5), status="completed"
    )
    second = await add_rental(
        database, bob, number, NUMBER, T0 + timedelta(minutes=6), T0 + timedelta(minutes=20)
    )
    sink = make_sink(database)
    batch = [
        inbound(SMPP_NUMBER, "for alice", received_at=T0 + timedelta(minutes=1)),
        inbound(SMPP_NUMBER, "between", received_at=T0 + timedelta(minutes=5, seconds=30)),
        inbound(SMPP_NUMBER, "for bob", received_at=T0 + timedelta(minutes=7)),
    ]
    await sink.accept(batch)  # one batch, one window query for both rentals
    rows = await stored(database)
    assert [(r.text, r.rental_id, r.account_id) for r in rows] == [
        ("for alice", first, alice),
        ("between", None, None),
        ("for bob", second, bob),
    ]


async def test_a_delayed_message_goes_by_its_smsc_timestamp(database: Database) -> None:
    alice, bob = await add_account(database, "alice"), await add_account(database, "bob")
    number = await add_number(database, NUMBER, "RESERVED")
    old = await add_rental(
        database, alice, number, NUMBER, T0, T0 + timedelta(minutes=5), status="completed"
    )
    await add_rental(
        database, bob, number, NUMBER, T0 + timedelta(minutes=10), T0 + timedelta(minutes=30)
    )
    sink = make_sink(database)
    # Sent during alice's rental, delivered late by the SMSC, during bob's.
    late = inbound(
        SMPP_NUMBER,
        "sent to alice",
        received_at=T0 + timedelta(minutes=12),
        smsc_timestamp=T0 + timedelta(minutes=2),
    )
    await sink.accept([late])
    [row] = await stored(database)
    assert (row.rental_id, row.account_id) == (old, alice)
    assert row.message_time == T0 + timedelta(minutes=2)


async def test_an_untrusted_or_future_timestamp_falls_back_to_received_time(
    database: Database,
) -> None:
    await rented(database, T0, T0 + timedelta(minutes=10))
    sink = make_sink(database, settings={"timestamp_max_skew_s": 300})
    received = T0 + timedelta(minutes=1)
    stamps = {
        "wild": T0 + timedelta(days=3),
        "fast": received + timedelta(seconds=90),
        "ancient": T0 - timedelta(days=30),
    }
    await sink.accept(
        [
            inbound(SMPP_NUMBER, text, received_at=received, smsc_timestamp=stamp)
            for text, stamp in stamps.items()
        ]
    )
    rows = await stored(database)
    assert [r.message_time for r in rows] == [received] * 3
    assert all(r.rental_id is not None for r in rows)
    assert sink.untrusted_timestamps == 2  # "fast" is within the skew: believed, then clamped


async def test_a_redelivery_is_stored_once(database: Database) -> None:
    sink = make_sink(database)
    message = inbound(SMPP_NUMBER, "Your code is 1234")
    await sink.accept([message])
    await sink.accept([message])  # the SMSC did not see our ack
    await sink.accept([message, message])  # and twice in one read
    assert len(await stored(database)) == 1
    assert sink.stats.duplicates == 3


async def test_a_redelivery_arriving_later_with_our_clock_moved_is_still_one(
    database: Database,
) -> None:
    clock = FakeClock()
    sink = make_sink(database, clock, settings={"dedup_window_s": 3600})
    await sink.accept([inbound(SMPP_NUMBER, "hello", received_at=clock.now)])
    clock.advance(600)
    await sink.accept([inbound(SMPP_NUMBER, "hello", received_at=clock.now)])
    assert len(await stored(database)) == 1


async def test_the_same_text_after_the_window_is_a_new_message(database: Database) -> None:
    clock = FakeClock()
    sink = make_sink(database, clock, settings={"dedup_window_s": 60})
    await sink.accept([inbound(SMPP_NUMBER, "Your code is 1234", received_at=clock.now)])
    clock.advance(61)
    await sink.accept([inbound(SMPP_NUMBER, "Your code is 1234", received_at=clock.now)])
    assert len(await stored(database)) == 2


async def test_what_makes_a_message_different(database: Database) -> None:
    sink = make_sink(database)
    base = {"received_at": T0}
    await sink.accept(
        [
            inbound(SMPP_NUMBER, "same", **base),
            inbound(SMPP_NUMBER, "same", smsc_timestamp=T0 - timedelta(seconds=1), **base),
            inbound(SMPP_NUMBER, "same", smsc_timestamp=T0 - timedelta(seconds=2), **base),
            inbound(SMPP_NUMBER, "same", source="Google", **base),
            inbound(SMPP_NUMBER, "same", connector="carrier-b", **base),
            inbound("14155550101", "same", **base),
            inbound(SMPP_NUMBER, "same", data_coding=8, **base),
            inbound(SMPP_NUMBER, "same", parts=2, **base),
            inbound(SMPP_NUMBER, "other", **base),
            # The plus or not: the same number, so the same message.
            inbound("+" + SMPP_NUMBER, "same", **base),
        ]
    )
    assert len(await stored(database)) == 9


async def test_counters_and_the_first_message_moves_the_number_to_in_use(
    database: Database,
) -> None:
    _account, number, rental = await rented(database, T0, T0 + timedelta(minutes=10))
    sink = make_sink(database)
    first_at = T0 + timedelta(seconds=10)
    await sink.accept([inbound(SMPP_NUMBER, "one", received_at=first_at)])
    row = await number_row(database, number)
    assert (row.state, row.messages_count) == ("IN_USE", 1)
    await sink.accept(
        [
            inbound(SMPP_NUMBER, "two", received_at=T0 + timedelta(seconds=20)),
            inbound(SMPP_NUMBER, "three", received_at=T0 + timedelta(seconds=30)),
        ]
    )
    rental_after = await rental_row(database, rental)
    assert rental_after.messages_count == 3
    assert rental_after.first_message_at == first_at
    row = await number_row(database, number)
    assert (row.state, row.messages_count) == ("IN_USE", 3)


async def test_a_message_in_the_grace_period_leaves_a_resting_number_alone(
    database: Database,
) -> None:
    _account, number, rental = await rented(
        database, T0, T0 + timedelta(minutes=10), state="COOLDOWN"
    )
    sink = make_sink(database)
    await sink.accept([inbound(SMPP_NUMBER, "late", received_at=T0 + timedelta(minutes=9))])
    assert (await number_row(database, number)).state == "COOLDOWN"
    assert (await rental_row(database, rental)).messages_count == 1


class RecordingProbes:
    def __init__(self) -> None:
        self.completed: list[tuple[str, datetime]] = []

    async def __call__(self, connection: AsyncConnection, token: str, arrived_at: datetime) -> None:
        assert isinstance(connection, AsyncConnection)
        self.completed.append((token, arrived_at))


async def test_a_probe_is_completed_and_never_routed(database: Database) -> None:
    await rented(database, T0, T0 + timedelta(minutes=10))
    probes = RecordingProbes()
    sink = make_sink(database, complete_probe=probes)
    text = "smslocker probe 0a1b2c3d4e5f"
    arrived = T0 + timedelta(seconds=3)
    await sink.accept([inbound(SMPP_NUMBER, text, received_at=arrived)])
    await sink.accept([inbound(SMPP_NUMBER, text, received_at=arrived)])  # redelivered
    [row] = await stored(database)
    assert (row.rental_id, row.account_id, row.service) == (None, None, "probe")
    assert probes.completed == [("0a1b2c3d4e5f", arrived)]
    assert sink.stats.probes == 1


async def test_a_binary_message_is_kept_as_octets(database: Database) -> None:
    sink = make_sink(database)
    await sink.accept([inbound(SMPP_NUMBER, "", binary=b"\x00\x01\xff", data_coding=4)])
    [row] = await stored(database)
    assert (row.text, row.binary, row.codes) == (None, b"\x00\x01\xff", None)


async def test_no_code_is_an_empty_list_and_codes_are_best_first(database: Database) -> None:
    sink = make_sink(database)
    await sink.accept(
        [
            inbound(SMPP_NUMBER, "See you at 7?"),
            inbound(SMPP_NUMBER, "Your code is 123456. Order 998877 ships today."),
        ]
    )
    plain, coded = await stored(database)
    assert plain.codes == []
    assert coded.codes[0]["value"] == "123456"
    assert all(set(code) >= {"value", "score", "kind"} for code in coded.codes)
    scores = [code["score"] for code in coded.codes]
    assert scores == sorted(scores, reverse=True)


async def test_receipts_are_counted_not_stored(database: Database) -> None:
    sink = make_sink(database)
    receipt = parse_receipt(
        "id:abc123 sub:001 dlvrd:001 submit date:2612011200 done date:2612011201 "
        "stat:DELIVRD err:000 text:hello",
        receipted_message_id=None,
        message_state=None,
        network_error_code=None,
        source=SMPP_NUMBER,
        destination="447700900001",
    )
    await sink.accept([InboundReceipt("carrier-a", receipt, T0)])
    await sink.accept([InboundReceipt("carrier-a", receipt, T0), inbound(SMPP_NUMBER, "hi")])
    assert sink.stats.receipts == 2
    assert [row.text for row in await stored(database)] == ["hi"]


async def test_concurrent_calls_share_transactions_and_all_return_committed(
    database: Database,
) -> None:
    sink = make_sink(database, settings={"batch_ms": 50.0})
    calls = [
        sink.accept([inbound(SMPP_NUMBER, f"message {i}-{j}") for j in range(5)]) for i in range(40)
    ]
    await asyncio.gather(*calls)
    assert len(await stored(database)) == 200
    assert sink.stats.batches < 40  # coalesced
    assert sink.stats.stored == 200


async def test_a_failed_transaction_fails_its_callers_and_the_next_one_works(
    database: Database,
) -> None:
    clock = FakeClock()
    sink = make_sink(database, clock)
    clock.now = "not a datetime"  # type: ignore[assignment]  # the batch's SQL will fail
    with pytest.raises(Exception):  # noqa: B017, PT011 - whatever the database raised
        await sink.accept([inbound(SMPP_NUMBER, "lost?")])
    assert sink.stats.failed_batches == 1
    clock.now = T0
    await sink.accept([inbound(SMPP_NUMBER, "lost?")])  # the SMSC's redelivery
    assert [row.text for row in await stored(database)] == ["lost?"]


async def test_a_caller_bigger_than_batch_max_is_split_and_waits_for_all(
    database: Database,
) -> None:
    sink = make_sink(database, settings={"batch_max": 7})
    await sink.accept([inbound(SMPP_NUMBER, f"m{i}") for i in range(30)])
    rows = await stored(database)
    assert [row.text for row in rows] == [f"m{i}" for i in range(30)]  # arrival order kept
    assert sink.stats.batches == 5


async def test_after_close_the_sink_refuses_so_the_smsc_redelivers(database: Database) -> None:
    sink = make_sink(database)
    await sink.accept([inbound(SMPP_NUMBER, "before")])
    await sink.close()
    with pytest.raises(ConnectionError):
        await sink.accept([inbound(SMPP_NUMBER, "after")])
    assert [row.text for row in await stored(database)] == ["before"]


async def test_codes_are_stored_as_json_objects_with_a_value(database: Database) -> None:
    sink = make_sink(database)
    text = "Your Amazon OTP is 5566.\n\n@amazon.com #5566"
    await sink.accept([inbound(SMPP_NUMBER, text)])
    [row] = await stored(database)
    assert row.codes[0] == json.loads(json.dumps(row.codes[0]))
    assert (row.codes[0]["value"], row.codes[0]["kind"]) == ("5566", "origin_bound")


async def test_a_batch_is_one_transaction_all_or_nothing(database: Database) -> None:
    _account, number, rental = await rented(database, T0, T0 + timedelta(minutes=10))

    async def failing_probe(connection: AsyncConnection, token: str, arrived_at: datetime) -> None:
        raise RuntimeError("the pool could not record the probe")

    sink = make_sink(database, complete_probe=failing_probe)
    batch = [
        inbound(SMPP_NUMBER, "a message", received_at=T0 + timedelta(seconds=1)),
        inbound(SMPP_NUMBER, "smslocker probe 0a1b2c3d4e", received_at=T0 + timedelta(seconds=1)),
    ]
    with pytest.raises(RuntimeError):
        await sink.accept(batch)
    # Written before the probe failed, and rolled back with it: the redelivery starts afresh.
    assert await stored(database) == []
    assert (await rental_row(database, rental)).messages_count == 0
    assert (await number_row(database, number)).state == "RESERVED"


async def test_a_late_message_of_the_last_renter_leaves_the_next_renters_number_reserved(
    database: Database,
) -> None:
    alice, bob = await add_account(database, "alice"), await add_account(database, "bob")
    number = await add_number(database, NUMBER, "RESERVED")  # reserved by bob's rental
    old = await add_rental(
        database, alice, number, NUMBER, T0, T0 + timedelta(minutes=5), status="completed"
    )
    await add_rental(
        database, bob, number, NUMBER, T0 + timedelta(minutes=10), T0 + timedelta(minutes=30)
    )
    sink = make_sink(database)
    late = inbound(
        SMPP_NUMBER,
        "for alice, delivered late",
        received_at=T0 + timedelta(minutes=12),
        smsc_timestamp=T0 + timedelta(minutes=4),
    )
    await sink.accept([late])
    [row] = await stored(database)
    assert row.rental_id == old
    assert (await number_row(database, number)).state == "RESERVED"  # bob has had nothing yet


async def test_a_probe_completes_the_pools_pending_probe(database: Database) -> None:
    number = await add_number(database, NUMBER, "FREE")
    async with database.write() as connection:
        await connection.execute(
            insert(Probe).values(
                number_id=number,
                destination=NUMBER,
                token="0a1b2c3d4e5f",
                sent_at=T0,
                deadline=T0 + timedelta(seconds=60),
                outcome="pending",
            )
        )
    sink = make_sink(database, complete_probe=default_probe_completer())
    arrived = T0 + timedelta(seconds=4)
    await sink.accept([inbound(SMPP_NUMBER, "smslocker probe 0a1b2c3d4e5f", received_at=arrived)])
    async with database.read() as connection:
        probe = (await connection.execute(select(Probe))).one()
    assert (probe.outcome, probe.arrived_at) == ("ok", arrived)
    assert (await number_row(database, number)).probes_ok == 1


async def test_a_nul_character_is_stored_marked_not_refused_forever(database: Database) -> None:
    # PostgreSQL text cannot hold NUL: refusing the commit would make the SMSC redeliver
    # the message forever. It is stored with U+FFFD in its place and flagged lossy.
    account, _number, rental = await rented(database, T0, T0 + timedelta(minutes=10))
    sink = make_sink(database)
    await sink.accept([inbound(SMPP_NUMBER, "code\x00 1234", received_at=T0)])
    [row] = await stored(database)
    assert (row.rental_id, row.account_id) == (rental, account)
    assert row.text == "code\ufffd 1234"
    assert row.lossy is True
