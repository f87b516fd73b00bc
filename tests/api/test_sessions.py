"""Password sign-in: the operator sets a password, the renter trades it for a session
token that works as a user key (header, ``?access_token=``, WebSocket) until it expires
or is revoked, never as an admin key, only for its own account; wrong name and wrong
password look the same; guessing is rate-limited. Both databases."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from api_support import T0, FakeClock, MakeAccount, SeedNumbers, auth, client_for, settings_for
from push_support import serve_on_loopback, until_ready
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from smslocker.accounts import list_keys
from smslocker.accounts.passwords import hash_password, verify_password
from smslocker.api.app import create_app
from smslocker.delivery.bus import InProcessBus
from smslocker.platform import Platform
from smslocker.settings import GuardSettings, SessionSettings
from smslocker.store.models import AccountPassword

PASSWORD = "correct horse battery"
TWELVE_HOURS = 12 * 3600


async def set_password(
    client: httpx.AsyncClient, admin_key: str, account_id: int, password: str = PASSWORD
) -> httpx.Response:
    return await client.put(
        f"/api/v1/admin/accounts/{account_id}/password",
        json={"password": password},
        headers=auth(admin_key),
    )


async def sign_in(
    client: httpx.AsyncClient, account: str, password: str = PASSWORD, *, ip: str = "192.0.2.1"
) -> httpx.Response:
    return await client.post(
        "/api/v1/session",
        json={"account": account, "password": password},
        headers={"X-Forwarded-For": ip},
    )


async def session_token(client: httpx.AsyncClient, account: str) -> str:
    response = await sign_in(client, account)
    assert response.status_code == 201, response.text
    token: str = response.json()["token"]
    return token


@pytest.fixture
async def alice(client: httpx.AsyncClient, make_account: MakeAccount) -> dict[str, Any]:
    """Account alice (1000 credits) with a password, and an operator's admin key."""
    _, admin_key = await make_account("operator", role="admin")
    account_id, key = await make_account("alice", balance=1000)
    assert (await set_password(client, admin_key, account_id)).status_code == 204
    return {"id": account_id, "key": key, "admin_key": admin_key}


# --------------------------------------------------------------------------- passwords


async def test_only_an_admin_sets_a_password_and_it_is_stored_as_scrypt(
    client: httpx.AsyncClient, platform: Platform, make_account: MakeAccount
) -> None:
    _, admin_key = await make_account("operator", role="admin")
    account_id, user_key = await make_account("alice")

    refused = await set_password(client, user_key, account_id)
    assert refused.status_code == 403
    short = await set_password(client, admin_key, account_id, "eleven char")
    assert short.status_code == 422
    assert short.headers["content-type"].startswith("application/problem+json")
    assert (await set_password(client, admin_key, 999_999)).status_code == 404
    surrogate = await client.put(
        f"/api/v1/admin/accounts/{account_id}/password",
        content='{"password": "' + "\\ud800" * 12 + '"}',
        headers={**auth(admin_key), "Content-Type": "application/json"},
    )
    assert surrogate.status_code == 422, surrogate.text

    assert (await set_password(client, admin_key, account_id)).status_code == 204
    async with platform.db.read() as connection:
        stored = await connection.scalar(
            AccountPassword.__table__.select().with_only_columns(AccountPassword.password_hash)
        )
    assert stored.startswith("scrypt$n=16384,r=8,p=1$")
    assert PASSWORD not in stored
    assert verify_password(PASSWORD, stored)
    assert not verify_password(PASSWORD + "!", stored)

    path = f"/api/v1/admin/accounts/{account_id}/password"
    assert (await client.delete(path, headers=auth(user_key))).status_code == 403
    assert (await client.delete(path, headers=auth(admin_key))).status_code == 204
    assert (await client.delete(path, headers=auth(admin_key))).status_code == 404
    assert (await sign_in(client, "alice")).status_code == 401


