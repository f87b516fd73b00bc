"""Every path that hands a renter message content records ``message.read``: the REST
page and its short form, the code endpoint, WebSocket (and its short form) and SSE
streams, rental and account streams. Pushes are audited after the frame went out:
a stream keeps sending while the audit trail cannot be written. Both databases."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from api_support import MakeAccount, SeedNumbers, auth, rent_any
from push_support import (
    ingest_and_publish,
    message_events,
    next_frame,
    until_ready,
)
from sqlalchemy import text
from websockets.asyncio.client import connect

from smslocker.accounts import Principal
from smslocker.accounts.keys import Role
from smslocker.api import guard as guard_hooks
from smslocker.delivery import events
from smslocker.guard import audit
from smslocker.platform import Platform
from smslocker.routing.ingest import StoreSink


def key_id(key: str) -> str:
    return key.split("_")[1]


async def reads(platform: Platform) -> list[audit.Entry]:
    return await audit.entries(
        platform.db, audit.AuditFilter(action=audit.MESSAGE_READ), limit=1000
    )


async def reads_until(
    platform: Platform, done: Callable[[list[audit.Entry]], bool], timeout: float = 5.0
) -> list[audit.Entry]:
    """The ``message.read`` entries once ``done`` says they are all there (a push is
    audited just after it was sent, by a task of the stream's own)."""
    async with asyncio.timeout(timeout):
        while True:
            found = await reads(platform)
            if done(found):
                return found
            await asyncio.sleep(0.01)


def read_ids(entries: list[audit.Entry], via: str) -> list[int]:
    return [
        i for entry in entries if entry.details["via"] == via for i in entry.details["message_ids"]
    ]


Renter = tuple[int, str, dict[str, Any]]


@pytest.fixture
async def renter(
    client: httpx.AsyncClient, make_account: MakeAccount, seed_numbers: SeedNumbers
) -> Renter:
    """An account with one number rented: (account id, key, the rental)."""
    account_id, key = await make_account()
    await seed_numbers(1)
    return account_id, key, await rent_any(client, key)


# --------------------------------------------------------------------------- answers


async def test_rest_short_form_and_code_reads_are_audited(
    platform: Platform,
    client: httpx.AsyncClient,
    sink: StoreSink,
    renter: Renter,
) -> None:
    account_id, key, rental = renter
    (first,) = await ingest_and_publish(platform, sink, rental["number"], "Your code is 111111")
    (second,) = await ingest_and_publish(platform, sink, rental["number"], "Your code is 222222")

    page = await client.get(f"/api/v1/rentals/{rental['id']}/messages", headers=auth(key))
    assert len(page.json()["messages"]) == 2
    short = await client.get(
        "/api/messages", params={"session_id": rental["id"], "after": first}, headers=auth(key)
    )
    assert [m["id"] for m in short.json()["messages"]] == [second]
    code = await client.get(f"/api/v1/rentals/{rental['id']}/code", headers=auth(key))
    assert code.json()["code"] == "222222"
    none = await client.get(
        f"/api/v1/rentals/{rental['id']}/code", params={"after": second}, headers=auth(key)
    )
    assert none.json()["code"] is None  # nothing handed over: no entry

    found = await reads(platform)
    assert [(e.details["via"], e.details["message_ids"]) for e in found] == [
        ("messages", [first, second]),
        ("messages", [second]),
        ("code", [second]),
    ]
    assert {(e.actor, e.account_id, e.target) for e in found} == {
        (f"key:{key_id(key)}", account_id, rental["id"])
    }
    assert (await audit.verify(platform.db)).ok


async def test_a_large_read_is_several_entries(
    platform: Platform, make_account: MakeAccount
) -> None:
    account_id, key = await make_account()
    principal = Principal(account_id, "alice", key_id(key), Role.USER)
    ids = list(range(1, 251))
    await guard_hooks.message_read(platform, principal, "rnt_x", ids)
    found = await reads(platform)
    assert [len(e.details["message_ids"]) for e in found] == [100, 100, 50]
    assert read_ids(found, "messages") == ids
    await guard_hooks.message_read(platform, principal, "rnt_x", [])
    assert len(await reads(platform)) == 3


# --------------------------------------------------------------------------- WebSocket


async def test_websocket_backlog_is_one_read_and_live_messages_follow(
    server: str,
    platform: Platform,
    sink: StoreSink,
    renter: Renter,
) -> None:
    account_id, key, rental = renter
    first, second = [
        (await ingest_and_publish(platform, sink, rental["number"], f"Code {n}"))[0]
        for n in (111111, 222222)
    ]
    url = f"ws://{server}/api/v1/rentals/{rental['id']}/ws"
    async with connect(url, additional_headers=auth(key)) as websocket:
        assert len(await until_ready(websocket)) == 2
        [backlog] = await reads_until(platform, lambda found: len(found) == 1)
        assert backlog.details == {"message_ids": [first, second], "via": "websocket"}
        assert (backlog.actor, backlog.account_id, backlog.target) == (
            f"key:{key_id(key)}",
            account_id,
            rental["id"],
        )
        (third,) = await ingest_and_publish(platform, sink, rental["number"], "Code 333333")
        assert (await next_frame(websocket))["message"]["id"] == third
        found = await reads_until(platform, lambda found: third in read_ids(found, "websocket"))
    assert read_ids(found, "websocket") == [first, second, third]
    assert (await audit.verify(platform.db)).ok


async def test_websocket_short_form_is_audited(
    server: str,
    platform: Platform,
    sink: StoreSink,
    renter: Renter,
) -> None:
    _, key, rental = renter
    (first,) = await ingest_and_publish(platform, sink, rental["number"], "Code 424242")
    url = f"ws://{server}/ws/connect?session_id={rental['id']}&access_token={key}"
    async with connect(url) as websocket:
        assert len(await until_ready(websocket)) == 1
    found = await reads_until(platform, lambda found: len(found) == 1)
    assert read_ids(found, "websocket") == [first]
    assert found[0].target == rental["id"]


async def test_account_stream_reads_are_per_rental(
    server: str,
    client: httpx.AsyncClient,
    platform: Platform,
    sink: StoreSink,
    make_account: MakeAccount,
    seed_numbers: SeedNumbers,
) -> None:
    _, key = await make_account()
    await seed_numbers(2)
    one, two = await rent_any(client, key), await rent_any(client, key)
    (to_one,) = await ingest_and_publish(platform, sink, one["number"], "to one")
    (to_two,) = await ingest_and_publish(platform, sink, two["number"], "to two")
    async with connect(f"ws://{server}/api/v1/ws?after=0", additional_headers=auth(key)) as ws:
        assert len(await until_ready(ws)) == 2
    found = await reads_until(platform, lambda found: len(found) == 2)
    assert {e.target: e.details["message_ids"] for e in found} == {
        one["id"]: [to_one],
        two["id"]: [to_two],
    }


async def _hold_the_audit_trail(connection: Any, platform: Platform) -> None:
    """Inside ``connection``'s write transaction, no audit entry can be appended: on
    SQLite the writer is taken, on PostgreSQL the trail's advisory lock."""
    if not platform.db.is_sqlite:
        await connection.execute(
            text("SELECT pg_advisory_xact_lock(:key)"), {"key": audit.ADVISORY_LOCK_KEY}
        )


async def test_a_push_does_not_wait_for_its_audit(
    server: str,
    platform: Platform,
    sink: StoreSink,
    renter: Renter,
) -> None:
    _, key, rental = renter
    (first,) = await ingest_and_publish(platform, sink, rental["number"], "one", publish=False)
    (second,) = await ingest_and_publish(platform, sink, rental["number"], "two", publish=False)
    url = f"ws://{server}/api/v1/rentals/{rental['id']}/ws?after={first - 1}"
    async with connect(url, additional_headers=auth(key)) as websocket:
        assert len(await until_ready(websocket)) == 2
        await reads_until(platform, lambda found: len(found) == 1)  # the backlog's
        # Stored now, published below: the stream has no database write to make for it.
        (third,) = await ingest_and_publish(platform, sink, rental["number"], "3", publish=False)
        live_events = await message_events(platform, [third])
        async with platform.db.write() as connection:
            await _hold_the_audit_trail(connection, platform)
            await events.publish(platform.bus, live_events)
            # Sent while the audit trail cannot be written.
            assert (await next_frame(websocket))["message"]["id"] == third
        found = await reads_until(platform, lambda found: third in read_ids(found, "websocket"))
    assert read_ids(found, "websocket") == [first, second, third]


# --------------------------------------------------------------------------- SSE


async def _sse_until(lines: AsyncIterator[str], wanted: Callable[[str], bool]) -> None:
    async with asyncio.timeout(5):
        async for line in lines:
            if wanted(line):
                return
    raise AssertionError("the stream ended")


async def test_sse_backlog_and_live_messages_are_audited(
    server: str,
    platform: Platform,
    sink: StoreSink,
    renter: Renter,
) -> None:
    account_id, key, rental = renter
    (first,) = await ingest_and_publish(platform, sink, rental["number"], "Code 515151")
    async with (
        httpx.AsyncClient(base_url=f"http://{server}", timeout=10) as http,
        http.stream("GET", f"/api/v1/rentals/{rental['id']}/events", headers=auth(key)) as response,
    ):
        lines = response.aiter_lines()
        await _sse_until(lines, lambda line: line == ": ready")
        [backlog] = await reads_until(platform, lambda found: len(found) == 1)
        assert backlog.details == {"message_ids": [first], "via": "sse"}
        assert (backlog.actor, backlog.account_id) == (f"key:{key_id(key)}", account_id)
        (second,) = await ingest_and_publish(platform, sink, rental["number"], "Code 626262")
        await _sse_until(lines, lambda line: line == f"id: {second}")
        found = await reads_until(platform, lambda found: second in read_ids(found, "sse"))
    assert read_ids(found, "sse") == [first, second]
    assert json.dumps(found[-1].details).count(str(second)) == 1
