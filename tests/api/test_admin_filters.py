"""Inbound filters through the admin API: rules (admin only, validated, audited) and the
held messages they keep out of every inbox until an operator releases or drops them.
Messages come in through the real ingest sink with the platform's rule cache. Both
databases."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from api_support import INGEST, MakeAccount, SeedNumbers, auth, deliver_sms
from sqlalchemy import select

from smslocker.api.routes.push import READY, stream_events
from smslocker.guard import audit
from smslocker.platform import Platform
from smslocker.routing.ingest import StoreSink
from smslocker.screening.store import rule_cache
from smslocker.store.models import Message, Number, Rental

STRANGER = "15550001234"


@pytest.fixture
def screened_sink(platform: Platform) -> StoreSink:
    return StoreSink(
        platform.db,
        INGEST,
        clock=platform.clock,
        guess_service=platform.senders.guess_service,
        bus=platform.bus,
        ring=platform.keyring,
        screen=rule_cache(platform.db).rules,
    )


async def admin_key(make_account: MakeAccount) -> str:
    _, key = await make_account("root", role="admin")
    return key


async def rented(
    client: httpx.AsyncClient, make_account: MakeAccount, seed_numbers: SeedNumbers
) -> tuple[int, str, str, str]:
    """(account id, key, rental id, number) of a fresh rental of a fresh account."""
    account_id, key = await make_account("alice")
    await seed_numbers(1)
    response = await client.post("/api/v1/rentals", json={}, headers=auth(key))
    assert response.status_code == 201, response.text
    rental = response.json()
    return account_id, key, rental["id"], rental["number"]


async def add_rule(client: httpx.AsyncClient, key: str, **rule: Any) -> dict[str, Any]:
    response = await client.post("/api/v1/admin/filters", json=rule, headers=auth(key))
    assert response.status_code == 201, response.text
    return dict(response.json())


async def backlog(platform: Platform, account_id: int, rental_id: str | None) -> list[int]:
    """The message ids a push stream sends before READY (its catch-up from the inbox)."""
    ids: list[int] = []
    stream = stream_events(platform, account_id, rental_id, 0)
    async with asyncio.timeout(10):
        async for event in stream:
            if event is READY:
                break
            if event is not None:
                ids.append(event["message"]["id"])
    await stream.aclose()
    return ids


# --------------------------------------------------------------------------- rules


async def test_rules_are_admin_only(client: httpx.AsyncClient, make_account: MakeAccount) -> None:
    _, user = await make_account("alice")
    assert (await client.get("/api/v1/admin/filters", headers=auth(user))).status_code == 403
    assert (await client.get("/api/v1/admin/filters")).status_code == 401
    response = await client.post(
        "/api/v1/admin/filters",
        json={"field": "source", "pattern": "x", "action": "deny"},
        headers=auth(user),
    )
    assert response.status_code == 403
    held = await client.get("/api/v1/admin/messages/held", headers=auth(user))
    assert held.status_code == 403
    assert (
        await client.post("/api/v1/admin/messages/1/release", headers=auth(user))
    ).status_code == 403


async def test_rule_crud_is_validated_and_audited(
    client: httpx.AsyncClient, platform: Platform, make_account: MakeAccount
) -> None:
    key = await admin_key(make_account)
    rule = await add_rule(
        client, key, field="content", match="contains", pattern="casino", action="deny"
    )
    assert rule["field"] == "content"
    assert rule["action"] == "deny"
    assert rule["connector"] is None

    bad_regex = await client.post(
        "/api/v1/admin/filters",
        json={"field": "content", "match": "regex", "pattern": "([a-z", "action": "hold"},
        headers=auth(key),
    )
    assert bad_regex.status_code == 422
    assert bad_regex.headers["content-type"].startswith("application/problem+json")
    assert bad_regex.json()["type"].endswith("/invalid-filter")
    service_on_deny = await client.post(
        "/api/v1/admin/filters",
        json={"field": "source", "pattern": "x", "action": "deny", "service": "google"},
        headers=auth(key),
    )
    assert service_on_deny.status_code == 422
    nul = await client.post(
        "/api/v1/admin/filters",
        json={"field": "content", "pattern": "a\u0000b", "action": "deny", "note": "x"},
        headers=auth(key),
    )
    assert nul.status_code == 422
    unknown_field = await client.post(
        "/api/v1/admin/filters",
        json={"field": "body", "pattern": "x", "action": "deny"},
        headers=auth(key),
    )
    assert unknown_field.status_code == 422

    path = f"/api/v1/admin/filters/{rule['id']}"
    patched = await client.patch(
        path, json={"enabled": False, "note": "too broad"}, headers=auth(key)
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["enabled"] is False
    assert patched.json()["note"] == "too broad"
    bad_patch = await client.patch(
        path, json={"match": "regex", "pattern": "(("}, headers=auth(key)
    )
    assert bad_patch.status_code == 422
    listed = (await client.get("/api/v1/admin/filters", headers=auth(key))).json()["filters"]
    assert [(r["id"], r["pattern"], r["enabled"]) for r in listed] == [
        (rule["id"], "casino", False)
    ]

    assert (await client.delete(path, headers=auth(key))).status_code == 204
    assert (await client.delete(path, headers=auth(key))).status_code == 404
    assert (await client.patch(path, json={"enabled": True}, headers=auth(key))).status_code == 404
    assert (await client.get("/api/v1/admin/filters", headers=auth(key))).json()["filters"] == []

    actions = [entry.action for entry in await audit.entries(platform.db, limit=1000)]
    assert [a for a in actions if a.startswith("filter.")] == [
        "filter.created",
        "filter.updated",
        "filter.deleted",
    ]
    assert (await audit.verify(platform.db)).ok


# --------------------------------------------------------------------------- hold


async def test_held_message_is_in_no_inbox_until_released(
    client: httpx.AsyncClient,
    platform: Platform,
    screened_sink: StoreSink,
    make_account: MakeAccount,
    seed_numbers: SeedNumbers,
) -> None:
    key = await admin_key(make_account)
    account_id, user, rental_id, number = await rented(client, make_account, seed_numbers)
    await add_rule(client, key, field="source", pattern=STRANGER, action="hold")

    [held_id] = await deliver_sms(
        platform, screened_sink, number, "Your code is 482913", source=STRANGER
    )
    messages = f"/api/v1/rentals/{rental_id}/messages"
    assert (await client.get(messages, headers=auth(user))).json()["messages"] == []
    code = (await client.get(f"/api/v1/rentals/{rental_id}/code", headers=auth(user))).json()
    assert code["code"] is None
    assert await backlog(platform, account_id, rental_id) == []
    assert await backlog(platform, account_id, None) == []
    assert screened_sink.stats.held == 1
    async with platform.db.read() as connection:
        count = await connection.scalar(select(Rental.messages_count).where(Rental.id == rental_id))
        state = await connection.scalar(select(Number.state).where(Number.e164 == number))
    assert count == 0
    assert state == "RESERVED"

    # A message after it passes, and is the first event on the rental's channel: the
    # held one was never published.
    async with platform.bus.subscribe(f"rental:{rental_id}") as subscription:
        [passed_id] = await deliver_sms(platform, screened_sink, number, "hello", source="Google")
        async with asyncio.timeout(5):
            _, event = await anext(subscription)
        assert event["message"]["id"] == passed_id

        listed = await client.get("/api/v1/admin/messages/held", headers=auth(key))
        assert listed.status_code == 200
        [review] = listed.json()["messages"]
        assert review["id"] == held_id
        assert review["text"] == "Your code is 482913"
        assert review["source"] == STRANGER
        assert "hold rule on source" in review["reason"]

        released = await client.post(f"/api/v1/admin/messages/{held_id}/release", headers=auth(key))
        assert released.status_code == 200, released.text
        message = released.json()["message"]
        # A new id: a poll loop already past the later message still sees it.
        assert message["id"] > passed_id
        assert message["text"] == "Your code is 482913"
        async with asyncio.timeout(5):
            _, event = await anext(subscription)
        assert event["type"] == "message.received"
        assert event["message"]["id"] == message["id"]

    page = (await client.get(messages, params={"after": passed_id}, headers=auth(user))).json()
    assert [m["id"] for m in page["messages"]] == [message["id"]]
    code = (await client.get(f"/api/v1/rentals/{rental_id}/code", headers=auth(user))).json()
    assert code["code"] == "482913"
    assert code["message_id"] == message["id"]
    assert await backlog(platform, account_id, rental_id) == [passed_id, message["id"]]
    async with platform.db.read() as connection:
        count = await connection.scalar(select(Rental.messages_count).where(Rental.id == rental_id))
    assert count == 2
    assert (await client.get("/api/v1/admin/messages/held", headers=auth(key))).json()[
        "messages"
    ] == []
    again = await client.post(f"/api/v1/admin/messages/{held_id}/release", headers=auth(key))
    assert again.status_code == 404
    entries = await audit.entries(platform.db, audit.AuditFilter(action="message.released"))
    assert [e.details["held_id"] for e in entries] == [held_id]


async def test_dropping_a_held_message_deletes_it(
    client: httpx.AsyncClient,
    platform: Platform,
    screened_sink: StoreSink,
    make_account: MakeAccount,
    seed_numbers: SeedNumbers,
) -> None:
    key = await admin_key(make_account)
    _, user, rental_id, number = await rented(client, make_account, seed_numbers)
    await add_rule(client, key, field="content", match="regex", pattern=r"\bprize\b", action="hold")
    [held_id] = await deliver_sms(platform, screened_sink, number, "You won a PRIZE? no: prize")

    dropped = await client.post(f"/api/v1/admin/messages/{held_id}/drop", headers=auth(key))
    assert dropped.status_code == 200
    assert dropped.json() == {"dropped": held_id}
    async with platform.db.read() as connection:
        assert await connection.scalar(select(Message.id).where(Message.id == held_id)) is None
    [entry] = await audit.entries(platform.db, audit.AuditFilter(action="message.dropped"))
    assert entry.target == f"message:{held_id}"
    assert "text" not in entry.details
    assert (
        await client.post(f"/api/v1/admin/messages/{held_id}/drop", headers=auth(key))
    ).status_code == 404
    assert (await client.get(f"/api/v1/rentals/{rental_id}/messages", headers=auth(user))).json()[
        "messages"
    ] == []


async def test_service_sender_allow_list_holds_a_stranger(
    client: httpx.AsyncClient,
    platform: Platform,
    screened_sink: StoreSink,
    make_account: MakeAccount,
    seed_numbers: SeedNumbers,
) -> None:
    key = await admin_key(make_account)
    _, user, rental_id, number = await rented(client, make_account, seed_numbers)
    await add_rule(
        client, key, field="source", pattern="WhatsApp", action="allow", service="whatsapp"
    )

    [known] = await deliver_sms(
        platform, screened_sink, number, "Your WhatsApp code 111-222", source="WhatsApp"
    )
    [stranger] = await deliver_sms(
        platform, screened_sink, number, "Your WhatsApp code 333-444", source=STRANGER
    )
    [other_service] = await deliver_sms(
        platform, screened_sink, number, "Your Telegram code 55555", source=STRANGER
    )
    page = (await client.get(f"/api/v1/rentals/{rental_id}/messages", headers=auth(user))).json()
    assert [m["id"] for m in page["messages"]] == [known, other_service]
    held = (await client.get("/api/v1/admin/messages/held", headers=auth(key))).json()["messages"]
    assert [m["id"] for m in held] == [stranger]
    assert "whatsapp" in held[0]["reason"]


async def test_held_list_is_paged(
    client: httpx.AsyncClient,
    platform: Platform,
    screened_sink: StoreSink,
    make_account: MakeAccount,
    seed_numbers: SeedNumbers,
) -> None:
    key = await admin_key(make_account)
    [number] = await seed_numbers(1)
    await add_rule(client, key, field="smsc", pattern="sim", action="hold")
    ids = []
    for i in range(3):
        ids += await deliver_sms(platform, screened_sink, number, f"m{i}", source=f"4477009{i:05d}")
    path = "/api/v1/admin/messages/held"
    first = (await client.get(path, params={"limit": 2}, headers=auth(key))).json()
    assert [m["id"] for m in first["messages"]] == ids[:2]
    assert first["next_after"] == ids[1]
    rest = (await client.get(path, params={"after": ids[1]}, headers=auth(key))).json()
    assert [m["id"] for m in rest["messages"]] == ids[2:]
    assert rest["next_after"] is None
    # An unmatched held message is not in the unmatched list either until released.
    unmatched = await client.get("/api/v1/admin/messages/unmatched", headers=auth(key))
    assert unmatched.json()["messages"] == []
    assert (await client.get(path, params={"limit": 0}, headers=auth(key))).status_code == 422