def test_hashes_are_salted_and_malformed_ones_never_match() -> None:
    first, second = hash_password(PASSWORD), hash_password(PASSWORD)
    assert first != second  # a fresh salt each time
    assert verify_password(PASSWORD, first)
    assert verify_password(PASSWORD, second)
    # The same text typed composed or decomposed is the same password (NFKC).
    assert verify_password("caf\u00e9 au lait!!", hash_password("cafe\u0301 au lait!!"))
    for broken in ("", "scrypt$", "bcrypt$n=2,r=1,p=1$AAAA$AAAA", first.replace("n=16384", "n=3")):
        assert not verify_password(PASSWORD, broken)
    huge_n = first.replace("n=16384", "n=1073741824")
    assert not verify_password(PASSWORD, huge_n)


# --------------------------------------------------------------------------- sign in


async def test_a_session_token_works_as_a_user_key_on_rentals(
    client: httpx.AsyncClient, alice: dict[str, Any], seed_numbers: SeedNumbers
) -> None:
    await seed_numbers(2)
    response = await sign_in(client, "alice")
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["role"] == "user"
    assert body["account"] == "alice"
    assert body["expires_at"] == "2026-12-02T00:00:00Z"  # T0 + 12 h
    token = body["token"]
    assert token.startswith("slk_")

    account = await client.get("/api/v1/account", headers=auth(token))
    assert account.status_code == 200
    assert account.json() == {
        "id": alice["id"],
        "name": "alice",
        "balance": 1000,
        "tier": "unverified",
        "role": "user",
        "kind": "session",
        "expires_at": "2026-12-02T00:00:00Z",
    }
    rented = await client.post("/api/v1/rentals", json={}, headers=auth(token))
    assert rented.status_code == 201, rented.text
    listed = await client.get("/api/v1/rentals", params={"access_token": token})
    assert listed.status_code == 200
    assert [rental["id"] for rental in listed.json()["rentals"]] == [rented.json()["id"]]
    after = await client.get("/api/v1/account", headers=auth(token))
    assert after.json()["balance"] == 1000 - rented.json()["price"]
    # The same rental, seen through the account's API key: one account, two ways in.
    by_key = await client.get(f"/api/v1/rentals/{rented.json()['id']}", headers=auth(alice["key"]))
    assert by_key.status_code == 200


async def test_get_account_for_an_api_key_caller(
    client: httpx.AsyncClient, alice: dict[str, Any]
) -> None:
    answer = await client.get("/api/v1/account", headers=auth(alice["key"]))
    assert answer.status_code == 200
    assert answer.json()["kind"] == "key"
    assert answer.json()["expires_at"] is None
    admin = await client.get("/api/v1/account", headers=auth(alice["admin_key"]))
    assert admin.json()["role"] == "admin"
    assert admin.json()["name"] == "operator"
    assert (await client.get("/api/v1/account")).status_code == 401


async def test_wrong_password_and_unknown_account_get_the_same_401(
    client: httpx.AsyncClient, alice: dict[str, Any], make_account: MakeAccount
) -> None:
    await make_account("bob")  # an account with no password
    answers = [
        await sign_in(client, "alice", "not the password at all"),
        await sign_in(client, "nobody-by-this-name"),
        await sign_in(client, "bob"),
        await sign_in(client, "ALICE"),  # names are exact
    ]
    assert [answer.status_code for answer in answers] == [401, 401, 401, 401]
    assert len({answer.content for answer in answers}) == 1
    problem = answers[0].json()
    assert problem["detail"] == "the account name or the password is wrong"
    assert "token" not in problem
    assert answers[0].headers["www-authenticate"].startswith("Bearer")
    # Bad input is a 422, never a 500, and never echoes the password.
    bad = await client.post("/api/v1/session", json={"account": "alice", "password": ""})
    assert bad.status_code == 422
    extra = await client.post(
        "/api/v1/session", json={"account": "alice", "password": PASSWORD, "role": "admin"}
    )
    assert extra.status_code == 422
    assert PASSWORD not in extra.text
    for odd in (
        {"account": "al\x00ice", "password": PASSWORD},
        {"account": "\ud800", "password": PASSWORD},
        {"account": "alice", "password": "\ud800" * 12},
    ):
        answer = await client.post(
            "/api/v1/session",
            content=json.dumps(odd),
            headers={"Content-Type": "application/json"},
        )
        assert answer.status_code == 422, (odd, answer.text)


