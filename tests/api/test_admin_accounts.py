"""Admin API: accounts, credits and ledger, API keys, prices and unmatched messages."""

from __future__ import annotations

import httpx
import pytest
from api_support import MakeAccount, SeedNumbers, auth, deliver_sms

from smslocker.platform import Platform
from smslocker.routing.ingest import StoreSink

ACCOUNTS = "/api/v1/admin/accounts"


async def admin(make_account: MakeAccount) -> dict[str, str]:
    _account_id, key = await make_account("root", 0, "admin")
    return auth(key)


async def test_accounts_are_created_listed_and_shown(
    client: httpx.AsyncClient, make_account: MakeAccount
) -> None:
    headers = await admin(make_account)
    created = await client.post(
        ACCOUNTS, json={"name": "acme", "balance": 500, "tier": "business"}, headers=headers
    )
    assert created.status_code == 201, created.text
    account = created.json()
    assert (account["name"], account["balance"], account["tier"], account["status"]) == (
        "acme",
        500,
        "business",
        "active",
    )
    duplicate = await client.post(ACCOUNTS, json={"name": "acme"}, headers=headers)
    assert duplicate.status_code == 409
    assert duplicate.json()["type"].endswith("/account-exists")

    for name in ("b", "c"):
        await client.post(ACCOUNTS, json={"name": name}, headers=headers)
    page = (await client.get(f"{ACCOUNTS}?limit=2", headers=headers)).json()
    assert [a["name"] for a in page["accounts"]] == ["root", "acme"]
    rest = (await client.get(f"{ACCOUNTS}?after={page['next_after']}", headers=headers)).json()
    assert [a["name"] for a in rest["accounts"]] == ["b", "c"]
    assert rest["next_after"] is None

    shown = (await client.get(f"{ACCOUNTS}/{account['id']}", headers=headers)).json()
    assert [(row["amount"], row["reason"], row["balance_after"]) for row in shown["ledger"]] == [
        (500, "top_up", 500)
    ]
    assert shown["keys"] == []
    assert (await client.get(f"{ACCOUNTS}/999", headers=headers)).status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"name": ""},
        {"name": "x" * 101},
        {"name": "nul\u0000byte"},
        {"name": "ok", "balance": -1},
        {"name": "ok", "balance": 2**70},
        {"name": "ok", "tier": "t" * 21},
        {"name": "ok", "role": "admin"},
    ],
)
async def test_bad_accounts_are_422(
    client: httpx.AsyncClient, make_account: MakeAccount, body: dict[str, object]
) -> None:
    headers = await admin(make_account)
    response = await client.post(ACCOUNTS, json=body, headers=headers)
    assert response.status_code == 422, response.text


async def test_credits_move_with_a_ledger_row_each(
    client: httpx.AsyncClient, make_account: MakeAccount
) -> None:
    headers = await admin(make_account)
    account_id, _key = await make_account("alice", 100)
    topped = await client.post(
        f"{ACCOUNTS}/{account_id}/top-up", json={"amount": 50}, headers=headers
    )
    assert topped.status_code == 200
    assert topped.json()["balance"] == 150
    assert topped.json()["entry"]["reason"] == "top_up"
    taken = await client.post(
        f"{ACCOUNTS}/{account_id}/adjust", json={"amount": -30}, headers=headers
    )
    assert (taken.json()["balance"], taken.json()["entry"]["amount"]) == (120, -30)
    too_much = await client.post(
        f"{ACCOUNTS}/{account_id}/adjust", json={"amount": -121}, headers=headers
    )
    assert too_much.status_code == 402
    for path, amount in (("top-up", 0), ("top-up", -5), ("adjust", 0)):
        response = await client.post(
            f"{ACCOUNTS}/{account_id}/{path}", json={"amount": amount}, headers=headers
        )
        assert response.status_code == 422, (path, amount)
    missing = await client.post(f"{ACCOUNTS}/999/top-up", json={"amount": 5}, headers=headers)
    assert missing.status_code == 404
    ledger = (await client.get(f"{ACCOUNTS}/{account_id}/ledger", headers=headers)).json()
    assert ledger["balance"] == 120
    assert [row["amount"] for row in ledger["ledger"]] == [-30, 50, 100]
    assert sum(row["amount"] for row in ledger["ledger"]) == ledger["balance"]


async def test_tier_and_status_are_set_and_a_suspended_key_stops_working(
    client: httpx.AsyncClient, make_account: MakeAccount
) -> None:
    headers = await admin(make_account)
    account_id, key = await make_account("alice")
    assert (await client.get("/api/v1/rentals", headers=auth(key))).status_code == 200
    patched = await client.patch(
        f"{ACCOUNTS}/{account_id}",
        json={"tier": "verified", "status": "suspended"},
        headers=headers,
    )
    assert (patched.json()["tier"], patched.json()["status"]) == ("verified", "suspended")
    refused = await client.get("/api/v1/rentals", headers=auth(key))
    assert refused.status_code == 403
    await client.patch(f"{ACCOUNTS}/{account_id}", json={"status": "active"}, headers=headers)
    assert (await client.get("/api/v1/rentals", headers=auth(key))).status_code == 200
    suspended = (await client.get(f"{ACCOUNTS}?status=active", headers=headers)).json()
    assert {a["name"] for a in suspended["accounts"]} == {"root", "alice"}
    bad = await client.patch(f"{ACCOUNTS}/{account_id}", json={"status": "gone"}, headers=headers)
    assert bad.status_code == 422
    missing = await client.patch(f"{ACCOUNTS}/999", json={"tier": "x"}, headers=headers)
    assert missing.status_code == 404


