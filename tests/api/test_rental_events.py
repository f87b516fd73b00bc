"""``rental.*`` events: webhook rows in the rental's own transaction, push after commit."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from api_support import T0, FakeClock, MakeAccount, SeedNumbers, auth
from sqlalchemy import Connection, func, select

from smslocker import rentals
from smslocker.delivery import endpoints
from smslocker.delivery.rental_events import RentalEvents
from smslocker.platform import Platform
from smslocker.rentals import RentRequest, sweep
from smslocker.rentals.changes import RentalChange
from smslocker.rentals.views import RentalView
from smslocker.store.models import Rental, WebhookDelivery


async def _outbox(platform: Platform) -> list[tuple[str, str]]:
    async with platform.db.read() as connection:
        rows = await connection.execute(
            select(WebhookDelivery.event_type, WebhookDelivery.payload).order_by(
                WebhookDelivery.created_at, WebhookDelivery.id
            )
        )
        return [(row.event_type, str(row.payload)) for row in rows]


async def test_every_rental_change_enqueues_its_webhook(
    client: httpx.AsyncClient,
    platform: Platform,
    make_account: MakeAccount,
    seed_numbers: SeedNumbers,
) -> None:
    account_id, key = await make_account("alice")
    await seed_numbers(2)
    await endpoints.create_endpoint(
        platform.db,
        account_id,
        "https://hooks.example/x",
        ["rental." + c for c in RentalChange],
        T0,
    )
    first = (await client.post("/api/v1/rentals", json={}, headers=auth(key))).json()
    await client.post(f"/api/v1/rentals/{first['id']}/extend", headers=auth(key))
    await client.post(f"/api/v1/rentals/{first['id']}/release", headers=auth(key))
    second = (await client.post("/api/v1/rentals", json={}, headers=auth(key))).json()
    await client.post(f"/api/v1/rentals/{second['id']}/cancel", headers=auth(key))
    types = [event_type for event_type, _ in await _outbox(platform)]
    assert types == [
        "rental.created",
        "rental.extended",
        "rental.released",
        "rental.created",
        "rental.cancelled",
    ]


async def test_the_sweeper_enqueues_and_publishes_rental_expired(
    platform: Platform, clock: FakeClock, make_account: MakeAccount, seed_numbers: SeedNumbers
) -> None:
    account_id, _key = await make_account("alice")
    await seed_numbers(1)
    await endpoints.create_endpoint(
        platform.db, account_id, "https://hooks.example/x", ["rental.expired"], T0
    )
    policy = platform.settings.policy
    rental = await rentals.rent(platform.db, account_id, RentRequest(), T0, policy)
    observer = RentalEvents(platform.clock, platform.bus)
    async with platform.bus.subscribe(f"rental:{rental.id}") as stream:
        clock.now = rental.expires_at
        counts = await sweep(platform.db, clock.now, policy, observer=observer)
        async with asyncio.timeout(5):
            _channel, event = await anext(stream)
    assert counts.expired == 1
    assert event["type"] == "rental.expired"
    assert event["rental"]["status"] == "expired"
    [(event_type, payload)] = await _outbox(platform)
    assert event_type == "rental.expired"
    assert rental.id in payload


async def test_a_change_that_rolls_back_leaves_no_webhook(
    platform: Platform, make_account: MakeAccount, seed_numbers: SeedNumbers
) -> None:
    account_id, _key = await make_account("alice")
    await seed_numbers(1)
    await endpoints.create_endpoint(
        platform.db, account_id, "https://hooks.example/x", ["rental.created"], T0
    )
    recorder = RentalEvents(platform.clock, platform.bus)

    def failing_after_enqueue(
        connection: Connection, change: RentalChange, rental: RentalView
    ) -> None:
        recorder(connection, change, rental)  # the outbox row is written...
        raise RuntimeError("...and the transaction fails after it")

    with pytest.raises(RuntimeError):
        await rentals.rent(
            platform.db,
            account_id,
            RentRequest(),
            T0,
            platform.settings.policy,
            observer=failing_after_enqueue,
        )
    assert await _outbox(platform) == []
    async with platform.db.read() as connection:
        assert await connection.scalar(select(func.count()).select_from(Rental)) == 0


async def test_a_rolled_back_expiry_publishes_nothing(
    platform: Platform, clock: FakeClock, make_account: MakeAccount, seed_numbers: SeedNumbers
) -> None:
    account_id, _key = await make_account("alice")
    await seed_numbers(1)
    policy = platform.settings.policy
    rental = await rentals.rent(platform.db, account_id, RentRequest(), T0, policy)
    published: list[Any] = []

    class Failing(RentalEvents):
        def __call__(self, connection: Connection, change: RentalChange, view: RentalView) -> None:
            super().__call__(connection, change, view)
            raise RuntimeError("disk full")

    observer = Failing(platform.clock, platform.bus)
    async with platform.bus.subscribe(f"rental:{rental.id}") as stream:
        with pytest.raises(RuntimeError):
            await sweep(platform.db, rental.expires_at, policy, observer=observer)
        await observer.committed()  # nothing left to publish

        async def first() -> None:
            published.append(await anext(stream))

        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.2):
                await first()
    assert published == []
    still = await rentals.get_rental(platform.db, account_id, rental.id)
    assert still.status == "active"


async def test_an_expiry_is_in_the_audit_trail_by_the_sweeper(
    platform: Platform, make_account: MakeAccount, seed_numbers: SeedNumbers
) -> None:
    from smslocker.guard import audit

    account_id, _key = await make_account("alice")
    await seed_numbers(1)
    policy = platform.settings.policy
    rental = await rentals.rent(platform.db, account_id, RentRequest(), T0, policy)
    await sweep(platform.db, rental.expires_at, policy)
    [ended] = [e for e in await audit.entries(platform.db) if e.action == audit.RENTAL_ENDED]
    assert (ended.target, ended.actor) == (rental.id, "system:sweeper")
    assert ended.details["status"] == "expired"
    assert (await audit.verify(platform.db)).ok
