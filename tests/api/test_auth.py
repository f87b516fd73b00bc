"""Authentication and roles on every route: no key or a bad key is 401 with
``WWW-Authenticate``, a user key on an admin route is 403, a suspended account is 403.
Routes are enumerated from the app, so endpoints added later are covered too."""

from __future__ import annotations

import re

import httpx
import pytest
from api_support import MakeAccount, SeedNumbers, auth
from fastapi import FastAPI
from sqlalchemy import update

from smslocker.accounts import revoke_key
from smslocker.accounts.keys import parse_key_id
from smslocker.platform import Platform
from smslocker.store.models import Account

#: Routes that authenticate otherwise (a provider's signature, a password) or not at all
#: (``DELETE /api/v1/session`` wants a key: tests/api/test_sessions.py checks it).
PUBLIC = re.compile(r"^/(healthz|readyz|metrics|docs|openapi\.json|api/v1/ingest/|api/v1/session$)")


def routes(app: FastAPI, prefix: str = "/api") -> list[tuple[str, str]]:
    """(method, URL with dummy path parameters) of every HTTP route needing a key."""
    return [
        (method.upper(), re.sub(r"\{[^}]+\}", "x1", path))
        for path, operations in app.openapi()["paths"].items()
        if path.startswith(prefix) and not PUBLIC.match(path)
        for method in operations
    ]


async def request(
    client: httpx.AsyncClient, method: str, url: str, headers: dict[str, str]
) -> httpx.Response:
    body = {} if method in ("POST", "PUT", "PATCH") else None
    return await client.request(method, url, json=body, headers=headers)


async def test_every_route_wants_a_key(app: FastAPI, client: httpx.AsyncClient) -> None:
    found = routes(app)
    assert ("POST", "/api/v1/rentals") in found
    for method, url in found:
        response = await request(client, method, url, {})
        assert response.status_code == 401, (method, url, response.text)
        assert response.headers["www-authenticate"].startswith("Bearer"), (method, url)
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["type"].endswith("/unauthorized")


@pytest.mark.parametrize(
    "header",
    [
        "Bearer slk_aaaaaaaaaaaa_bbbbbbbb",
        "Bearer nonsense",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "slk_aaaaaaaaaaaa_bbbbbbbb",
    ],
)
async def test_a_bad_key_is_401(client: httpx.AsyncClient, header: str) -> None:
    response = await client.get("/api/v1/rentals", headers={"Authorization": header})
    assert response.status_code == 401
    assert "www-authenticate" in response.headers


async def test_a_revoked_key_stops_working(
    client: httpx.AsyncClient, platform: Platform, make_account: MakeAccount
) -> None:
    _, key = await make_account("alice")
    assert (await client.get("/api/v1/rentals", headers=auth(key))).status_code == 200
    key_id = parse_key_id(key)
    assert key_id is not None
    await revoke_key(platform.db, key_id, platform.now())
    assert (await client.get("/api/v1/rentals", headers=auth(key))).status_code == 401


async def test_the_key_as_a_query_parameter(
    client: httpx.AsyncClient, make_account: MakeAccount
) -> None:
    _, key = await make_account("alice")
    response = await client.get("/api/v1/rentals", params={"access_token": key})
    assert response.status_code == 200


async def test_a_suspended_account_is_403(
    client: httpx.AsyncClient,
    platform: Platform,
    make_account: MakeAccount,
    seed_numbers: SeedNumbers,
) -> None:
    account_id, key = await make_account("alice")
    await seed_numbers(1)
    async with platform.db.write() as connection:
        await connection.execute(
            update(Account).where(Account.id == account_id).values(status="suspended")
        )
    response = await client.post("/api/v1/rentals", json={}, headers=auth(key))
    assert response.status_code == 403
    assert response.json()["type"].endswith("/account-suspended")


async def test_a_user_key_on_admin_routes_is_403(
    app: FastAPI, client: httpx.AsyncClient, make_account: MakeAccount
) -> None:
    admin_routes = routes(app, "/api/v1/admin")
    if not admin_routes:
        pytest.skip("no admin routes yet")
    _, key = await make_account("alice")
    for method, url in admin_routes:
        response = await request(client, method, url, auth(key))
        assert response.status_code == 403, (method, url, response.text)
        assert response.json()["type"].endswith("/forbidden")


async def test_health_needs_no_key(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).status_code == 200
    assert (await client.get("/readyz")).status_code == 200
