"""Reading inboxes on both databases: order, paging, scoping to the account, codes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from routing_support import T0, FakeClock, add_account, add_number, add_rental, inbound

from smslocker.rentals.errors import InvalidRequest, RentalNotFound
from smslocker.routing.inbox import latest_code, rental_messages, unmatched_messages
from smslocker.routing.ingest import StoreSink
from smslocker.settings import IngestSettings
from smslocker.store import Database

NUMBER = "+447700900100"
OTHER = "+447700900200"


async def setup(db: Database) -> tuple[int, int, str, str]:
    """Alice rents NUMBER, Bob rents OTHER; both for ten minutes from T0."""
    alice, bob = await add_account(db, "alice"), await add_account(db, "bob")
    mine = await add_rental(
        db, alice, await add_number(db, NUMBER), NUMBER, T0, T0 + timedelta(minutes=10)
    )
    theirs = await add_rental(
        db, bob, await add_number(db, OTHER), OTHER, T0, T0 + timedelta(minutes=10)
    )
    return alice, bob, mine, theirs


async def deliver(db: Database, *messages: tuple[str, str, int]) -> None:
    """(destination without +, text, seconds after T0), one batch each."""
    sink = StoreSink(db, IngestSettings(), clock=FakeClock())
    for destination, text, seconds in messages:
        await sink.accept([inbound(destination, text, received_at=T0 + timedelta(seconds=seconds))])


async def test_a_renter_reads_their_messages_in_arrival_order(database: Database) -> None:
    alice, _bob, mine, _theirs = await setup(database)
    await deliver(
        database,
        ("447700900100", "one", 1),
        ("447700900200", "for bob", 2),
        ("447700900100", "two", 3),
        ("447700900100", "three", 4),
    )
    messages = await rental_messages(database, alice, mine)
    assert [m.text for m in messages] == ["one", "two", "three"]
    assert [m.id for m in messages] == sorted(m.id for m in messages)
    assert {m.rental_id for m in messages} == {mine}


async def test_paging_with_after_and_limit(database: Database) -> None:
    alice, _bob, mine, _theirs = await setup(database)
    await deliver(database, *(("447700900100", f"m{i}", i) for i in range(7)))
    first = await rental_messages(database, alice, mine, limit=3)
    second = await rental_messages(database, alice, mine, after=first[-1].id, limit=3)
    third = await rental_messages(database, alice, mine, after=second[-1].id, limit=3)
    rest = await rental_messages(database, alice, mine, after=third[-1].id)
    assert [m.text for m in first + second + third] == [f"m{i}" for i in range(7)]
    assert rest == []


async def test_another_accounts_rental_is_not_found(database: Database) -> None:
    alice, bob, mine, theirs = await setup(database)
    await deliver(database, ("447700900100", "alice's secret 123456", 1))
    with pytest.raises(RentalNotFound):
        await rental_messages(database, bob, mine)
    with pytest.raises(RentalNotFound):
        await latest_code(database, bob, mine)
    with pytest.raises(RentalNotFound):
        await rental_messages(database, alice, "rnt_NOSUCHRENTAL0000000000000")
    assert await rental_messages(database, bob, theirs) == []


async def test_bad_paging_is_an_invalid_request(database: Database) -> None:
    alice, _bob, mine, _theirs = await setup(database)
    for kwargs in ({"limit": 0}, {"limit": 1001}, {"after": -1}):
        with pytest.raises(InvalidRequest):
            await rental_messages(database, alice, mine, **kwargs)  # type: ignore[arg-type]


async def test_latest_code_is_the_best_code_of_the_newest_message_with_one(
    database: Database,
) -> None:
    alice, _bob, mine, _theirs = await setup(database)
    assert await latest_code(database, alice, mine) is None
    await deliver(
        database,
        ("447700900100", "Your code is 111111", 1),
        ("447700900100", "Your code is 222222", 2),
        ("447700900100", "Thanks, no code here", 3),
    )
    found = await latest_code(database, alice, mine)
    assert found is not None
    assert found.value == "222222"
    assert found.code["value"] == "222222"
    messages = await rental_messages(database, alice, mine)
    assert found.message_id == messages[1].id
    assert messages[1].code == "222222"
    assert messages[2].code is None


async def test_unmatched_messages_are_listed_for_operators_only(database: Database) -> None:
    alice, _bob, mine, _theirs = await setup(database)
    await deliver(
        database,
        ("447700900100", "before the rental", -5),
        ("447700900100", "in the rental", 5),
        ("447700900999", "no such number", 6),
    )
    unmatched = await unmatched_messages(database)
    assert [m.text for m in unmatched] == ["before the rental", "no such number"]
    assert all(m.rental_id is None for m in unmatched)
    assert [m.text for m in await rental_messages(database, alice, mine)] == ["in the rental"]
    later = await unmatched_messages(database, after=unmatched[0].id)
    assert [m.text for m in later] == ["no such number"]
