"""Call limits (per IP, per key) and rental quotas by tier: 429, Retry-After, a problem
that names the limit; and what is not limited."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from api_support import MakeAccount, SeedNumbers, auth
from guard_support import guard_settings

from smslocker.settings import GuardSettings

RATE_LIMITED = "https://smslocker.dev/problems/rate-limited"


def assert_limited(response: httpx.Response, limit: str, retry_after: int) -> dict[str, Any]:
    assert response.status_code == 429, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.headers["retry-after"] == str(retry_after)
    body: dict[str, Any] = response.json()
    assert body["type"] == RATE_LIMITED
    assert body["status"] == 429
    assert body["limit"] == limit
    assert body["retry_after"] == retry_after
    return body


class TestCallLimits:
    @pytest.fixture
    def guard(self) -> GuardSettings:
        return guard_settings(ip_rate_per_s=0.5, ip_burst=3, key_rate_per_s=1.0, key_burst=2)

    async def test_per_ip_bucket_refuses_past_the_burst_then_refills(
        self, client: httpx.AsyncClient, clock: Any
    ) -> None:
        # Unauthenticated calls count too (key guessing is slowed by the IP's bucket).
        for _ in range(3):
            assert (await client.get("/api/v1/rentals")).status_code == 401
        body = assert_limited(await client.get("/api/v1/rentals"), "client-ip", 2)
        assert "address" in body["detail"]
        clock.advance(2)
        assert (await client.get("/api/v1/rentals")).status_code == 401
        assert (await client.get("/api/v1/rentals")).status_code == 429

    async def test_forwarded_for_is_ignored_unless_trusted(self, client: httpx.AsyncClient) -> None:
        for index in range(3):
            headers = {"X-Forwarded-For": f"203.0.113.{index}"}
            assert (await client.get("/api/v1/rentals", headers=headers)).status_code == 401
        response = await client.get("/api/v1/rentals", headers={"X-Forwarded-For": "198.51.100.9"})
        assert response.status_code == 429

    async def test_health_and_docs_are_not_limited(self, client: httpx.AsyncClient) -> None:
        for _ in range(6):
            assert (await client.get("/healthz")).status_code == 200
            assert (await client.get("/openapi.json")).status_code == 200


class TestKeyLimit:
    @pytest.fixture
    def guard(self) -> GuardSettings:
        return guard_settings(key_rate_per_s=1.0, key_burst=2)

    async def test_per_key_bucket_is_per_key(
        self, client: httpx.AsyncClient, make_account: MakeAccount, clock: Any
    ) -> None:
        _alice, alice_key = await make_account("alice")
        _bob, bob_key = await make_account("bob")
        for _ in range(2):
            assert (await client.get("/api/v1/rentals", headers=auth(alice_key))).status_code == 200
        body = assert_limited(
            await client.get("/api/v1/rentals", headers=auth(alice_key)), "api-key", 1
        )
        assert "API key" in body["detail"]
        assert (await client.get("/api/v1/rentals", headers=auth(bob_key))).status_code == 200
        clock.advance(1)
        assert (await client.get("/api/v1/rentals", headers=auth(alice_key))).status_code == 200


class TestTrustedProxy:
    @pytest.fixture
    def guard(self) -> GuardSettings:
        return guard_settings(ip_rate_per_s=0.5, ip_burst=1, trust_forwarded_for=True)

    async def test_each_forwarded_address_has_its_own_bucket(
        self, client: httpx.AsyncClient
    ) -> None:
        first = {"X-Forwarded-For": "203.0.113.1, 10.0.0.1"}
        second = {"X-Forwarded-For": "203.0.113.2"}
        assert (await client.get("/api/v1/rentals", headers=first)).status_code == 401
        assert_limited(await client.get("/api/v1/rentals", headers=first), "client-ip", 2)
        assert (await client.get("/api/v1/rentals", headers=second)).status_code == 401


class TestRentalQuota:
    @pytest.fixture
    def guard(self) -> GuardSettings:
        return guard_settings(rental_quota_per_hour={"unverified": 2, "verified": 4, "blocked": 0})

    async def test_quota_by_tier(
        self,
        client: httpx.AsyncClient,
        make_account: MakeAccount,
        seed_numbers: SeedNumbers,
        admin_key: str,
        clock: Any,
    ) -> None:
        await seed_numbers(8)
        account_id, key = await make_account("alice")
        for _ in range(2):
            assert (
                await client.post("/api/v1/rentals", json={}, headers=auth(key))
            ).status_code == 201
            clock.advance(60)
        # The first rental (2 minutes ago) leaves the hour in 58 minutes.
        body = assert_limited(
            await client.post("/api/v1/rentals", json={}, headers=auth(key)), "rental-quota", 3480
        )
        assert "'unverified'" in body["detail"]

        put = await client.put(
            f"/api/v1/admin/accounts/{account_id}/tier",
            json={"tier": "verified"},
            headers=auth(admin_key),
        )
        assert put.status_code == 200
        assert put.json()["tier"] == "verified"
        for _ in range(2):
            assert (
                await client.post("/api/v1/rentals", json={}, headers=auth(key))
            ).status_code == 201
        assert_limited(
            await client.post("/api/v1/rentals", json={}, headers=auth(key)), "rental-quota", 3480
        )
        # The short form goes through the same check.
        response = await client.post("/api/rent", json={}, headers=auth(key))
        assert response.status_code == 429

        clock.advance(3480)
        assert (await client.post("/api/v1/rentals", json={}, headers=auth(key))).status_code == 201

    async def test_an_unknown_tier_gets_the_unverified_quota_and_zero_means_none(
        self,
        client: httpx.AsyncClient,
        make_account: MakeAccount,
        seed_numbers: SeedNumbers,
        admin_key: str,
    ) -> None:
        await seed_numbers(4)
        account_id, key = await make_account("bob")
        await client.put(
            f"/api/v1/admin/accounts/{account_id}/tier",
            json={"tier": "mystery"},
            headers=auth(admin_key),
        )
        for _ in range(2):
            assert (
                await client.post("/api/v1/rentals", json={}, headers=auth(key))
            ).status_code == 201
        assert (await client.post("/api/v1/rentals", json={}, headers=auth(key))).status_code == 429
        await client.put(
            f"/api/v1/admin/accounts/{account_id}/tier",
            json={"tier": "blocked"},
            headers=auth(admin_key),
        )
        assert_limited(
            await client.post("/api/v1/rentals", json={}, headers=auth(key)), "rental-quota", 3600
        )
