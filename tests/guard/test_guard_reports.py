"""Renter feedback: ``POST /api/v1/rentals/{id}/report`` marks the (number, service) pair
failing, is scoped to the renter, rate-limited, and quarantines a number that several
accounts report."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from api_support import MakeAccount, SeedNumbers, auth
from guard_support import guard_settings
from sqlalchemy import select

from smslocker.guard import audit
from smslocker.platform import Platform
from smslocker.rentals import sweep
from smslocker.settings import GuardSettings
from smslocker.store.models import Number, ServiceTag


@pytest.fixture
def guard() -> GuardSettings:
    return guard_settings(reports_per_hour=2, failures_to_quarantine=2)


async def rent(client: httpx.AsyncClient, key: str, **body: Any) -> dict[str, Any]:
    response = await client.post("/api/v1/rentals", json=body, headers=auth(key))
    assert response.status_code == 201, response.text
    rental: dict[str, Any] = response.json()
    return rental


async def rest(platform: Platform, clock: Any) -> None:
    """Let released numbers go through cooldown back to FREE (the sweeper's two moves)."""
    for _ in range(2):
        clock.advance(3600)
        await sweep(platform.db, platform.now(), platform.settings.policy)


async def report(
    client: httpx.AsyncClient, key: str, rental_id: str, reason: str = "no_code"
) -> httpx.Response:
    return await client.post(
        f"/api/v1/rentals/{rental_id}/report", json={"reason": reason}, headers=auth(key)
    )


async def test_a_report_marks_the_pair_failing(
    platform: Platform,
    client: httpx.AsyncClient,
    make_account: MakeAccount,
    seed_numbers: SeedNumbers,
    clock: Any,
) -> None:
    [number] = await seed_numbers(1)
    _account, key = await make_account("alice")
    rental = await rent(client, key, service="google")
    response = await report(client, key, rental["id"], "number_rejected")
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["number"] == number
    assert body["service"] == "google"
    assert body["reason"] == "number_rejected"
    assert body["marked_failing"] is True
    assert body["quarantined"] is False
    async with platform.db.read() as connection:
        tag = (await connection.execute(select(ServiceTag.failing, ServiceTag.failures))).one()
    assert tuple(tag) == (True, 1)
    [entry] = await audit.entries(platform.db, audit.AuditFilter(action=audit.RENTAL_REPORTED))
    assert entry.target == rental["id"]
    assert entry.details["reason"] == "number_rejected"

    # Once the number is free again it is offered for other services, never for google.
    await client.post(f"/api/v1/rentals/{rental['id']}/cancel", headers=auth(key))
    await rest(platform, clock)
    response = await client.post("/api/v1/rentals", json={"service": "google"}, headers=auth(key))
    assert response.status_code == 409
    assert (await rent(client, key, service="whatsapp"))["number"] == number


async def test_reports_are_scoped_checked_and_once_per_rental(
    client: httpx.AsyncClient, make_account: MakeAccount, seed_numbers: SeedNumbers
) -> None:
    await seed_numbers(2)
    _alice, alice_key = await make_account("alice")
    _bob, bob_key = await make_account("bob")
    rental = await rent(client, alice_key, service="google")
    # Another account's rental, and one that does not exist, are the same 404.
    for key, rental_id in ((bob_key, rental["id"]), (alice_key, "rnt_nope")):
        response = await report(client, key, rental_id)
        assert response.status_code == 404
        assert response.json()["type"].endswith("/rental-not-found")
    assert (await report(client, alice_key, rental["id"], "spam")).status_code == 422
    assert (await report(client, alice_key, "bad id!")).status_code == 404
    assert (await report(client, alice_key, rental["id"], "wrong_message")).status_code == 201
    again = await report(client, alice_key, rental["id"])
    assert again.status_code == 409
    assert again.json()["type"].endswith("/already-reported")
    assert (await client.post(f"/api/v1/rentals/{rental['id']}/report", json={})).status_code == 401


async def test_reports_are_rate_limited_per_account(
    client: httpx.AsyncClient,
    make_account: MakeAccount,
    seed_numbers: SeedNumbers,
    clock: Any,
) -> None:
    await seed_numbers(4)
    _alice, key = await make_account("alice")
    rentals = [await rent(client, key, service="google") for _ in range(3)]
    assert (await report(client, key, rentals[0]["id"])).status_code == 201
    clock.advance(600)
    assert (await report(client, key, rentals[1]["id"])).status_code == 201
    response = await report(client, key, rentals[2]["id"])
    assert response.status_code == 429
    assert response.json()["limit"] == "report-rate"
    assert response.headers["retry-after"] == "3000"  # the first report leaves the hour
    clock.advance(3000)
    assert (await report(client, key, rentals[2]["id"])).status_code == 201


async def test_reports_from_several_accounts_quarantine_the_number(
    platform: Platform,
    client: httpx.AsyncClient,
    make_account: MakeAccount,
    seed_numbers: SeedNumbers,
    admin_key: str,
    clock: Any,
) -> None:
    [number] = await seed_numbers(1)
    _alice, alice_key = await make_account("alice")
    _bob, bob_key = await make_account("bob")
    first = await rent(client, alice_key, service="google")
    assert (await report(client, alice_key, first["id"])).json()["quarantined"] is False
    await client.post(f"/api/v1/rentals/{first['id']}/cancel", headers=auth(alice_key))
    # One account reporting again does not make it "several accounts".
    await rest(platform, clock)
    again = await rent(client, alice_key, service="telegram")
    assert (await report(client, alice_key, again["id"])).json()["quarantined"] is False
    await client.post(f"/api/v1/rentals/{again['id']}/cancel", headers=auth(alice_key))
    await rest(platform, clock)

    second = await rent(client, bob_key, service="whatsapp")
    assert second["number"] == number
    response = await report(client, bob_key, second["id"])
    assert response.json()["quarantined"] is True
    async with platform.db.read() as connection:
        state = await connection.scalar(select(Number.state).where(Number.e164 == number))
    assert state == "QUARANTINE"
    [alert] = (
        await client.get("/api/v1/admin/alerts?rule=reported_failing", headers=auth(admin_key))
    ).json()["alerts"]
    assert alert["action"] == "quarantine_number"
    assert alert["evidence"]["number"] == number
    assert alert["evidence"]["reporters"] == 2


async def test_a_missing_reason_is_checked_after_ownership(
    client: httpx.AsyncClient, make_account: MakeAccount, seed_numbers: SeedNumbers
) -> None:
    await seed_numbers(1)
    _alice, alice_key = await make_account("alice")
    _bob, bob_key = await make_account("bob")
    rental = await rent(client, alice_key)
    url = f"/api/v1/rentals/{rental['id']}/report"
    assert (await client.post(url, json={}, headers=auth(bob_key))).status_code == 404
    missing = await client.post(url, json={}, headers=auth(alice_key))
    assert missing.status_code == 422
    assert "reason" in missing.json()["detail"]
    # A rental without a service: reported, nothing to mark for a service.
    done = await client.post(url, json={"reason": "no_code"}, headers=auth(alice_key))
    assert done.status_code == 201
    assert done.json()["marked_failing"] is False
