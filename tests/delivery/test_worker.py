"""The webhook worker against a real receiver on loopback: signatures, retries, 410, replay.

The platform clock is fake: retries hours apart are reached by moving it to the next
delivery's due time, while the HTTP requests are real.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from webhook_receiver import TIMEOUT, WebhookReceiver, running_receiver

from smslocker.delivery import endpoints, outbox
from smslocker.delivery.events import enqueue_webhooks, message_event, rental_event
from smslocker.delivery.worker import (
    MAX_ATTEMPTS,
    RETRY_SCHEDULE,
    WebhookWorker,
    retry_delay,
    run_worker,
)
from smslocker.metrics import WEBHOOK_ATTEMPTS
from smslocker.rentals import create_account
from smslocker.store import Database
from smslocker.store.models import WebhookDelivery

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@dataclass
class Clock:
    now: datetime = T0

    def __call__(self) -> datetime:
        return self.now


def _message(account_id: int, n: int) -> dict[str, Any]:
    return message_event(
        account_id,
        f"rnt_{n:04d}",
        {"id": n, "rental_id": f"rnt_{n:04d}", "text": f"Your code is {100000 + n}"},
    )


async def _enqueue(db: Database, events: list[dict[str, Any]], now: datetime) -> int:
    return await db.run_write(lambda connection: enqueue_webhooks(connection, events, now))


async def _next_due(db: Database) -> datetime | None:
    async with db.read() as connection:
        return await connection.scalar(
            select(func.min(WebhookDelivery.next_attempt_at)).where(
                WebhookDelivery.status == outbox.PENDING
            )
        )


async def _statuses(db: Database) -> dict[str, str]:
    async with db.read() as connection:
        rows = await connection.execute(select(WebhookDelivery.id, WebhookDelivery.status))
        return {row.id: row.status for row in rows}


async def drain(worker: WebhookWorker, db: Database, clock: Clock, rounds: int = 100) -> None:
    """Run the worker, moving the clock to each next due time, until nothing is pending."""
    for _ in range(rounds):
        if await worker.run_once():
            continue
        due = await _next_due(db)
        if due is None:
            return
        clock.now = max(clock.now, due)
    raise AssertionError("the outbox did not drain")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def account(database: Database) -> int:
    return await create_account(database, "alice", T0)


def _worker(database: Database, clock: Clock, **options: Any) -> WebhookWorker:
    options.setdefault("timeout", 0.3)
    options.setdefault("allow_private", True)  # the receiver listens on loopback
    return WebhookWorker(database, clock, rng=random.Random(4), **options)


async def test_each_event_arrives_signed_and_exactly_once_despite_failures(
    database: Database, clock: Clock, account: int
) -> None:
    rng = random.Random(7)
    plans: dict[str, list[int | str]] = {}

    def script(webhook_id: str, attempt: int) -> int | str:
        # Per event, a few failures (500, 503, a timeout, a redirect) before a 2xx.
        plan = plans.setdefault(
            webhook_id,
            [rng.choice([500, 503, TIMEOUT, 302, 429]) for _ in range(rng.randrange(4))]
            + [rng.choice([200, 201, 204])],
        )
        return plan[min(attempt, len(plan)) - 1]

    receiver = WebhookReceiver(secrets=[], clock=clock, script=script, timeout_sleep=0.6)
    async with running_receiver(receiver):
        endpoint, secret = await endpoints.create_endpoint(
            database, account, receiver.url, ["message.received", "rental.expired"], T0
        )
        receiver.secrets.append(secret)
        events = [_message(account, n) for n in range(1, 16)]
        events.append(rental_event("rental.expired", account, {"id": "rnt_0001"}))
        events.append(rental_event("rental.created", account, {"id": "rnt_0001"}))  # not wanted
        assert await _enqueue(database, events, T0) == 16
        worker = _worker(database, clock, concurrency=4, batch_size=5)
        try:
            await drain(worker, database, clock)
        finally:
            await worker.aclose()

    statuses = await _statuses(database)
    assert set(statuses.values()) == {outbox.DELIVERED}
    assert all(request.verified for request in receiver.requests)
    assert set(receiver.accepted) == set(statuses)
    assert all(count == 1 for count in receiver.accepted.values())
    # Every event's body once among the accepted ones; the webhook-id never changed.
    bodies = [r.body for r in receiver.requests if r.answer in (200, 201, 204)]
    assert sorted(b["data"]["message"]["id"] for b in bodies if "message" in b["data"]) == list(
        range(1, 16)
    )
    assert [b["type"] for b in bodies].count("rental.expired") == 1
    page, _ = await outbox.list_deliveries(database, account, endpoint.id, limit=200)
    assert sum(len(d.attempt_log) for d in page) == len(receiver.requests)
    assert any(len(d.attempt_log) > 1 for d in page)


async def test_retries_follow_the_schedule_then_fail(
    database: Database, clock: Clock, account: int
) -> None:
    receiver = WebhookReceiver(secrets=[], clock=clock, script=lambda _i, _a: 500)
    async with running_receiver(receiver):
        endpoint, secret = await endpoints.create_endpoint(
            database, account, receiver.url, ["message.received"], T0
        )
        receiver.secrets.append(secret)
        await _enqueue(database, [_message(account, 1)], T0)
        worker = _worker(database, clock)
        try:
            assert await worker.run_once() == 1
            # Not due again before the first delay (less its jitter)...
            clock.now = T0 + RETRY_SCHEDULE[0] * 0.75
            assert await worker.run_once() == 0
            # ... and each delay grows, over hours.
            waits, attempted_at = [], T0
            for _ in range(MAX_ATTEMPTS - 1):
                due = await _next_due(database)
                assert due is not None
                waits.append(due - attempted_at)
                clock.now = attempted_at = due
                assert await worker.run_once() == 1
        finally:
            await worker.aclose()
    assert await _next_due(database) is None
    assert len(receiver.requests) == MAX_ATTEMPTS
    for wait, planned in zip(waits, RETRY_SCHEDULE, strict=True):
        assert planned * 0.75 <= wait <= planned * 1.25
    assert sum(waits, timedelta()) > timedelta(hours=24)
    page, _ = await outbox.list_deliveries(database, account, endpoint.id)
    (delivery,) = page
    assert delivery.status == outbox.FAILED
    assert delivery.attempts == MAX_ATTEMPTS
    assert delivery.last_status_code == 500
    assert [a.status_code for a in delivery.attempt_log] == [500] * MAX_ATTEMPTS


async def test_410_disables_the_endpoint_and_replay_sends_again(
    database: Database, clock: Clock, account: int
) -> None:
    answers = {"value": 410}
    receiver = WebhookReceiver(secrets=[], clock=clock, script=lambda _i, _a: answers["value"])
    gone_before = WEBHOOK_ATTEMPTS.labels(outcome="gone")._value.get()
    async with running_receiver(receiver):
        endpoint, secret = await endpoints.create_endpoint(
            database, account, receiver.url, ["message.received"], T0
        )
        receiver.secrets.append(secret)
        await _enqueue(database, [_message(account, 1), _message(account, 2)], T0)
        worker = _worker(database, clock, batch_size=1)
        try:
            assert await worker.run_once() == 1
            # Disabled: the other delivery waits, unsent, and nothing new is queued.
            assert await worker.run_once() == 0
            view = await endpoints.get_endpoint(database, account, endpoint.id)
            assert not view.enabled
            assert "410" in (view.disabled_reason or "")
            assert await _enqueue(database, [_message(account, 3)], T0) == 0
            page, _ = await outbox.list_deliveries(database, account, endpoint.id)
            gone = next(d for d in page if d.status == outbox.FAILED)
            with pytest.raises(endpoints.EndpointDisabled):
                await outbox.replay_delivery(database, account, gone.id, clock.now)
            # The owner fixes the receiver, enables the endpoint and replays.
            answers["value"] = 200
            await endpoints.update_endpoint(database, account, endpoint.id, T0, enabled=True)
            replayed = await outbox.replay_delivery(database, account, gone.id, clock.now)
            assert replayed.status == outbox.PENDING
            await drain(worker, database, clock)
        finally:
            await worker.aclose()
    assert WEBHOOK_ATTEMPTS.labels(outcome="gone")._value.get() == gone_before + 1
    assert set((await _statuses(database)).values()) == {outbox.DELIVERED}
    assert receiver.attempts[gone.id] == 2  # the same webhook-id, sent again
    assert len(receiver.accepted) == 2


async def test_rotation_signs_with_both_secrets_for_a_day(
    database: Database, clock: Clock, account: int
) -> None:
    receiver = WebhookReceiver(secrets=[], clock=clock)
    async with running_receiver(receiver):
        endpoint, old = await endpoints.create_endpoint(
            database, account, receiver.url, ["message.received"], T0
        )
        _, new = await endpoints.rotate_secret(database, account, endpoint.id, T0)
        receiver.secrets.append(old)  # a receiver not yet switched still verifies
        worker = _worker(database, clock)
        try:
            await _enqueue(database, [_message(account, 1)], T0)
            await drain(worker, database, clock)
            clock.now = T0 + endpoints.ROTATION_OVERLAP + timedelta(seconds=1)
            await _enqueue(database, [_message(account, 2)], clock.now)
            await worker.run_once()
        finally:
            await worker.aclose()
    first, second = receiver.requests
    assert first.verified
    assert len(first.signature.split(" ")) == 2
    # After the overlap only the new secret signs: the old one no longer verifies.
    assert not second.verified
    assert len(second.signature.split(" ")) == 1
    receiver.secrets[:] = [new]
    assert receiver.verifies(second)


async def test_unreachable_endpoint_is_retried(
    database: Database, clock: Clock, account: int
) -> None:
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    endpoint, _ = await endpoints.create_endpoint(
        database, account, f"http://127.0.0.1:{port}/hooks", ["message.received"], T0
    )
    await _enqueue(database, [_message(account, 1)], T0)
    worker = _worker(database, clock)
    try:
        assert await worker.run_once() == 1
    finally:
        await worker.aclose()
    page, _ = await outbox.list_deliveries(database, account, endpoint.id)
    (delivery,) = page
    assert delivery.status == outbox.PENDING
    assert delivery.last_status_code is None
    assert "ConnectError" in (delivery.last_error or "")
    assert delivery.next_attempt_at is not None
    assert delivery.next_attempt_at > T0


async def test_several_workers_share_the_outbox_without_sending_twice(
    database: Database, clock: Clock, account: int
) -> None:
    receiver = WebhookReceiver(secrets=[], clock=clock)
    async with running_receiver(receiver):
        _, secret = await endpoints.create_endpoint(
            database, account, receiver.url, ["message.received"], T0
        )
        receiver.secrets.append(secret)
        await _enqueue(database, [_message(account, n) for n in range(60)], T0)
        workers = [_worker(database, clock, batch_size=7) for _ in range(3)]
        try:
            for _ in range(20):
                done = await asyncio.gather(*(worker.run_once() for worker in workers))
                if not any(done):
                    break
        finally:
            for worker in workers:
                await worker.aclose()
    assert len(receiver.requests) == 60
    assert len(receiver.accepted) == 60


async def test_a_crashed_workers_claim_comes_back_after_its_lease(
    database: Database, clock: Clock, account: int
) -> None:
    await endpoints.create_endpoint(
        database, account, "http://127.0.0.1:9/hooks", ["message.received"], T0
    )
    await _enqueue(database, [_message(account, 1)], T0)
    lease = timedelta(seconds=40)
    claimed = await database.run_write(lambda c: outbox.claim_due(c, T0, 10, lease))
    assert len(claimed) == 1
    # The worker died here: nobody else gets it until the lease runs out.
    assert await database.run_write(lambda c: outbox.claim_due(c, T0, 10, lease)) == []
    later = T0 + lease
    again = await database.run_write(lambda c: outbox.claim_due(c, later, 10, lease))
    assert [c.id for c in again] == [claimed[0].id]


async def test_run_worker_stops_when_told(database: Database, account: int) -> None:
    from smslocker.delivery.bus import InProcessBus
    from smslocker.platform import Platform
    from smslocker.settings import Settings

    platform = Platform(settings=Settings(), db=database, bus=InProcessBus())
    stop = asyncio.Event()
    task = asyncio.create_task(run_worker(platform, stop))
    await asyncio.sleep(0.05)
    stop.set()
    async with asyncio.timeout(5):
        await task


def test_retry_delay_gives_up_after_the_schedule() -> None:
    rng = random.Random(1)
    assert retry_delay(0, rng) is None
    assert retry_delay(len(RETRY_SCHEDULE) + 1, rng) is None
    delay = retry_delay(1, rng)
    assert delay is not None
    assert timedelta(seconds=4) <= delay <= timedelta(seconds=6)


async def test_worker_with_a_fake_transport_records_the_status(
    database: Database, clock: Clock, account: int
) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    endpoint, _ = await endpoints.create_endpoint(
        database, account, "https://hooks.example/in", ["message.received"], T0
    )
    await _enqueue(database, [_message(account, 1)], T0)
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        worker = WebhookWorker(database, clock, client=client)
        assert await worker.run_once() == 1
    (request,) = seen
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"].startswith("smslocker-webhooks/")
    assert request.headers["webhook-timestamp"] == str(int(T0.timestamp()))
    page, _ = await outbox.list_deliveries(database, account, endpoint.id)
    assert page[0].status == outbox.DELIVERED
    assert page[0].delivered_at == T0
