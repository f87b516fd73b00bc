"""A rental's messages and code: order, paging, the Message JSON, and the long-poll that
wakes when ingest commits a message during the wait. Messages come in through the real
ingest :class:`~smslocker.routing.ingest.StoreSink`. Both databases."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from types import TracebackType
from typing import Any

import httpx
import pytest
from api_support import MakeAccount, SeedNumbers, auth, deliver_sms, until_subscribed
from sqlalchemy import update

from smslocker.api import longpoll
from smslocker.delivery.bus import BusUnavailable, Event, InProcessBus
from smslocker.platform import Platform
from smslocker.routing.ingest import StoreSink
from smslocker.store.models import Message

MESSAGE_FIELDS = {
    "id",
    "rental_id",
    "source",
    "destination",
    "text",
    "codes",
    "service",
    "data_coding",
    "encoding",
    "parts",
    "complete",
    "smsc_timestamp",
    "received_at",
    "message_time",
}


async def rented(
    client: httpx.AsyncClient, make_account: MakeAccount, seed_numbers: SeedNumbers
) -> tuple[str, str, str]:
    """(key, rental id, number) of a fresh rental of a fresh account."""
    _, key = await make_account("alice")
    await seed_numbers(1)
    response = await client.post("/api/v1/rentals", json={}, headers=auth(key))
    assert response.status_code == 201, response.text
    rental = response.json()
    return key, rental["id"], rental["number"]


async def test_messages_in_arrival_order_and_paged(
    client: httpx.AsyncClient,
    platform: Platform,
    sink: StoreSink,
    make_account: MakeAccount,
    seed_numbers: SeedNumbers,
) -> None:
    key, rental_id, number = await rented(client, make_account, seed_numbers)
    ids = []
    for i in range(5):
        ids += await deliver_sms(platform, sink, number, f"message {i}", source=f"4477009{i:05d}")
    path = f"/api/v1/rentals/{rental_id}/messages"

    response = await client.get(path, headers=auth(key))
    assert response.status_code == 200, response.text
    page = response.json()
    assert [m["id"] for m in page["messages"]] == ids
    assert [m["text"] for m in page["messages"]] == [f"message {i}" for i in range(5)]
    assert page["next_after"] == ids[-1]

    seen = []
    after = 0
    while True:
        params = {"after": after, "limit": 2}
        page = (await client.get(path, params=params, headers=auth(key))).json()
        if not page["messages"]:
            assert page["next_after"] == after
            break
        seen += [m["id"] for m in page["messages"]]
        after = page["next_after"]
    assert seen == ids


async def test_message_ids_go_past_32_bits(
    client: httpx.AsyncClient,
    platform: Platform,
    sink: StoreSink,
    make_account: MakeAccount,
    seed_numbers: SeedNumbers,
) -> None:
    # PostgreSQL's serial integer ended at 2**31 - 1 (migration 0009): every insert after
    # it failed. Here the ids start beyond it, and ingest, paging and the code still work.
    key, rental_id, number = await rented(client, make_account, seed_numbers)
    (first,) = await deliver_sms(platform, sink, number, "first")
    beyond = 2**31 + 5
    async with platform.db.write() as connection:
        await connection.execute(update(Message).where(Message.id == first).values(id=beyond))
        if not platform.db.is_sqlite:  # SQLite takes the largest id plus one anyway
            await connection.exec_driver_sql(
                f"SELECT setval(pg_get_serial_sequence('messages', 'id'), {beyond})"
            )
    (second,) = await deliver_sms(platform, sink, number, "Your code is 482913")
    assert second > beyond
    path = f"/api/v1/rentals/{rental_id}/messages"
    page = (await client.get(path, params={"after": beyond}, headers=auth(key))).json()
    assert [(m["id"], m["text"]) for m in page["messages"]] == [(second, "Your code is 482913")]
    page = (await client.get(path, params={"after": 2**40}, headers=auth(key))).json()
    assert page["messages"] == []
    code = await client.get(f"/api/v1/rentals/{rental_id}/code", headers=auth(key))
    assert code.json()["message_id"] == second


async def test_message_json(
    client: httpx.AsyncClient,
    platform: Platform,
    sink: StoreSink,
    make_account: MakeAccount,
    seed_numbers: SeedNumbers,
) -> None:
    key, rental_id, number = await rented(client, make_account, seed_numbers)
    await deliver_sms(platform, sink, number, "Your Google code is G-482913. Do not share it.")
    response = await client.get(f"/api/v1/rentals/{rental_id}/messages", headers=auth(key))
    (message,) = response.json()["messages"]
    assert set(message) == MESSAGE_FIELDS
    assert message["rental_id"] == rental_id
    assert message["destination"] == number
    assert message["encoding"] == "gsm7"
    assert message["parts"] == 1
    assert message["complete"] is True
    assert message["received_at"].endswith("Z")
    assert message["codes"][0]["value"] == "482913"
    scores = [code["score"] for code in message["codes"]]
    assert scores == sorted(scores, reverse=True)
    assert {"value", "score", "kind"} <= set(message["codes"][0])

    response = await client.get(f"/api/v1/rentals/{rental_id}", headers=auth(key))
    assert response.json()["messages_count"] == 1


@pytest.mark.parametrize(
    "params",
    [{"limit": 0}, {"limit": 1001}, {"after": -1}, {"after": 2**63}, {"wait": -1}, {"wait": "inf"}],
)
async def test_bad_paging_is_422(
    client: httpx.AsyncClient,
    make_account: MakeAccount,
    seed_numbers: SeedNumbers,
    params: dict[str, Any],
) -> None:
    key, rental_id, _number = await rented(client, make_account, seed_numbers)
    response = await client.get(
        f"/api/v1/rentals/{rental_id}/messages", params=params, headers=auth(key)
    )
    assert response.status_code == 422, params
    assert response.headers["content-type"] == "application/problem+json"


async def test_unmatched_messages_are_never_shown(
    client: httpx.AsyncClient,
    platform: Platform,
    sink: StoreSink,
    make_account: MakeAccount,
    seed_numbers: SeedNumbers,
) -> None:
    key, rental_id, _number = await rented(client, make_account, seed_numbers)
    other = (await seed_numbers(1, start=100))[0]
    assert await deliver_sms(platform, sink, other, "code 111222")
    response = await client.get(f"/api/v1/rentals/{rental_id}/messages", headers=auth(key))
    assert response.json()["messages"] == []


async def test_code(
    client: httpx.AsyncClient,
    platform: Platform,
    sink: StoreSink,
    make_account: MakeAccount,
    seed_numbers: SeedNumbers,
) -> None:
    key, rental_id, number = await rented(client, make_account, seed_numbers)
    path = f"/api/v1/rentals/{rental_id}/code"
    response = await client.get(path, headers=auth(key))
    assert response.status_code == 200
    assert response.json() == {
        "rental_id": rental_id,
        "code": None,
        "candidate": None,
        "message_id": None,
        "source": None,
        "received_at": None,
    }

    (first,) = await deliver_sms(platform, sink, number, "Your verification code is 771204")
    await deliver_sms(platform, sink, number, "Thanks for signing up!")
    body = (await client.get(path, headers=auth(key))).json()
    assert body["code"] == "771204"
    assert body["message_id"] == first
    assert body["candidate"]["value"] == "771204"

    # A code newer than the one already seen: none yet, then the resent one.
    body = (await client.get(path, params={"after": first}, headers=auth(key))).json()
    assert body["code"] is None
    (second,) = await deliver_sms(platform, sink, number, "Your verification code is 998877")
    body = (await client.get(path, params={"after": first}, headers=auth(key))).json()
    assert (body["code"], body["message_id"]) == ("998877", second)


# --------------------------------------------------------------------------- long-poll


async def test_long_poll_wakes_when_a_message_is_ingested_during_the_wait(
    client: httpx.AsyncClient,
    platform: Platform,
    sink: StoreSink,
    make_account: MakeAccount,
    seed_numbers: SeedNumbers,
) -> None:
    key, rental_id, number = await rented(client, make_account, seed_numbers)
    path = f"/api/v1/rentals/{rental_id}/messages"

    async def later() -> list[int]:
        # Deliver once the request is waiting on the rental's channel.
        await until_subscribed(platform, f"rental:{rental_id}")
        return await deliver_sms(platform, sink, number, "code 123456")

    started = time.monotonic()
    response, ids = await asyncio.gather(
        client.get(path, params={"wait": 20}, headers=auth(key)), later()
    )
    elapsed = time.monotonic() - started
    assert response.status_code == 200
    assert [m["id"] for m in response.json()["messages"]] == ids
    assert elapsed < 5


async def test_long_poll_for_the_code(
    client: httpx.AsyncClient,
    platform: Platform,
    sink: StoreSink,
    make_account: MakeAccount,
    seed_numbers: SeedNumbers,
) -> None:
    key, rental_id, number = await rented(client, make_account, seed_numbers)

    async def later() -> None:
        await until_subscribed(platform, f"rental:{rental_id}")
        await deliver_sms(platform, sink, number, "Hello!")  # no code: keeps waiting
        await asyncio.sleep(0.05)
        await deliver_sms(platform, sink, number, "Your code: 5521")

    response, _ = await asyncio.gather(
        client.get(f"/api/v1/rentals/{rental_id}/code", params={"wait": 20}, headers=auth(key)),
        later(),
    )
    assert response.json()["code"] == "5521"


async def test_long_poll_sees_a_message_committed_without_an_event(
    client: httpx.AsyncClient,
    platform: Platform,
    sink: StoreSink,
    make_account: MakeAccount,
    seed_numbers: SeedNumbers,
) -> None:
    """Subscribe first, read second: a message stored before the wait is answered at once
    even if its event never came."""
    key, rental_id, number = await rented(client, make_account, seed_numbers)
    await deliver_sms(platform, sink, number, "code 424242", publish=False)
    started = time.monotonic()
    response = await client.get(
        f"/api/v1/rentals/{rental_id}/messages", params={"wait": 20}, headers=auth(key)
    )
    assert len(response.json()["messages"]) == 1
    assert time.monotonic() - started < 5


async def test_long_poll_runs_out(
    client: httpx.AsyncClient, make_account: MakeAccount, seed_numbers: SeedNumbers
) -> None:
    key, rental_id, _number = await rented(client, make_account, seed_numbers)
    started = time.monotonic()
    response = await client.get(
        "/api/messages", params={"session_id": rental_id, "wait": 0.3}, headers=auth(key)
    )
    assert time.monotonic() - started >= 0.3
    assert response.json() == {"messages": [], "next_after": 0}


async def test_long_poll_of_another_accounts_rental_is_404_at_once(
    client: httpx.AsyncClient, make_account: MakeAccount, seed_numbers: SeedNumbers
) -> None:
    _key, rental_id, _number = await rented(client, make_account, seed_numbers)
    _, mallory = await make_account("mallory")
    started = time.monotonic()
    response = await client.get(
        f"/api/v1/rentals/{rental_id}/messages", params={"wait": 20}, headers=auth(mallory)
    )
    assert response.status_code == 404
    assert time.monotonic() - started < 5


class _UnavailableBus:
    """A bus whose subscriptions cannot be made (Redis is down)."""

    def __init__(self, bus: Any) -> None:
        self._bus = bus

    async def publish(self, channel: str, event: Event) -> None:
        await self._bus.publish(channel, event)

    async def publish_many(self, items: Sequence[tuple[str, Event]]) -> None:
        await self._bus.publish_many(items)

    def subscribe(self, *channels: str) -> _UnavailableBus:
        return self

    async def __aenter__(self) -> _UnavailableBus:
        raise BusUnavailable("Redis did not confirm the subscription")

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        return None

    async def close(self) -> None:
        await self._bus.close()


async def test_long_poll_falls_back_to_polling_without_the_bus(
    client: httpx.AsyncClient,
    platform: Platform,
    sink: StoreSink,
    make_account: MakeAccount,
    seed_numbers: SeedNumbers,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    key, rental_id, number = await rented(client, make_account, seed_numbers)
    monkeypatch.setattr(platform, "bus", _UnavailableBus(platform.bus))
    monkeypatch.setattr(longpoll, "FALLBACK_POLL_S", 0.05)

    async def later() -> list[int]:
        await asyncio.sleep(0.2)
        return await deliver_sms(platform, sink, number, "code 909090")

    started = time.monotonic()
    response, ids = await asyncio.gather(
        client.get(f"/api/v1/rentals/{rental_id}/messages", params={"wait": 20}, headers=auth(key)),
        later(),
    )
    assert [m["id"] for m in response.json()["messages"]] == ids
    assert time.monotonic() - started < 5


async def test_a_wait_longer_than_the_cap_is_cut(
    client: httpx.AsyncClient,
    make_account: MakeAccount,
    seed_numbers: SeedNumbers,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    key, rental_id, _number = await rented(client, make_account, seed_numbers)
    monkeypatch.setattr(longpoll, "MAX_WAIT_S", 0.2)
    started = time.monotonic()
    response = await client.get(
        f"/api/v1/rentals/{rental_id}/code", params={"wait": 3600}, headers=auth(key)
    )
    assert response.status_code == 200
    assert response.json()["code"] is None
    assert time.monotonic() - started < 3


async def test_a_wait_ends_when_the_client_hangs_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(longpoll, "DISCONNECT_CHECK_S", 0.02)
    bus = InProcessBus()
    hung_up_at = time.monotonic() + 0.2
    reads = 0

    async def read() -> list[int]:
        nonlocal reads
        reads += 1
        return []

    async def gone() -> bool:
        return time.monotonic() >= hung_up_at

    started = time.monotonic()
    assert await longpoll.wait_for(bus, "rental:x", read, bool, 30, gone) == []
    assert 0.2 <= time.monotonic() - started < 5
    assert reads == 1  # no event came: read once
    assert bus.subscribers("rental:x") == 0
    await bus.close()
