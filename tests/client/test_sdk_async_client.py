"""The asyncio SDK against the app in-process: rent, wait for a code that arrives while
waiting, read messages, extend, release, and the context manager that releases."""

from __future__ import annotations

import asyncio
from datetime import UTC

import httpx
import pytest
from api_support import BASE_URL, SENDER, SeedNumbers, deliver_sms, until_subscribed
from fastapi import FastAPI
from sdk_support import CountingTransport

from smslocker.client import (
    AsyncClient,
    AsyncRental,
    CodeTimeout,
    ConfigurationError,
    WaitTimeout,
    protocol,
)
from smslocker.platform import Platform
from smslocker.routing.ingest import StoreSink


async def test_rent_wait_for_code_while_waiting_then_release(
    async_client: AsyncClient, platform: Platform, sink: StoreSink, seed_numbers: SeedNumbers
) -> None:
    await seed_numbers(2, country="GB")
    rental = await async_client.rent(country="GB", service="google")
    assert isinstance(rental, AsyncRental)
    assert rental.number.startswith("+44")
    assert (rental.country, rental.service, rental.status) == ("GB", "google", "active")
    assert rental.started_at.tzinfo is not None
    assert rental.expires_at.astimezone(UTC) > rental.started_at

    waiting = asyncio.create_task(rental.wait_for_code(timeout=30))
    await until_subscribed(platform, f"rental:{rental.id}")
    assert not waiting.done()
    await deliver_sms(platform, sink, rental.number, "Your Google code is 482913")
    assert await waiting == "482913"

    code = await rental.code()
    assert code is not None
    assert (code.value, code.source) == ("482913", SENDER)
    [message] = await rental.messages()
    assert message.id == code.message_id
    assert message.text == "Your Google code is 482913"
    assert message.code == "482913"
    assert message.received_at.tzinfo is not None
    assert message.destination == rental.number

    await rental.refresh()
    assert rental.messages_count == 1
    released = await rental.release()
    assert released is rental
    assert (rental.status, rental.end_reason is not None) == ("completed", True)
    assert rental.ended_at is not None
    assert [r.status for r in await async_client.rentals()] == ["completed"]


async def test_async_with_releases_on_exit_even_when_the_block_raises(
    async_client: AsyncClient, seed_numbers: SeedNumbers
) -> None:
    await seed_numbers(2)
    async with async_client.rent(country="US") as rental:
        assert rental.active
    assert rental.status == "completed"
    assert (await async_client.rental(rental.id)).status == "completed"

    with pytest.raises(RuntimeError, match="boom"):
        async with async_client.rent(country="US") as failing:
            raise RuntimeError("boom")
    assert (await async_client.rental(failing.id)).status == "completed"


async def test_a_rental_ended_inside_the_block_is_left_as_it_is(
    async_client: AsyncClient, seed_numbers: SeedNumbers
) -> None:
    await seed_numbers(1)
    async with await async_client.rent() as rental:
        await rental.cancel()
        assert rental.status == "cancelled"
    assert (await async_client.rental(rental.id)).status == "cancelled"


async def test_extend_pushes_the_end_back(
    async_client: AsyncClient, seed_numbers: SeedNumbers
) -> None:
    await seed_numbers(1)
    rental = await async_client.rent(duration_s=300)
    before = rental.expires_at
    await rental.extend(120)
    assert (rental.expires_at - before).total_seconds() == 120