async def test_a_key_is_shown_once_works_and_is_revoked(
    client: httpx.AsyncClient, make_account: MakeAccount
) -> None:
    headers = await admin(make_account)
    account_id, _key = await make_account("alice")
    created = await client.post(
        f"{ACCOUNTS}/{account_id}/keys", json={"label": "ci"}, headers=headers
    )
    assert created.status_code == 201
    body = created.json()
    assert (body["role"], body["label"], body["account_id"]) == ("user", "ci", account_id)
    key = body["key"]
    assert (await client.get("/api/v1/rentals", headers=auth(key))).status_code == 200
    assert (await client.get("/api/v1/admin/prices", headers=auth(key))).status_code == 403

    listed = (await client.get(f"{ACCOUNTS}/{account_id}/keys", headers=headers)).json()["keys"]
    assert body["id"] in [k["id"] for k in listed]
    assert all("key" not in k for k in listed)

    revoked = await client.delete(f"/api/v1/admin/keys/{body['id']}", headers=headers)
    assert revoked.status_code == 204
    assert (await client.get("/api/v1/rentals", headers=auth(key))).status_code == 401
    again = await client.delete(f"/api/v1/admin/keys/{body['id']}", headers=headers)
    assert again.status_code == 404
    assert again.json()["type"].endswith("/key-not-found")

    admin_key = await client.post(
        f"{ACCOUNTS}/{account_id}/keys", json={"role": "admin"}, headers=headers
    )
    assert (
        await client.get("/api/v1/admin/prices", headers=auth(admin_key.json()["key"]))
    ).status_code == 200
    no_account = await client.post(f"{ACCOUNTS}/999/keys", json={}, headers=headers)
    assert no_account.status_code == 404
    bad_role = await client.post(
        f"{ACCOUNTS}/{account_id}/keys", json={"role": "root"}, headers=headers
    )
    assert bad_role.status_code == 422


async def test_prices_are_set_listed_and_removed(
    client: httpx.AsyncClient, platform: Platform, make_account: MakeAccount
) -> None:
    headers = await admin(make_account)
    listed = (await client.get("/api/v1/admin/prices", headers=headers)).json()
    assert listed == {"prices": [], "default_price": platform.settings.policy.default_price}
    put = await client.put(
        "/api/v1/admin/prices",
        json={"service": "google", "country": "us", "price": 40},
        headers=headers,
    )
    assert put.json() == {"service": "google", "country": "US", "price": 40}
    await client.put("/api/v1/admin/prices", json={"price": 80}, headers=headers)
    await client.put("/api/v1/admin/prices", json={"price": 90}, headers=headers)
    listed = (await client.get("/api/v1/admin/prices", headers=headers)).json()["prices"]
    assert listed == [
        {"service": "google", "country": "US", "price": 40},
        {"service": None, "country": None, "price": 90},
    ]
    removed = await client.delete("/api/v1/admin/prices?service=google&country=US", headers=headers)
    assert removed.status_code == 204
    gone = await client.delete("/api/v1/admin/prices?service=google&country=US", headers=headers)
    assert gone.status_code == 404
    for bad in ({"price": -1}, {"price": 1, "country": "USA"}, {"price": 1, "service": "a b"}):
        assert (
            await client.put("/api/v1/admin/prices", json=bad, headers=headers)
        ).status_code == 422


async def test_unmatched_messages_are_paged_for_review(
    client: httpx.AsyncClient,
    platform: Platform,
    make_account: MakeAccount,
    seed_numbers: SeedNumbers,
    sink: StoreSink,
) -> None:
    headers = await admin(make_account)
    (number,) = await seed_numbers(1)
    for text in ("one 111111", "two", "three"):
        await deliver_sms(platform, sink, number, text, publish=False)
    first = (await client.get("/api/v1/admin/messages/unmatched?limit=2", headers=headers)).json()
    assert [m["text"] for m in first["messages"]] == ["one 111111", "two"]
    message = first["messages"][0]
    assert (message["rental_id"], message["destination"], message["connector"]) == (
        None,
        number,
        "sim",
    )
    assert message["codes"][0]["value"] == "111111"
    rest = await client.get(
        f"/api/v1/admin/messages/unmatched?after={first['next_after']}", headers=headers
    )
    assert [m["text"] for m in rest.json()["messages"]] == ["three"]
    empty = await client.get(
        f"/api/v1/admin/messages/unmatched?after={rest.json()['next_after']}", headers=headers
    )
    assert empty.json() == {"messages": [], "next_after": rest.json()["next_after"]}