async def test_a_session_token_expires(
    client: httpx.AsyncClient, clock: FakeClock, alice: dict[str, Any]
) -> None:
    token = await session_token(client, "alice")
    clock.advance(TWELVE_HOURS - 1)
    assert (await client.get("/api/v1/account", headers=auth(token))).status_code == 200
    clock.advance(1)
    expired = await client.get("/api/v1/account", headers=auth(token))
    assert expired.status_code == 401
    assert (await client.get("/api/v1/rentals", params={"access_token": token})).status_code == 401
    # The API key of the account is not touched by any of this.
    assert (await client.get("/api/v1/account", headers=auth(alice["key"]))).status_code == 200


async def test_sign_out_revokes_only_that_session(
    client: httpx.AsyncClient, platform: Platform, alice: dict[str, Any]
) -> None:
    first = await session_token(client, "alice")
    second = await session_token(client, "alice")
    assert (await client.delete("/api/v1/session", headers=auth(first))).status_code == 204
    assert (await client.get("/api/v1/account", headers=auth(first))).status_code == 401
    assert (await client.delete("/api/v1/session", headers=auth(first))).status_code == 401
    assert (await client.get("/api/v1/account", headers=auth(second))).status_code == 200
    # Signing out with an API key is refused: it would revoke a script's key.
    assert (await client.delete("/api/v1/session")).status_code == 401
    refused = await client.delete("/api/v1/session", headers=auth(alice["key"]))
    assert refused.status_code == 409
    assert (await client.get("/api/v1/account", headers=auth(alice["key"]))).status_code == 200
    # Sessions are not listed among the account's API keys.
    assert [key.role for key in await list_keys(platform.db, alice["id"])] == ["user"]
    assert len(await list_keys(platform.db, alice["id"], kind="session")) == 2


async def test_a_new_or_removed_password_ends_the_sessions(
    client: httpx.AsyncClient, alice: dict[str, Any]
) -> None:
    token = await session_token(client, "alice")
    new = "a different passphrase"
    assert (await set_password(client, alice["admin_key"], alice["id"], new)).status_code == 204
    assert (await client.get("/api/v1/account", headers=auth(token))).status_code == 401
    assert (await sign_in(client, "alice")).status_code == 401
    again = await sign_in(client, "alice", new)
    assert again.status_code == 201
    token = again.json()["token"]
    path = f"/api/v1/admin/accounts/{alice['id']}/password"
    assert (await client.delete(path, headers=auth(alice["admin_key"]))).status_code == 204
    assert (await client.get("/api/v1/account", headers=auth(token))).status_code == 401


async def test_a_session_never_grants_admin(
    client: httpx.AsyncClient, make_account: MakeAccount
) -> None:
    # The operator's own account has an admin key and a password: the session is a user.
    operator_id, admin_key = await make_account("operator", role="admin")
    assert (await set_password(client, admin_key, operator_id)).status_code == 204
    answer = await sign_in(client, "operator")
    assert answer.json()["role"] == "user"
    token = answer.json()["token"]
    assert (await client.get("/api/v1/admin/accounts", headers=auth(token))).status_code == 403
    refused = await set_password(client, token, operator_id, "taking over the world")
    assert refused.status_code == 403
    assert (await client.get("/api/v1/account", headers=auth(token))).json()["role"] == "user"


async def test_a_session_sees_only_its_own_account(
    client: httpx.AsyncClient,
    alice: dict[str, Any],
    make_account: MakeAccount,
    seed_numbers: SeedNumbers,
) -> None:
    await seed_numbers(2)
    bob_id, _bob_key = await make_account("bob", balance=500)
    assert (await set_password(client, alice["admin_key"], bob_id)).status_code == 204
    alice_token = await session_token(client, "alice")
    bob_token = await session_token(client, "bob")
    rental = (await client.post("/api/v1/rentals", json={}, headers=auth(alice_token))).json()

    seen = await client.get(f"/api/v1/rentals/{rental['id']}", headers=auth(bob_token))
    assert seen.status_code == 404
    listed = await client.get("/api/v1/rentals", headers=auth(bob_token))
    assert listed.json()["rentals"] == []
    released = await client.post(f"/api/v1/rentals/{rental['id']}/release", headers=auth(bob_token))
    assert released.status_code == 404
    account = await client.get("/api/v1/account", headers=auth(bob_token))
    assert (account.json()["name"], account.json()["balance"]) == ("bob", 500)