async def test_messages_follows_the_pages(
    async_client: AsyncClient,
    platform: Platform,
    sink: StoreSink,
    seed_numbers: SeedNumbers,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(protocol, "PAGE", 2)
    await seed_numbers(1)
    rental = await async_client.rent()
    for index in range(5):
        await deliver_sms(platform, sink, rental.number, f"message {index}")
    messages = await rental.messages()
    assert [message.text for message in messages] == [f"message {i}" for i in range(5)]
    later = await rental.messages(after=messages[2].id)
    assert [message.text for message in later] == ["message 3", "message 4"]


async def test_wait_for_code_polls_again_when_a_long_poll_ends_empty(
    app: FastAPI, user: str, platform: Platform, sink: StoreSink, seed_numbers: SeedNumbers
) -> None:
    await seed_numbers(1)
    transport = CountingTransport(app)
    async with AsyncClient(BASE_URL, user, transport=transport, poll_s=0.2) as client:
        rental = await client.rent()
        path = f"/api/v1/rentals/{rental.id}/code"
        waiting = asyncio.create_task(rental.wait_for_code(timeout=30))
        async with asyncio.timeout(20):
            await transport.until(path, 3)
        await deliver_sms(platform, sink, rental.number, "code: 555123")
        assert await waiting == "555123"


async def test_wait_for_a_new_code_after_a_resend(
    async_client: AsyncClient, platform: Platform, sink: StoreSink, seed_numbers: SeedNumbers
) -> None:
    await seed_numbers(1)
    rental = await async_client.rent()
    await deliver_sms(platform, sink, rental.number, "Your code is 111111")
    first = await rental.code()
    assert first is not None
    assert await rental.wait_for_code(timeout=5) == "111111"

    waiting = asyncio.create_task(rental.wait_for_code(timeout=30, after=first.message_id))
    await until_subscribed(platform, f"rental:{rental.id}")
    await deliver_sms(platform, sink, rental.number, "Your code is 222222")
    assert await waiting == "222222"


async def test_wait_for_message_returns_the_next_one(
    async_client: AsyncClient, platform: Platform, sink: StoreSink, seed_numbers: SeedNumbers
) -> None:
    await seed_numbers(1)
    rental = await async_client.rent()
    await deliver_sms(platform, sink, rental.number, "hello")
    first = await rental.wait_for_message(timeout=5)
    assert first.text == "hello"
    waiting = asyncio.create_task(rental.wait_for_message(timeout=30, after=first.id))
    await until_subscribed(platform, f"rental:{rental.id}")
    await deliver_sms(platform, sink, rental.number, "again")
    assert (await waiting).text == "again"


async def test_no_code_in_time_is_a_code_timeout(
    async_client: AsyncClient, platform: Platform, sink: StoreSink, seed_numbers: SeedNumbers
) -> None:
    await seed_numbers(1)
    rental = await async_client.rent()
    await deliver_sms(platform, sink, rental.number, "no digits here")
    with pytest.raises(CodeTimeout) as caught:
        await rental.wait_for_code(timeout=0.3)
    assert isinstance(caught.value, TimeoutError)
    assert (caught.value.rental_id, caught.value.timeout) == (rental.id, 0.3)
    last = (await rental.messages())[-1]
    with pytest.raises(WaitTimeout):
        await rental.wait_for_message(timeout=0.2, after=last.id)


async def test_available_counts_what_can_be_rented(
    async_client: AsyncClient, seed_numbers: SeedNumbers
) -> None:
    await seed_numbers(3, country="US")
    await seed_numbers(2, country="DE")
    availability = await async_client.available(country="DE", service="google")
    assert availability.total == 2
    assert [(offer.country, offer.count) for offer in availability.offers] == [("DE", 2)]
    assert availability.numbers is None  # listed for admin keys only


async def test_url_and_key_come_from_the_environment(
    app: FastAPI, user: str, seed_numbers: SeedNumbers, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SMSLOCKER_URL", raising=False)
    monkeypatch.delenv("SMSLOCKER_API_KEY", raising=False)
    with pytest.raises(ConfigurationError, match="SMSLOCKER_URL"):
        AsyncClient(api_key=user)
    with pytest.raises(ConfigurationError, match="SMSLOCKER_API_KEY"):
        AsyncClient(BASE_URL)
    monkeypatch.setenv("SMSLOCKER_URL", BASE_URL + "/")
    monkeypatch.setenv("SMSLOCKER_API_KEY", user)
    await seed_numbers(1)
    async with AsyncClient(transport=httpx.ASGITransport(app=app)) as client:
        assert client.base_url == BASE_URL
        rental = await client.rent()
        assert rental.active
