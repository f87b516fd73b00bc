"""The admin figures the console charts (``/api/v1/admin/stats/...``), on SQLite and
PostgreSQL: pool counts per state / country / carrier / connector / service, traffic
per minute (received, routed, unmatched, webhook attempts), admin keys only. And the
pages themselves: served by the API process with a strict Content-Security-Policy."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import insert

from smslocker.accounts import Role, create_key
from smslocker.api.app import create_app
from smslocker.delivery.bus import InProcessBus
from smslocker.gateway.messages import InboundMessage
from smslocker.platform import Platform
from smslocker.rentals import create_account
from smslocker.routing.ingest import StoreSink
from smslocker.settings import IngestSettings, PolicySettings, Settings
from smslocker.store.models import (
    EPOCH,
    Number,
    ServiceTag,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)

T0 = datetime(2026, 12, 1, 12, 0, 30, tzinfo=UTC)


@dataclass
class Clock:
    now: datetime = T0

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Setup:
    platform: Platform
    client: httpx.AsyncClient
    admin: dict[str, str]
    user: dict[str, str]
    clock: Clock


@pytest.fixture
async def setup(database: Any, tmp_path: Path) -> AsyncIterator[Setup]:
    clock = Clock()
    settings = Settings(
        data_dir=tmp_path / "data",
        policy=PolicySettings(default_price=100),
        ingest=IngestSettings(batch_ms=0.0),
    )
    platform = Platform(settings=settings, db=database, bus=InProcessBus(), clock=clock)
    keys = {}
    for name, role in (("operator", Role.ADMIN), ("alice", Role.USER)):
        account_id = await create_account(database, name, clock(), balance=1000)
        _view, keys[name] = await create_key(database, account_id, role, clock())
    transport = httpx.ASGITransport(app=create_app(platform))
    async with httpx.AsyncClient(transport=transport, base_url="http://web.test") as client:
        yield Setup(
            platform,
            client,
            {"Authorization": f"Bearer {keys['operator']}"},
            {"Authorization": f"Bearer {keys['alice']}"},
            clock,
        )
    await platform.bus.close()


async def seed(platform: Platform, rows: list[tuple[str, str | None, str | None, str]]) -> None:
    async with platform.db.write() as connection:
        await connection.execute(
            insert(Number),
            [
                {
                    "e164": e164,
                    "country": country,
                    "carrier": carrier,
                    "line_type": "mobile",
                    "connector": "sim",
                    "tags": [],
                    "state": state,
                    "state_since": T0 - timedelta(days=1),
                    "last_used_at": EPOCH,
                    "created_at": T0 - timedelta(days=1),
                }
                for e164, country, carrier, state in rows
            ],
        )


async def webhook_attempts(platform: Platform, attempts: list[tuple[datetime, int | None]]) -> None:
    """Webhook attempts at the given times with the given HTTP status (None: no answer)."""
    async with platform.db.write() as connection:
        await connection.execute(
            insert(WebhookEndpoint),
            [
                {
                    "id": "whe_1",
                    "account_id": 2,
                    "url": "https://example.test/hook",
                    "events": [],
                    "secret": "s",
                    "created_at": T0,
                    "updated_at": T0,
                }
            ],
        )
        await connection.execute(
            insert(WebhookDelivery),
            [
                {
                    "id": "whd_1",
                    "endpoint_id": "whe_1",
                    "account_id": 2,
                    "event_type": "message.received",
                    "payload": "{}",
                    "next_attempt_at": T0,
                    "created_at": T0,
                }
            ],
        )
        await connection.execute(
            insert(WebhookAttempt),
            [
                {"delivery_id": "whd_1", "attempted_at": at, "status_code": code, "duration_ms": 5}
                for at, code in attempts
            ],
        )


async def test_pool_counts_by_state_country_carrier_and_service(setup: Setup) -> None:
    await seed(
        setup.platform,
        [
            ("+14155550101", "US", "Verizon", "FREE"),
            ("+14155550102", "US", "Verizon", "QUARANTINE"),
            ("+14155550103", "US", None, "FREE"),
            ("+447700900101", "GB", "EE", "RETIRED"),
        ],
    )
    async with setup.platform.db.write() as connection:
        await connection.execute(
            insert(ServiceTag),
            [
                {"number_id": 1, "service": "google", "uses": 2, "failures": 0, "failing": False},
                {"number_id": 2, "service": "google", "uses": 1, "failures": 3, "failing": True},
                {"number_id": 1, "service": "uber", "uses": 1, "failures": 0, "failing": False},
            ],
        )
    response = await setup.client.get("/api/v1/admin/stats/pool", headers=setup.admin)
    assert response.status_code == 200, response.text
    pool = response.json()
    assert pool["total"] == 4
    assert pool["by_state"] == [
        {"state": "FREE", "count": 2},
        {"state": "QUARANTINE", "count": 1},
        {"state": "RETIRED", "count": 1},
    ]
    assert pool["by_country"] == [{"country": "US", "count": 3}, {"country": "GB", "count": 1}]
    assert {row["carrier"]: row["count"] for row in pool["by_carrier"]} == {
        "Verizon": 2,
        "EE": 1,
        None: 1,
    }
    assert pool["by_connector"] == [{"connector": "sim", "count": 4}]
    assert pool["by_service"] == [
        {"service": "google", "numbers": 2, "failing": 1},
        {"service": "uber", "numbers": 1, "failing": 0},
    ]


async def test_traffic_per_minute(setup: Setup) -> None:
    await seed(setup.platform, [("+14155550101", "US", None, "FREE")])
    rental = await setup.client.post(
        "/api/v1/rentals", json={"number": "+14155550101"}, headers=setup.user
    )
    assert rental.status_code == 201, rental.text
    sink = StoreSink(setup.platform.db, setup.platform.settings.ingest, clock=setup.clock)

    async def receive(destination: str, minutes_ago: int) -> None:
        at = T0 - timedelta(minutes=minutes_ago)
        setup.clock.now = at
        await sink.accept(
            [
                InboundMessage(
                    connector="sim",
                    source="Google",
                    destination=destination,
                    text=f"code {minutes_ago}",
                    data_coding=0,
                    encoding="gsm7",
                    received_at=at,
                )
            ]
        )

    await receive("14155550101", 0)  # routed, this minute
    await receive("14155550199", 0)  # unmatched, this minute
    await receive("14155550198", 2)  # unmatched, two minutes ago
    await receive("14155550197", 90)  # outside a 60-minute window
    setup.clock.now = T0
    await webhook_attempts(setup.platform, [(T0, 200), (T0, 204), (T0, 500), (T0, None)])

    response = await setup.client.get(
        "/api/v1/admin/stats/traffic", params={"minutes": 60}, headers=setup.admin
    )
    assert response.status_code == 200, response.text
    traffic = response.json()
    buckets = traffic["buckets"]
    assert len(buckets) == 60
    assert buckets[-1]["at"] == "2026-12-01T12:00:00Z"
    assert traffic["until"] == "2026-12-01T12:01:00Z"
    assert buckets[-1] | {"at": None} == {
        "at": None,
        "received": 2,
        "routed": 1,
        "unmatched": 1,
        "webhook_ok": 2,
        "webhook_failed": 2,
    }
    assert buckets[-3]["unmatched"] == 1
    assert sum(bucket["received"] for bucket in buckets) == 3
    assert traffic["totals"]["received"] == 3
    assert traffic["totals"]["webhook_attempts"] == 4
    assert traffic["totals"]["webhook_success"] == 0.5
    assert traffic["connectors_last_minute"] == {"sim": 2}
    assert set(traffic["ack_latency"]) >= {"commits", "p50_ms", "p95_ms"}

    one = await setup.client.get(
        "/api/v1/admin/stats/traffic", params={"minutes": 1}, headers=setup.admin
    )
    assert one.status_code == 200, one.text
    assert [bucket["received"] for bucket in one.json()["buckets"]] == [2]


async def test_the_figures_need_an_admin_key(setup: Setup) -> None:
    for path in ("/api/v1/admin/stats/pool", "/api/v1/admin/stats/traffic"):
        assert (await setup.client.get(path, headers=setup.user)).status_code == 403
        assert (await setup.client.get(path)).status_code == 401
    bad = await setup.client.get(
        "/api/v1/admin/stats/traffic", params={"minutes": 0}, headers=setup.admin
    )
    assert bad.status_code == 422


async def test_the_pages_are_served_with_a_strict_policy(setup: Setup) -> None:
    for path, script in (("/", "/static/renter.js"), ("/console", "/static/console.js")):
        response = await setup.client.get(path)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/html")
        assert "script-src 'self'" in response.headers["content-security-policy"]
        assert script in response.text
    for path in (
        "/static/api.js",
        "/static/app.css",
        "/static/vendor/uPlot.iife.min.js",
        "/static/vendor/uPlot.LICENSE",
    ):
        assert (await setup.client.get(path)).status_code == 200, path
    assert (await setup.client.get("/static/../pages.py")).status_code == 404