async def test_a_suspended_account_gets_no_session(
    client: httpx.AsyncClient, alice: dict[str, Any]
) -> None:
    token = await session_token(client, "alice")
    patched = await client.patch(
        f"/api/v1/admin/accounts/{alice['id']}",
        json={"status": "suspended"},
        headers=auth(alice["admin_key"]),
    )
    assert patched.status_code == 200
    assert (await client.get("/api/v1/account", headers=auth(token))).status_code == 403
    assert (await sign_in(client, "alice")).status_code == 403
    assert (await sign_in(client, "alice", "a wrong password!")).status_code == 401


async def test_a_session_token_opens_the_websocket(
    app: Any, client: httpx.AsyncClient, alice: dict[str, Any], seed_numbers: SeedNumbers
) -> None:
    await seed_numbers(1)
    token = await session_token(client, "alice")
    rental = (await client.post("/api/v1/rentals", json={}, headers=auth(token))).json()
    async with serve_on_loopback(app) as host:
        url = f"ws://{host}/api/v1/rentals/{rental['id']}/ws?access_token={token}"
        async with connect(url) as websocket:
            assert await until_ready(websocket) == []
        assert (await client.delete("/api/v1/session", headers=auth(token))).status_code == 204
        async with connect(url) as websocket:
            with pytest.raises(ConnectionClosed) as closed:
                await until_ready(websocket)
            assert closed.value.rcvd is not None
            assert closed.value.rcvd.code == 4401


# --------------------------------------------------------------------------- guessing


@pytest.fixture
async def limited(database: Any, clock: FakeClock, tmp_path: Path) -> AsyncIterator[Any]:
    """An app whose sign-in allows 3 attempts at once, then one a minute."""
    settings = settings_for(
        tmp_path,
        sessions=SessionSettings(attempts_burst=3, attempts_per_minute=1),
        # The client IP from X-Forwarded-For, so a test can call from several IPs.
        guard=GuardSettings(limits_enabled=False, rules_enabled=False, trust_forwarded_for=True),
    )
    platform = Platform(settings=settings, db=database, bus=InProcessBus(), clock=clock)
    async with client_for(create_app(platform)) as client:
        yield platform, client
    await platform.bus.close()


async def test_guessing_one_account_is_rate_limited(limited: Any, clock: FakeClock) -> None:
    from api_support import make_account

    platform, client = limited
    _, admin_key = await make_account(platform, "operator", role="admin")
    account_id, _ = await make_account(platform, "alice")
    assert (await set_password(client, admin_key, account_id)).status_code == 204

    # From a new IP each time: the account's own bucket is what stops them.
    answers = [
        await sign_in(client, "alice", f"guess number {n}", ip=f"198.51.100.{n}") for n in range(3)
    ]
    assert [answer.status_code for answer in answers] == [401, 401, 401]
    # Over the limit, even the right password waits: the guesser learns nothing.
    limited_answer = await sign_in(client, "alice", ip="198.51.100.99")
    assert limited_answer.status_code == 429
    assert limited_answer.json()["limit"] == "sign-in"
    assert int(limited_answer.headers["retry-after"]) >= 1
    # Another account from the same IPs is not affected.
    assert (await sign_in(client, "bob", ip="198.51.100.99")).status_code == 401
    clock.advance(60)
    assert (await sign_in(client, "alice", ip="198.51.100.99")).status_code == 201
    assert clock.now == T0 + timedelta(seconds=60)


async def test_guessing_many_names_from_one_ip_is_rate_limited(limited: Any) -> None:
    _platform, client = limited
    answers = [await sign_in(client, f"name-{n}") for n in range(4)]
    assert [answer.status_code for answer in answers] == [401, 401, 401, 429]
    # Another IP still gets through.
    assert (await sign_in(client, "name-9", ip="203.0.113.7")).status_code == 401
