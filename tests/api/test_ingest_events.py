"""Ingest tells renters: a message stored by the real StoreSink reaches the rental's push
streams (WebSocket, SSE) and its account's webhook outbox, with the Message JSON the
inbox API returns.

No test publishes by hand here: the sink is :func:`api_support.make_sink`'s, with the
platform's bus, and the messages arrive as a connector hands them over.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from typing import Any

import httpx
import pytest
from api_support import INGEST, MakeAccount, SeedNumbers, auth, deliver_sms, make_sink, rent_any
from push_support import next_frame, until_ready
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection
from websockets.asyncio.client import connect

from smslocker.delivery.bus import BusUnavailable, Event, InProcessBus, Subscription
from smslocker.gateway.messages import InboundMessage
from smslocker.platform import Platform
from smslocker.routing.ingest import StoreSink
from smslocker.store.models import Message, WebhookDelivery


async def _inbox(client: httpx.AsyncClient, key: str, rental_id: str) -> list[dict[str, Any]]:
    response = await client.get(f"/api/v1/rentals/{rental_id}/messages", headers=auth(key))
    assert response.status_code == 200, response.text
    messages: list[dict[str, Any]] = response.json()["messages"]
    return messages


async def _webhook(client: httpx.AsyncClient, key: str, **body: Any) -> str:
    body.setdefault("url", "https://hooks.example/in")
    body.setdefault("events", ["message.received"])
    response = await client.post("/api/v1/webhooks", json=body, headers=auth(key))
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def _outbox(platform: Platform) -> list[Any]:
    async with platform.db.read() as connection:
        query = select(WebhookDelivery).order_by(WebhookDelivery.created_at)
        return list((await connection.execute(query)).all())


def _sms(platform: Platform, number: str, text: str) -> InboundMessage:
    return InboundMessage(
        connector="sim",
        source="447700900001",
        destination=number.lstrip("+"),
        text=text,
        data_coding=0,
        encoding="gsm7",
        received_at=platform.now(),
    )


async def test_websocket_gets_the_message_the_sink_stored(
    server: str,
    client: httpx.AsyncClient,
    platform: Platform,
    sink: StoreSink,
    make_account: MakeAccount,
    seed_numbers: SeedNumbers,
) -> None:
    _, key = await make_account()
    await seed_numbers(1)
    rental = await rent_any(client, key)
    url = f"ws://{server}/api/v1/rentals/{rental['id']}/ws"
    async with connect(url, additional_headers=auth(key)) as websocket:
        assert await until_ready(websocket) == []
        await sink.accept([_sms(platform, rental["number"], "Your code is 314159")])
        frame = await next_frame(websocket)
    assert frame["type"] == "message.received"
    assert frame["rental_id"] == rental["id"]
    # The very JSON the inbox API answers with, id included.
    assert [frame["message"]] == await _inbox(client, key, rental["id"])
    assert frame["message"]["codes"][0]["value"] == "314159"


async def test_sse_account_stream_gets_the_message_the_sink_stored(
    server: str,
    client: httpx.AsyncClient,
    platform: Platform,
    sink: StoreSink,
    make_account: MakeAccount,
    seed_numbers: SeedNumbers,
) -> None:
    account_id, key = await make_account()
    await seed_numbers(1)
    rental = await rent_any(client, key)
    async with (
        httpx.AsyncClient(base_url=f"http://{server}", timeout=10) as http,
        http.stream("GET", "/api/v1/events", headers=auth(key)) as response,
    ):
        assert response.status_code == 200
        lines = response.aiter_lines()
        async with asyncio.timeout(5):
            async for line in lines:
                if line == ": ready":
                    break
            await sink.accept([_sms(platform, rental["number"], "code 271828")])
            fields: dict[str, str] = {}
            async for line in lines:
                if line == "" and "data" in fields:
                    break
                if line and not line.startswith(":"):
                    name, _, value = line.partition(":")
                    fields[name] = value.removeprefix(" ")
    event = json.loads(fields["data"])
    assert fields["event"] == "message.received"
    assert (event["account_id"], event["rental_id"]) == (account_id, rental["id"])
    assert [event["message"]] == await _inbox(client, key, rental["id"])
    assert fields["id"] == str(event["message"]["id"])


async def test_webhook_outbox_row_for_subscribed_endpoints_only(
    client: httpx.AsyncClient,
    platform: Platform,
    sink: StoreSink,
    make_account: MakeAccount,
    seed_numbers: SeedNumbers,
) -> None:
    _, key = await make_account()
    _, other_key = await make_account("bob")
    await seed_numbers(2)
    rental = await rent_any(client, key)
    other = await rent_any(client, other_key)
    await _webhook(client, other_key, events=["rental.expired"])  # not subscribed to messages
    await deliver_sms(platform, sink, rental["number"], "before any endpoint 1111")
    assert await _outbox(platform) == []
    # Created a moment ago: the very next message must reach it.
    endpoint = await _webhook(client, key)
    disabled = await _webhook(client, key)
    patched = await client.patch(
        f"/api/v1/webhooks/{disabled}", json={"enabled": False}, headers=auth(key)
    )
    assert patched.status_code == 200
    (message_id,) = await deliver_sms(platform, sink, rental["number"], "Your code is 424242")
    await deliver_sms(platform, sink, other["number"], "not for alice 5555")
    (row,) = await _outbox(platform)
    assert (row.endpoint_id, row.event_type, row.status) == (
        endpoint,
        "message.received",
        "pending",
    )
    body = json.loads(row.payload)
    assert body["type"] == "message.received"
    assert body["data"]["rental_id"] == rental["id"]
    inbox = await _inbox(client, key, rental["id"])
    assert body["data"]["message"] == inbox[-1]
    assert inbox[-1]["id"] == message_id


async def test_a_failed_transaction_leaves_no_outbox_row_and_no_event(
    client: httpx.AsyncClient,
    platform: Platform,
    make_account: MakeAccount,
    seed_numbers: SeedNumbers,
) -> None:
    """The webhook rows are written in the messages' transaction: when that transaction
    fails after them (here: a probe in the same batch whose completion raises), neither
    the message nor its webhook exists, and nothing was published."""
    _, key = await make_account()
    await seed_numbers(2)
    rental = await rent_any(client, key)
    await _webhook(client, key)

    async def failing_probe(_connection: AsyncConnection, _token: str, _at: datetime) -> None:
        raise RuntimeError("probe table is on fire")

    sink = StoreSink(platform.db, INGEST, clock=platform.clock, bus=platform.bus)
    sink_with_probe = StoreSink(
        platform.db, INGEST, clock=platform.clock, bus=platform.bus, complete_probe=failing_probe
    )
    channel = f"rental:{rental['id']}"
    try:
        async with platform.bus.subscribe(channel) as subscription:
            with pytest.raises(RuntimeError, match="on fire"):
                await sink_with_probe.accept(
                    [
                        _sms(platform, rental["number"], "Your code is 999999"),
                        _sms(platform, rental["number"], "smslocker probe abcdef123456"),
                    ]
                )
            await sink_with_probe.wait_published()
            async with platform.db.read() as connection:
                assert await connection.scalar(select(func.count()).select_from(Message)) == 0
            assert await _outbox(platform) == []
            # The same message again, without the probe: stored, one row, one event.
            await sink.accept([_sms(platform, rental["number"], "Your code is 999999")])
            assert len(await _outbox(platform)) == 1
            (_, event) = await _next(subscription)
            assert event["message"]["text"] == "Your code is 999999"
    finally:
        await sink.close()
        await sink_with_probe.close()


async def _next(subscription: Subscription) -> tuple[str, Event]:
    async with asyncio.timeout(5):
        async for item in subscription:
            return item
    raise AssertionError("the subscription ended")


class BrokenBus(InProcessBus):
    """A bus whose publishing always fails, one way or the other."""

    def __init__(self, error: Exception) -> None:
        super().__init__()
        self.error = error
        self.attempts = 0

    async def publish(self, channel: str, event: Event) -> None:
        self.attempts += 1
        raise self.error


@pytest.mark.parametrize("error", [BusUnavailable("redis is down"), ValueError("bug")])
async def test_a_bus_failure_never_fails_the_ingest(
    client: httpx.AsyncClient,
    platform: Platform,
    make_account: MakeAccount,
    seed_numbers: SeedNumbers,
    error: Exception,
) -> None:
    _, key = await make_account()
    await seed_numbers(1)
    rental = await rent_any(client, key)
    await _webhook(client, key)
    bus = BrokenBus(error)
    sink = StoreSink(platform.db, INGEST, clock=platform.clock, bus=bus)
    try:
        await sink.accept([_sms(platform, rental["number"], "Your code is 123123")])
        await sink.wait_published()
    finally:
        await sink.close()
        await bus.close()
    assert bus.attempts > 0
    assert [m["text"] for m in await _inbox(client, key, rental["id"])] == ["Your code is 123123"]
    assert len(await _outbox(platform)) == 1


async def test_unmatched_messages_make_no_event_and_no_webhook(
    client: httpx.AsyncClient,
    platform: Platform,
    make_account: MakeAccount,
    seed_numbers: SeedNumbers,
) -> None:
    account_id, key = await make_account()
    (number,) = await seed_numbers(1)  # not rented
    await _webhook(client, key)
    sink = make_sink(platform)
    try:
        async with platform.bus.subscribe(f"account:{account_id}") as subscription:
            assert await deliver_sms(platform, sink, number, "Your code is 777777")
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.2):
                    await anext(aiter(subscription))
    finally:
        await sink.close()
    assert await _outbox(platform) == []
