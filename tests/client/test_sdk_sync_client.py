"""The blocking SDK against the app in-process: it runs in a worker thread, the app in
the test's event loop (:class:`sdk_support.LoopTransport`)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from api_support import SeedNumbers, deliver_sms, until_subscribed

from smslocker.client import Client, CodeTimeout, Rental
from smslocker.platform import Platform
from smslocker.routing.ingest import StoreSink

SyncClientFor = Callable[[str], Client]


async def test_rent_wait_for_code_while_waiting_and_release_on_exit(
    sync_client_for: SyncClientFor,
    user: str,
    platform: Platform,
    sink: StoreSink,
    seed_numbers: SeedNumbers,
) -> None:
    [number] = await seed_numbers(1, country="FR")
    client = await asyncio.to_thread(sync_client_for, user)
    rental = await asyncio.to_thread(client.rent, "FR", "whatsapp")
    assert isinstance(rental, Rental)
    assert (rental.number, rental.service, rental.active) == (number, "whatsapp", True)

    def wait_inside_with() -> str:
        with rental:
            return rental.wait_for_code(timeout=30)

    waiting = asyncio.create_task(asyncio.to_thread(wait_inside_with))
    await until_subscribed(platform, f"rental:{rental.id}")
    await deliver_sms(platform, sink, number, "WhatsApp code 123-456")
    assert await waiting == "123456"
    assert rental.status == "completed"

    def read_back() -> tuple[str, int, list[str | None]]:
        again = client.rental(rental.id)
        return again.status, again.messages_count, [m.text for m in again.messages()]

    assert await asyncio.to_thread(read_back) == ("completed", 1, ["WhatsApp code 123-456"])
    await asyncio.to_thread(client.close)


async def test_extend_cancel_refresh_and_list(
    sync_client_for: SyncClientFor, user: str, seed_numbers: SeedNumbers
) -> None:
    await seed_numbers(2)

    def scenario() -> None:
        with sync_client_for(user) as client:
            first = client.rent(duration_s=60)
            before = first.expires_at
            assert first.extend(30) is first
            assert (first.expires_at - before).total_seconds() == 30
            second = client.rent()
            second.cancel()
            assert (second.status, second.refunded) == ("cancelled", second.price)
            assert first.refresh().active
            assert {r.id for r in client.rentals()} == {first.id, second.id}
            assert [r.id for r in client.rentals(status="active")] == [first.id]
            with pytest.raises(CodeTimeout):
                first.wait_for_code(timeout=0.2)
            assert client.available().total == 0

    await asyncio.to_thread(scenario)
