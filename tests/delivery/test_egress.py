"""Webhooks reach public addresses only (server-side request forgery guard)."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from starlette.responses import Response
from webhook_receiver import serve_on_loopback

from smslocker.delivery import endpoints, outbox
from smslocker.delivery.egress import (
    PrivateAddressRefused,
    PublicOnlyBackend,
    is_public,
    webhook_client,
)
from smslocker.delivery.events import enqueue_webhooks, rental_event
from smslocker.delivery.worker import WebhookWorker
from smslocker.rentals import create_account
from smslocker.store import Database

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("2606:4700:4700::1111", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.9", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),  # cloud metadata
        ("100.64.0.1", False),  # carrier-grade NAT
        ("0.0.0.0", False),
        ("224.0.0.1", False),
        ("::1", False),
        ("fe80::1%eth0", False),
        ("fd00::1", False),
        ("::ffff:127.0.0.1", False),  # IPv4-mapped loopback
        ("::ffff:8.8.8.8", True),
    ],
)
def test_is_public(address: str, public: bool) -> None:
    assert is_public(address) is public


async def _ok(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] == "http":
        hits.append(scope["path"])
        await Response(status_code=204)(scope, receive, send)


hits: list[str] = []


async def test_the_client_refuses_loopback_and_allows_it_when_told() -> None:
    async with serve_on_loopback(_ok) as url:
        async with webhook_client(timeout=2) as client:
            with pytest.raises(httpx.ConnectError, match="not a public address"):
                await client.post(url + "/refused", content=b"{}")
        async with webhook_client(timeout=2, allow_private=True) as client:
            assert (await client.post(url + "/allowed", content=b"{}")).status_code == 204
    assert "/refused" not in hits
    assert "/allowed" in hits


async def test_a_name_resolving_to_a_private_address_is_refused() -> None:
    with pytest.raises(PrivateAddressRefused, match="localhost resolves to"):
        await PublicOnlyBackend().connect_tcp("localhost", 9, timeout=2)


async def test_the_worker_logs_a_refused_private_target_as_a_failed_attempt(
    database: Database,
) -> None:
    account = await create_account(database, "alice", T0)
    async with serve_on_loopback(_ok) as url:
        endpoint, _secret = await endpoints.create_endpoint(
            database, account, url + "/worker", ["rental.created"], T0
        )
        event: Any = rental_event("rental.created", account, {"id": "rnt_1"})
        await database.run_write(lambda c: enqueue_webhooks(c, [event], T0))
        worker = WebhookWorker(database, lambda: T0, rng=random.Random(1), timeout=2)
        try:
            assert await worker.run_once() == 1
        finally:
            await worker.aclose()
    assert "/worker" not in hits
    [delivery], _ = await outbox.list_deliveries(database, account, endpoint.id)
    assert delivery.status == outbox.PENDING  # retried later, like any failed attempt
    assert "not a public address" in (delivery.attempt_log[0].error or "")
