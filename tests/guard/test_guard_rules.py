"""Abuse rules and their escalating actions: slow down -> require verification ->
suspend, each with an alert (and its evidence), an audit entry, and the operator's way
back (verify, unsuspend)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from api_support import MakeAccount, SeedNumbers, auth
from fastapi import FastAPI
from guard_support import guard_settings
from sqlalchemy import insert, select

from smslocker.guard import audit
from smslocker.guard.alerts import ALERT_RAISED
from smslocker.platform import Platform
from smslocker.settings import GuardSettings, RuleSettings
from smslocker.store.models import WebhookDelivery, WebhookEndpoint


async def rent(client: httpx.AsyncClient, key: str, **body: Any) -> httpx.Response:
    return await client.post("/api/v1/rentals", json=body, headers=auth(key))


async def alerts(client: httpx.AsyncClient, admin_key: str, **params: Any) -> list[dict[str, Any]]:
    response = await client.get("/api/v1/admin/alerts", params=params, headers=auth(admin_key))
    assert response.status_code == 200
    found: list[dict[str, Any]] = response.json()["alerts"]
    return found


async def standing(client: httpx.AsyncClient, admin_key: str, account_id: int) -> dict[str, Any]:
    response = await client.get(
        f"/api/v1/admin/accounts/{account_id}/standing", headers=auth(admin_key)
    )
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


class TestEscalation:
    @pytest.fixture
    def guard(self) -> GuardSettings:
        return guard_settings(
            rent_burst=RuleSettings(count=3, window_s=300),
            action_cooldown_s=60,
            slow_down_interval_s=30,
            slow_down_s=3600,
            rental_quota_per_hour={"unverified": 100, "verified": 100},
        )

    async def test_the_ladder(
        self,
        platform: Platform,
        client: httpx.AsyncClient,
        make_account: MakeAccount,
        seed_numbers: SeedNumbers,
        admin_key: str,
        clock: Any,
    ) -> None:
        await seed_numbers(10)
        account_id, key = await make_account("scripted")
        await client.put(
            f"/api/v1/admin/accounts/{account_id}/tier",
            json={"tier": "verified"},
            headers=auth(admin_key),
        )
        for _ in range(2):
            assert (await rent(client, key)).status_code == 201
        assert await alerts(client, admin_key) == []

        # Step 1: the third rental within 5 minutes slows the account down.
        assert (await rent(client, key)).status_code == 201
        [first] = await alerts(client, admin_key)
        assert first["rule"] == "rent_burst"
        assert first["action"] == "slow_down"
        assert first["account_id"] == account_id
        assert first["ip"] == "127.0.0.1"
        assert first["evidence"]["rentals"] == 3
        assert first["evidence"]["by"] == "account"
        now = await standing(client, admin_key, account_id)
        assert now["level"] == 1
        assert now["slow_until"] is not None
        # Slowed down: one rental per 30 s (the first one passes, the next waits).
        assert (await rent(client, key)).status_code == 201
        response = await rent(client, key)
        assert response.status_code == 429
        assert response.json()["limit"] == "slow-down"
        assert response.headers["retry-after"] == "30"
        # Within the cooldown the rule does not act again.
        assert len(await alerts(client, admin_key)) == 1

        # Step 2: still bursting after the cooldown: verification required, tier drops.
        clock.advance(61)
        assert (await rent(client, key)).status_code == 201
        second = (await alerts(client, admin_key))[0]
        assert second["action"] == "require_verification"
        assert second["evidence"]["previous"]["tier"] == "verified"
        now = await standing(client, admin_key, account_id)
        assert (now["level"], now["tier"], now["verification_required"]) == (2, "unverified", True)

        # Step 3: and again: suspended; the account's key now gets 403.
        clock.advance(61)
        assert (await rent(client, key)).status_code == 201
        third = (await alerts(client, admin_key))[0]
        assert third["action"] == "suspend"
        response = await client.get("/api/v1/rentals", headers=auth(key))
        assert response.status_code == 403
        assert response.json()["type"].endswith("/account-suspended")

        # Every step is in the audit trail, by the guard.
        steps = await audit.entries(platform.db, audit.AuditFilter(action=audit.RULE_ACTION))
        assert [entry.details["action"] for entry in steps] == [
            "slow_down",
            "require_verification",
            "suspend",
        ]
        assert {entry.actor for entry in steps} == {"guard"}

        # The operator's way back: unsuspend, then verify.
        unsuspended = await client.post(
            f"/api/v1/admin/accounts/{account_id}/unsuspend", headers=auth(admin_key)
        )
        assert unsuspended.json()["status"] == "active"
        verified = await client.post(
            f"/api/v1/admin/accounts/{account_id}/verify", json={}, headers=auth(admin_key)
        )
        assert verified.json()["tier"] == "verified"
        assert verified.json()["verification_required"] is False
        assert (await client.get("/api/v1/rentals", headers=auth(key))).status_code == 200
        changes = await audit.entries(
            platform.db, audit.AuditFilter(action=audit.ACCOUNT_STATUS_CHANGED)
        )
        assert [(e.details["from"], e.details["to"]) for e in changes] == [("suspended", "active")]
        admin_actor = f"key:{admin_key.split('_')[1]}"
        assert {e.actor for e in changes} == {admin_actor}

    async def test_a_step_long_after_the_last_starts_the_ladder_again(
        self,
        client: httpx.AsyncClient,
        make_account: MakeAccount,
        seed_numbers: SeedNumbers,
        admin_key: str,
        clock: Any,
    ) -> None:
        await seed_numbers(10)
        account_id, key = await make_account("bursty")
        for _ in range(3):
            await rent(client, key)
        clock.advance(86_400 + 1)
        for _ in range(3):
            assert (await rent(client, key)).status_code == 201
            clock.advance(31)
        actions = [alert["action"] for alert in await alerts(client, admin_key)]
        assert actions == ["slow_down", "slow_down"]
        assert (await standing(client, admin_key, account_id))["level"] == 1


class TestAccountsPerIp:
    @pytest.fixture
    def guard(self) -> GuardSettings:
        return guard_settings(accounts_per_ip=RuleSettings(count=2, window_s=3600))

    async def test_many_accounts_from_one_ip(
        self,
        client: httpx.AsyncClient,
        make_account: MakeAccount,
        seed_numbers: SeedNumbers,
        admin_key: str,
    ) -> None:
        await seed_numbers(4)
        _first, first_key = await make_account("first")
        second_id, second_key = await make_account("second")
        assert (await rent(client, first_key)).status_code == 201
        assert (await rent(client, first_key)).status_code == 201  # same account: no rule
        assert await alerts(client, admin_key) == []
        assert (await rent(client, second_key)).status_code == 201
        [alert] = await alerts(client, admin_key, rule="accounts_per_ip")
        assert alert["account_id"] == second_id
        assert alert["evidence"]["accounts"] == 2
        assert alert["ip"] == "127.0.0.1"
        assert await alerts(client, admin_key, account_id=second_id + 1000) == []

    async def test_accounts_that_only_browse_count_too(
        self,
        client: httpx.AsyncClient,
        make_account: MakeAccount,
        admin_key: str,
    ) -> None:
        """A farm of accounts behind one address is seen before it rents: any call of a
        user's key counts its account; operators' calls do not."""
        first_id, first_key = await make_account("first")
        second_id, second_key = await make_account("second")
        for _ in range(3):
            assert (await client.get("/api/v1/numbers", headers=auth(admin_key))).status_code == 200
            assert (await client.get("/api/v1/rentals", headers=auth(first_key))).status_code == 200
        assert await alerts(client, admin_key) == []  # one user account and the admin
        assert (await client.get("/api/v1/numbers", headers=auth(second_key))).status_code == 200
        [alert] = await alerts(client, admin_key, rule="accounts_per_ip")
        assert (alert["account_id"], alert["evidence"]["accounts"]) == (second_id, 2)
        assert first_id != second_id

    async def test_a_busy_client_is_counted_once_a_minute(
        self, app: FastAPI, client: httpx.AsyncClient, make_account: MakeAccount, clock: Any
    ) -> None:
        _, key = await make_account("busy")
        state = app.state.guard
        hits: list[str] = []
        hit = state.counters.hit

        async def counting(key: str, window_s: float, now: float, member: str) -> int:
            hits.append(key)
            return await hit(key, window_s, now, member)

        state.counters.hit = counting  # type: ignore[method-assign]
        for _ in range(5):
            await client.get("/api/v1/rentals", headers=auth(key))
        assert hits == ["accounts:127.0.0.1"]
        clock.advance(61)
        await client.get("/api/v1/rentals", headers=auth(key))
        assert hits == ["accounts:127.0.0.1"] * 2


class TestRentBurstByIp:
    @pytest.fixture
    def guard(self) -> GuardSettings:
        return guard_settings(rent_burst=RuleSettings(count=3, window_s=300))

    async def test_one_ip_renting_many_across_accounts(
        self,
        client: httpx.AsyncClient,
        make_account: MakeAccount,
        seed_numbers: SeedNumbers,
        admin_key: str,
    ) -> None:
        await seed_numbers(4)
        _first, first_key = await make_account("first")
        second_id, second_key = await make_account("second")
        await rent(client, first_key)
        await rent(client, first_key)
        await rent(client, second_key)
        [alert] = await alerts(client, admin_key)
        assert (alert["rule"], alert["account_id"]) == ("rent_burst", second_id)
        assert alert["evidence"]["by"] == "ip"
        assert alert["evidence"]["rentals"] == 3


class TestEmptyEndings:
    @pytest.fixture
    def guard(self) -> GuardSettings:
        return guard_settings(empty_endings=RuleSettings(count=2, window_s=3600))

    async def test_rentals_dropped_without_an_sms(
        self,
        platform: Platform,
        client: httpx.AsyncClient,
        make_account: MakeAccount,
        seed_numbers: SeedNumbers,
        admin_key: str,
    ) -> None:
        await seed_numbers(3)
        account_id, key = await make_account("dropper")
        admin_id = (await client.get("/api/v1/admin/accounts", headers=auth(admin_key))).json()[
            "accounts"
        ][0]["id"]
        # An operator's endpoint subscribed to alert.raised gets the alert as a webhook.
        async with platform.db.write() as connection:
            await connection.execute(
                insert(WebhookEndpoint).values(
                    id="whe_operator",
                    account_id=admin_id,
                    url="https://ops.example/hook",
                    events=[ALERT_RAISED],
                    secret="s" * 32,
                    enabled=True,
                    created_at=platform.now(),
                    updated_at=platform.now(),
                )
            )
        first = (await rent(client, key)).json()
        await client.post(f"/api/v1/rentals/{first['id']}/cancel", headers=auth(key))
        assert await alerts(client, admin_key) == []
        second = (await rent(client, key)).json()
        await client.post(f"/api/v1/rentals/{second['id']}/release", headers=auth(key))
        [alert] = await alerts(client, admin_key)
        assert (alert["rule"], alert["action"]) == ("empty_endings", "slow_down")
        assert alert["account_id"] == account_id
        assert alert["evidence"]["empty_endings"] == 2
        async with platform.db.read() as connection:
            rows = (
                await connection.execute(
                    select(WebhookDelivery.endpoint_id, WebhookDelivery.payload).where(
                        WebhookDelivery.event_type == ALERT_RAISED
                    )
                )
            ).all()
        [(endpoint_id, payload)] = rows
        assert endpoint_id == "whe_operator"
        assert '"empty_endings"' in payload


class TestRulesOff:
    @pytest.fixture
    def guard(self) -> GuardSettings:
        return guard_settings(rules_enabled=False, rent_burst=RuleSettings(count=1, window_s=300))

    async def test_nothing_fires(
        self,
        client: httpx.AsyncClient,
        make_account: MakeAccount,
        seed_numbers: SeedNumbers,
        admin_key: str,
    ) -> None:
        await seed_numbers(2)
        _account, key = await make_account("calm")
        assert (await rent(client, key)).status_code == 201
        assert await alerts(client, admin_key) == []


async def test_admin_standing_routes_are_admin_only_and_checked(
    client: httpx.AsyncClient, make_account: MakeAccount, admin_key: str
) -> None:
    account_id, key = await make_account("user")
    for method, path in (
        ("POST", f"/api/v1/admin/accounts/{account_id}/verify"),
        ("POST", f"/api/v1/admin/accounts/{account_id}/suspend"),
        ("POST", f"/api/v1/admin/accounts/{account_id}/unsuspend"),
        ("GET", f"/api/v1/admin/accounts/{account_id}/standing"),
    ):
        assert (await client.request(method, path, headers=auth(key))).status_code == 403
    missing = await client.post("/api/v1/admin/accounts/999999/suspend", headers=auth(admin_key))
    assert missing.status_code == 404
    bad = await client.put(
        f"/api/v1/admin/accounts/{account_id}/tier", json={"tier": ""}, headers=auth(admin_key)
    )
    assert bad.status_code == 422
    suspended = await client.post(
        f"/api/v1/admin/accounts/{account_id}/suspend", headers=auth(admin_key)
    )
    assert suspended.json()["status"] == "suspended"
    assert (await client.get("/api/v1/rentals", headers=auth(key))).status_code == 403
