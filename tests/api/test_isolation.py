"""Tenant isolation: every endpoint that takes a rental id answers 404 for another
account's rental, exactly as for one that does not exist, and changes nothing. The
routes are enumerated from the app, so endpoints added later are covered too."""

from __future__ import annotations

from typing import Any

import httpx
from api_support import MakeAccount, SeedNumbers, auth, deliver_sms
from fastapi import FastAPI

from smslocker.platform import Platform
from smslocker.routing.ingest import StoreSink

# Paths of another account's rental a caller may name outside the path.
BY_QUERY = [
    ("GET", "/api/messages", "session_id"),
    ("GET", "/api/v1/rentals", "before"),
]


def rental_routes(app: FastAPI) -> list[tuple[str, str]]:
    """(method, path) of every HTTP route with a ``{rental_id}`` in its path."""
    return [
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        if "{rental_id}" in path
        for method in operations
    ]


async def setup(
    client: httpx.AsyncClient,
    platform: Platform,
    sink: StoreSink,
    make_account: MakeAccount,
    seed_numbers: SeedNumbers,
) -> tuple[str, str, dict[str, Any]]:
    """Bob's rental with a message; returns (bob's key, mallory's key, bob's rental)."""
    _, bob = await make_account("bob")
    _, mallory = await make_account("mallory")
    await seed_numbers(2)
    response = await client.post("/api/v1/rentals", json={"service": "google"}, headers=auth(bob))
    rental: dict[str, Any] = response.json()
    await deliver_sms(platform, sink, rental["number"], "Your code is 123456")
    rental = (await client.get(f"/api/v1/rentals/{rental['id']}", headers=auth(bob))).json()
    return bob, mallory, rental


async def test_another_accounts_rental_is_not_found_on_every_endpoint(
    app: FastAPI,
    client: httpx.AsyncClient,
    platform: Platform,
    sink: StoreSink,
    make_account: MakeAccount,
    seed_numbers: SeedNumbers,
) -> None:
    bob, mallory, rental = await setup(client, platform, sink, make_account, seed_numbers)
    routes = rental_routes(app)
    assert len(routes) >= 6, routes  # get, extend, release, cancel, messages, code, ...
    for method, path in routes:
        url = path.replace("{rental_id}", rental["id"])
        response = await client.request(
            method,
            url,
            params={"wait": 5},
            json={} if method != "GET" else None,
            headers=auth(mallory),
        )
        assert response.status_code == 404, (method, path, response.text)
        assert response.json()["type"].endswith("/rental-not-found"), (method, path)
        # ... and the same answer as for an id that does not exist.
        missing = path.replace("{rental_id}", "rnt_01JZ3K4X8QAAAAAAAAAAAAAAAA")
        other = await client.request(
            method, missing, json={} if method != "GET" else None, headers=auth(mallory)
        )
        assert other.status_code == 404
        assert other.json()["detail"].replace("rnt_01JZ3K4X8QAAAAAAAAAAAAAAAA", "ID") == (
            response.json()["detail"].replace(rental["id"], "ID")
        )

    for method, path, parameter in BY_QUERY:
        response = await client.request(
            method, path, params={parameter: rental["id"]}, headers=auth(mallory)
        )
        assert response.status_code == 404, (method, path, response.text)

    # Nothing changed for bob.
    after = (await client.get(f"/api/v1/rentals/{rental['id']}", headers=auth(bob))).json()
    assert after == rental
    messages = await client.get(f"/api/v1/rentals/{rental['id']}/messages", headers=auth(bob))
    assert len(messages.json()["messages"]) == 1


async def test_lists_show_only_my_rentals(
    client: httpx.AsyncClient,
    platform: Platform,
    sink: StoreSink,
    make_account: MakeAccount,
    seed_numbers: SeedNumbers,
) -> None:
    _bob, mallory, rental = await setup(client, platform, sink, make_account, seed_numbers)
    response = await client.get("/api/v1/rentals", headers=auth(mallory))
    assert response.json() == {"rentals": [], "next_before": None}
    for service in ("google", None):
        params = {"service": service} if service else {}
        response = await client.get("/api/v1/rentals", params=params, headers=auth(mallory))
        assert rental["id"] not in response.text


async def test_an_admin_key_does_not_reach_another_accounts_rental(
    client: httpx.AsyncClient,
    platform: Platform,
    sink: StoreSink,
    make_account: MakeAccount,
    seed_numbers: SeedNumbers,
) -> None:
    """The renter endpoints are scoped to the caller's account for admins too (operators
    have their own endpoints)."""
    _bob, _mallory, rental = await setup(client, platform, sink, make_account, seed_numbers)
    _, root = await make_account("root", role="admin")
    response = await client.get(f"/api/v1/rentals/{rental['id']}/messages", headers=auth(root))
    assert response.status_code == 404
