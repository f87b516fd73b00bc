"""``/api/v1/webhooks``: endpoint CRUD, secrets shown once, rotation, the delivery log,
replay, and isolation between accounts (another account's ids are 404)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from api_support import MakeAccount, SeedNumbers, auth

from smslocker.delivery import outbox
from smslocker.delivery.worker import WebhookWorker
from smslocker.platform import Platform

URL = "https://hooks.example/in"


async def _create(client: httpx.AsyncClient, key: str, **body: Any) -> dict[str, Any]:
    body.setdefault("url", URL)
    body.setdefault("events", ["message.received"])
    response = await client.post("/api/v1/webhooks", json=body, headers=auth(key))
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def test_create_list_get_update_delete(
    client: httpx.AsyncClient, make_account: MakeAccount
) -> None:
    _, key = await make_account()
    created = await _create(client, key, events=["message.received", "rental.expired"])
    assert created["secret"].startswith("whsec_")
    assert created["id"].startswith("wh_")
    assert created["enabled"] is True
    assert created["events"] == ["message.received", "rental.expired"]
    hook = f"/api/v1/webhooks/{created['id']}"

    listed = (await client.get("/api/v1/webhooks", headers=auth(key))).json()["webhooks"]
    assert [w["id"] for w in listed] == [created["id"]]
    fetched = (await client.get(hook, headers=auth(key))).json()
    assert "secret" not in fetched  # shown once
    assert "secret" not in listed[0]

    patched = await client.patch(
        hook, json={"url": "http://other.example/x", "enabled": False}, headers=auth(key)
    )
    assert patched.status_code == 200
    assert patched.json()["url"] == "http://other.example/x"
    assert patched.json()["enabled"] is False
    assert patched.json()["events"] == ["message.received", "rental.expired"]
    enabled = await client.patch(hook, json={"enabled": True}, headers=auth(key))
    assert enabled.json()["disabled_reason"] is None

    assert (await client.delete(hook, headers=auth(key))).status_code == 204
    assert (await client.get(hook, headers=auth(key))).status_code == 404
    assert (await client.delete(hook, headers=auth(key))).status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        {"url": "ftp://example.com/", "events": ["message.received"]},
        {"url": "not a url", "events": ["message.received"]},
        {"url": "http:///nohost", "events": ["message.received"]},
        {"url": URL, "events": []},
        {"url": URL, "events": ["message.sent"]},
        {"url": URL},
        {"events": ["message.received"]},
        {"url": URL, "events": ["message.received"], "secret": "mine"},
        {"url": 5, "events": ["message.received"]},
        {"url": "http://a\x00b.example/", "events": ["message.received"]},
    ],
)
async def test_bad_input_is_a_422_problem(
    client: httpx.AsyncClient, make_account: MakeAccount, body: dict[str, Any]
) -> None:
    _, key = await make_account()
    response = await client.post("/api/v1/webhooks", json=body, headers=auth(key))
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["detail"]


async def test_rotate_shows_a_new_secret_once(
    client: httpx.AsyncClient, make_account: MakeAccount
) -> None:
    _, key = await make_account()
    created = await _create(client, key)
    rotated = await client.post(f"/api/v1/webhooks/{created['id']}/rotate", headers=auth(key))
    assert rotated.status_code == 200
    body = rotated.json()
    assert body["secret"].startswith("whsec_")
    assert body["secret"] != created["secret"]
    assert body["previous_secret_expires_at"] == "2026-12-02T12:00:00Z"  # T0 + 24 h


async def test_another_accounts_ids_are_not_found(
    client: httpx.AsyncClient, make_account: MakeAccount
) -> None:
    _, alice = await make_account("alice")
    _, bob = await make_account("bob")
    created = await _create(client, alice)
    hook = f"/api/v1/webhooks/{created['id']}"
    for method, path, body in [
        ("GET", hook, None),
        ("PATCH", hook, {"enabled": False}),
        ("DELETE", hook, None),
        ("POST", hook + "/rotate", None),
        ("GET", hook + "/deliveries", None),
        ("GET", "/api/v1/webhooks/deliveries/msg_nope", None),
        ("POST", "/api/v1/webhooks/deliveries/msg_nope/replay", None),
    ]:
        response = await client.request(method, path, json=body, headers=auth(bob))
        assert response.status_code == 404, (method, path, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
    assert (await client.get("/api/v1/webhooks", headers=auth(bob))).json() == {"webhooks": []}
    assert (await client.get(hook, headers=auth(alice))).json()["enabled"] is True


async def test_without_a_key_it_is_401(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/v1/webhooks")).status_code == 401
    response = await client.post("/api/v1/webhooks", json={"url": URL, "events": ["x"]})
    assert response.status_code == 401


async def test_rental_events_land_in_the_delivery_log_and_replay(
    client: httpx.AsyncClient,
    platform: Platform,
    make_account: MakeAccount,
    seed_numbers: SeedNumbers,
) -> None:
    _, key = await make_account()
    await seed_numbers(2)
    received: list[httpx.Request] = []

    def receiver(request: httpx.Request) -> httpx.Response:
        received.append(request)
        return httpx.Response(500 if len(received) == 1 else 200)

    created = await _create(client, key, events=["rental.created", "rental.released"])
    rental = (await client.post("/api/v1/rentals", json={}, headers=auth(key))).json()
    await client.post(f"/api/v1/rentals/{rental['id']}/release", headers=auth(key))

    log_path = f"/api/v1/webhooks/{created['id']}/deliveries"
    page = (await client.get(log_path, headers=auth(key))).json()
    assert [d["event_type"] for d in page["deliveries"]] == ["rental.released", "rental.created"]
    assert page["deliveries"][1]["payload"]["data"]["rental"]["id"] == rental["id"]
    assert all(d["status"] == "pending" for d in page["deliveries"])

    async with httpx.AsyncClient(transport=httpx.MockTransport(receiver)) as http:
        worker = WebhookWorker(platform.db, platform.clock, client=http, batch_size=1)
        assert await worker.run_once() == 1  # the first (rental.created) gets a 500
        assert await worker.run_once() == 1  # rental.released: 200
    page = (await client.get(log_path, headers=auth(key))).json()
    statuses = {d["event_type"]: d for d in page["deliveries"]}
    failed = statuses["rental.created"]
    assert failed["status"] == "pending"
    assert failed["attempt_log"][0]["status_code"] == 500
    assert statuses["rental.released"]["status"] == "delivered"
    delivered_only = await client.get(log_path, params={"status": "delivered"}, headers=auth(key))
    assert [d["id"] for d in delivered_only.json()["deliveries"]] == [
        statuses["rental.released"]["id"]
    ]

    replayed = await client.post(
        f"/api/v1/webhooks/deliveries/{statuses['rental.released']['id']}/replay",
        headers=auth(key),
    )
    assert replayed.status_code == 200
    assert replayed.json()["status"] == outbox.PENDING
    assert len(replayed.json()["attempt_log"]) == 1  # the log keeps earlier attempts
    one = await client.get(
        f"/api/v1/webhooks/deliveries/{statuses['rental.released']['id']}", headers=auth(key)
    )
    assert one.json()["status"] == "pending"

    await client.patch(
        f"/api/v1/webhooks/{created['id']}", json={"enabled": False}, headers=auth(key)
    )
    refused = await client.post(
        f"/api/v1/webhooks/deliveries/{statuses['rental.released']['id']}/replay",
        headers=auth(key),
    )
    assert refused.status_code == 409


async def test_delivery_log_pages(
    client: httpx.AsyncClient,
    make_account: MakeAccount,
    seed_numbers: SeedNumbers,
) -> None:
    _, key = await make_account()
    await seed_numbers(3)
    created = await _create(client, key, events=["rental.created"])
    for _ in range(3):
        await client.post("/api/v1/rentals", json={}, headers=auth(key))
    log_path = f"/api/v1/webhooks/{created['id']}/deliveries"
    first = (await client.get(log_path, params={"limit": 2}, headers=auth(key))).json()
    assert len(first["deliveries"]) == 2
    second = (
        await client.get(
            log_path, params={"limit": 2, "before": first["next_before"]}, headers=auth(key)
        )
    ).json()
    assert len(second["deliveries"]) == 1
    assert second["next_before"] is None
    bad = await client.get(log_path, params={"limit": 0}, headers=auth(key))
    assert bad.status_code == 422
