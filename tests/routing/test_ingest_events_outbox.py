"""Ingest's events and webhook outbox, on both databases: each stored row knows its id, each
routed row is one ``message.received`` event on the bus and one outbox row per subscribed
endpoint, written in the messages' transaction."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

from routing_support import T0, FakeClock, add_account, add_number, add_rental, inbound, stored
from sqlalchemy import insert, select

from smslocker.api.views import message_json
from smslocker.delivery.bus import InProcessBus
from smslocker.routing.inbox import rental_messages
from smslocker.routing.ingest import StoreSink
from smslocker.settings import IngestSettings
from smslocker.store import Database
from smslocker.store.models import WebhookDelivery, WebhookEndpoint

RENTED = "+14155550100"
OTHER = "+14155550101"


async def add_endpoint(
    db: Database, account_id: int, endpoint_id: str, events: list[str], enabled: bool = True
) -> None:
    async with db.write() as connection:
        await connection.execute(
            insert(WebhookEndpoint).values(
                id=endpoint_id,
                account_id=account_id,
                url="https://hooks.example/in",
                events=events,
                secret="whsec_test",
                enabled=enabled,
                created_at=T0,
                updated_at=T0,
            )
        )


async def outbox(db: Database) -> list[tuple[str, str]]:
    """(endpoint id, message text) of every outbox row."""
    async with db.read() as connection:
        rows = (await connection.execute(select(WebhookDelivery))).all()
    return sorted(
        (row.endpoint_id, json.loads(row.payload)["data"]["message"]["text"]) for row in rows
    )


async def test_a_batch_gives_ids_events_and_outbox_rows(database: Database) -> None:
    alice = await add_account(database, "alice")
    bob = await add_account(database, "bob")
    number = await add_number(database, RENTED, "RESERVED")
    rental = await add_rental(database, alice, number, RENTED, T0, T0 + timedelta(hours=1))
    await add_endpoint(database, alice, "wh_alice", ["message.received"])
    await add_endpoint(database, alice, "wh_alice_rentals", ["rental.expired"])
    await add_endpoint(database, alice, "wh_alice_off", ["message.received"], enabled=False)
    await add_endpoint(database, bob, "wh_bob", ["message.received"])
    bus = InProcessBus()
    sink = StoreSink(database, IngestSettings(batch_ms=0.0), clock=FakeClock(), bus=bus)
    at = T0 + timedelta(seconds=5)
    batch = [
        inbound(RENTED[1:], "first 111111", received_at=at),
        inbound(OTHER[1:], "unmatched 222222", received_at=at),
        inbound(RENTED[1:], "first 111111", received_at=at),  # a redelivery in the batch
        inbound(RENTED[1:], "second 333333", received_at=at),
    ]
    try:
        async with bus.subscribe(f"rental:{rental}", f"account:{alice}") as subscription:
            await sink.accept(batch)
            await sink.accept(batch[:1])  # redelivered after the commit: nothing new
            await sink.wait_published()
            received = []
            async with asyncio.timeout(5):
                async for _channel, event in subscription:
                    received.append(event)
                    if len(received) == 4:
                        break
    finally:
        await sink.close()
        await bus.close()
    rows = await stored(database)
    assert [row.text for row in rows] == ["first 111111", "unmatched 222222", "second 333333"]
    inbox = await rental_messages(database, alice, rental)
    expected = [message_json(message) for message in inbox]
    assert [message["text"] for message in expected] == ["first 111111", "second 333333"]
    # Each event twice (rental and account channels), with the inbox's JSON, ids included.
    by_id = {message["id"]: message for message in expected}
    assert sorted(event["message"]["id"] for event in received) == sorted([*by_id] * 2)
    for event in received:
        assert event["message"] == by_id[event["message"]["id"]]
        assert (event["type"], event["rental_id"], event["account_id"]) == (
            "message.received",
            rental,
            alice,
        )
    assert await outbox(database) == [
        ("wh_alice", "first 111111"),
        ("wh_alice", "second 333333"),
    ]


async def test_an_endpoint_made_between_two_batches_gets_the_second(database: Database) -> None:
    alice = await add_account(database, "alice")
    number = await add_number(database, RENTED, "RESERVED")
    await add_rental(database, alice, number, RENTED, T0, T0 + timedelta(hours=1))
    sink = StoreSink(database, IngestSettings(batch_ms=0.0), clock=FakeClock())
    try:
        await sink.accept([inbound(RENTED[1:], "before 111111", received_at=T0)])
        await add_endpoint(database, alice, "wh_new", ["message.received"])
        await sink.accept([inbound(RENTED[1:], "after 222222", received_at=T0)])
    finally:
        await sink.close()
    assert await outbox(database) == [("wh_new", "after 222222")]
