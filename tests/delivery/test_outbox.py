"""The webhook outbox: events become outbox rows in the writer's transaction; endpoints.

Both databases (the ``database`` fixture).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, func, select

from smslocker.delivery import endpoints, outbox
from smslocker.delivery.bus import BusUnavailable, InProcessBus
from smslocker.delivery.events import (
    EVENT_TYPES,
    enqueue_webhooks,
    message_event,
    publish,
    rental_event,
    webhook_body,
)
from smslocker.rentals import create_account
from smslocker.store import Database
from smslocker.store.models import WebhookAttempt, WebhookDelivery

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _message(account_id: int | None, n: int) -> dict[str, Any]:
    event = message_event(account_id or 0, f"rnt_{n}", {"id": n, "text": f"code {n}"})
    event["account_id"] = account_id
    return event


async def _rows(db: Database) -> list[Any]:
    async with db.read() as connection:
        return list(await connection.execute(select(WebhookDelivery).order_by(WebhookDelivery.id)))


@pytest.fixture
async def accounts(database: Database) -> tuple[int, int]:
    return (
        await create_account(database, "alice", T0),
        await create_account(database, "bob", T0),
    )


async def test_one_row_per_event_and_subscribed_enabled_endpoint(
    database: Database, accounts: tuple[int, int]
) -> None:
    alice, bob = accounts
    messages, _ = await endpoints.create_endpoint(
        database, alice, "https://a.example/m", ["message.received"], T0
    )
    everything, _ = await endpoints.create_endpoint(
        database, alice, "https://a.example/all", list(EVENT_TYPES), T0
    )
    off, _ = await endpoints.create_endpoint(
        database, alice, "https://a.example/off", list(EVENT_TYPES), T0
    )
    await endpoints.update_endpoint(database, alice, off.id, T0, enabled=False)
    bobs, _ = await endpoints.create_endpoint(
        database, bob, "https://b.example/", ["rental.created"], T0
    )
    events = [
        _message(alice, 1),
        rental_event("rental.created", alice, {"id": "rnt_1", "status": "active"}),
        _message(bob, 2),  # bob subscribed to rental.created only
        rental_event("rental.created", bob, {"id": "rnt_2"}),
        _message(None, 3),  # unmatched: nobody's
    ]

    def write(connection: Connection) -> int:
        return enqueue_webhooks(connection, events, T0)

    assert await database.run_write(write) == 4
    rows = await _rows(database)
    pairs = sorted((row.endpoint_id, row.event_type) for row in rows)
    assert pairs == sorted(
        [
            (messages.id, "message.received"),
            (everything.id, "message.received"),
            (everything.id, "rental.created"),
            (bobs.id, "rental.created"),
        ]
    )
    assert len({row.id for row in rows}) == 4
    assert all(row.id.startswith("msg_") and "." not in row.id for row in rows)
    assert all(row.status == "pending" and row.next_attempt_at == T0 for row in rows)
    body = json.loads(next(row.payload for row in rows if row.endpoint_id == messages.id))
    assert body == {
        "type": "message.received",
        "timestamp": "2026-12-01T12:00:00Z",
        "data": {"rental_id": "rnt_1", "message": {"id": 1, "text": "code 1"}},
    }


async def test_rows_roll_back_with_the_writers_transaction(
    database: Database, accounts: tuple[int, int]
) -> None:
    alice, _ = accounts
    await endpoints.create_endpoint(database, alice, "https://a.example/", ["message.received"], T0)

    def fail_after_enqueue(connection: Connection) -> None:
        assert enqueue_webhooks(connection, [_message(alice, 1)], T0) == 1
        raise RuntimeError("the ingest transaction failed")

    with pytest.raises(RuntimeError):
        await database.run_write(fail_after_enqueue)
    assert await _rows(database) == []


async def test_nothing_to_do_without_endpoints_or_accounts(
    database: Database, accounts: tuple[int, int]
) -> None:
    alice, _ = accounts
    assert await database.run_write(lambda c: enqueue_webhooks(c, [], T0)) == 0
    assert await database.run_write(lambda c: enqueue_webhooks(c, [_message(None, 1)], T0)) == 0
    assert await database.run_write(lambda c: enqueue_webhooks(c, [_message(alice, 1)], T0)) == 0


async def test_publish_reaches_rental_and_account_channels() -> None:
    bus = InProcessBus()
    event = _message(7, 1)
    async with bus.subscribe("rental:rnt_1") as by_rental, bus.subscribe("account:7") as by_account:
        await publish(bus, [event, _message(None, 2)])
        assert await anext(by_rental) == ("rental:rnt_1", event)
        assert await anext(by_account) == ("account:7", event)
    await bus.close()
    await publish(bus, [event])  # a closed bus is logged, not raised


def test_webhook_body_is_the_standard_webhooks_envelope() -> None:
    event = rental_event("rental.expired", 3, {"id": "rnt_9", "ended_at": T0})
    body = json.loads(webhook_body(event, T0 + timedelta(seconds=1)))
    assert body["type"] == "rental.expired"
    assert body["timestamp"] == "2026-12-01T12:00:01Z"
    assert body["data"] == {
        "rental_id": "rnt_9",
        "rental": {"id": "rnt_9", "ended_at": "2026-12-01T12:00:00Z"},
    }
    with pytest.raises(ValueError, match="not a rental event"):
        rental_event("message.received", 3, {"id": "x"})


# --------------------------------------------------------------------------- endpoints


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/",
        "example.com/hook",
        "http://",
        "https:///path",
        "http://exa mple.com/",
        "http://example.com:99999/",
        "javascript:alert(1)",
        "https://" + "a" * 2000 + ".com/",
    ],
)
def test_bad_urls_are_refused(url: str) -> None:
    with pytest.raises(endpoints.InvalidEndpoint):
        endpoints.check_url(url)


def test_events_must_be_known_and_are_deduplicated() -> None:
    assert endpoints.check_events(["rental.created", "rental.created", "message.received"]) == [
        "rental.created",
        "message.received",
    ]
    with pytest.raises(endpoints.InvalidEndpoint):
        endpoints.check_events([])
    with pytest.raises(endpoints.InvalidEndpoint, match="unknown event"):
        endpoints.check_events(["message.sent"])


async def test_endpoints_are_scoped_to_their_account(
    database: Database, accounts: tuple[int, int]
) -> None:
    alice, bob = accounts
    endpoint, secret = await endpoints.create_endpoint(
        database, alice, "https://a.example/", ["message.received"], T0
    )
    assert secret.startswith("whsec_")
    assert [e.id for e in await endpoints.list_endpoints(database, alice)] == [endpoint.id]
    assert await endpoints.list_endpoints(database, bob) == []
    with pytest.raises(endpoints.EndpointNotFound):
        await endpoints.get_endpoint(database, bob, endpoint.id)
    with pytest.raises(endpoints.EndpointNotFound):
        await endpoints.update_endpoint(database, bob, endpoint.id, T0, enabled=False)
    with pytest.raises(endpoints.EndpointNotFound):
        await endpoints.rotate_secret(database, bob, endpoint.id, T0)
    with pytest.raises(endpoints.EndpointNotFound):
        await endpoints.delete_endpoint(database, bob, endpoint.id)
    with pytest.raises(endpoints.EndpointNotFound):
        await outbox.list_deliveries(database, bob, endpoint.id)
    await database.run_write(lambda c: enqueue_webhooks(c, [_message(alice, 1)], T0))
    (delivery,), _ = await outbox.list_deliveries(database, alice, endpoint.id)
    with pytest.raises(endpoints.DeliveryNotFound):
        await outbox.replay_delivery(database, bob, delivery.id, T0)
    assert (await endpoints.get_endpoint(database, alice, endpoint.id)).enabled


async def test_delete_takes_the_delivery_log_with_it(
    database: Database, accounts: tuple[int, int]
) -> None:
    alice, _ = accounts
    endpoint, _ = await endpoints.create_endpoint(
        database, alice, "https://a.example/", ["message.received"], T0
    )
    await database.run_write(lambda c: enqueue_webhooks(c, [_message(alice, 1)], T0))
    claimed = await database.run_write(lambda c: outbox.claim_due(c, T0, 5, timedelta(minutes=1)))
    await database.run_write(
        lambda c: outbox.record_attempts(
            c,
            [
                outbox.AttemptOutcome(
                    delivery_id=claimed[0].id,
                    endpoint_id=endpoint.id,
                    attempted_at=T0,
                    status_code=500,
                    error="HTTP 500",
                    duration_ms=3,
                    status=outbox.PENDING,
                    next_attempt_at=T0 + timedelta(seconds=5),
                )
            ],
        )
    )
    await endpoints.delete_endpoint(database, alice, endpoint.id)
    assert await _rows(database) == []
    with pytest.raises(endpoints.EndpointNotFound):
        await endpoints.get_endpoint(database, alice, endpoint.id)


async def test_delivery_log_pages_newest_first(
    database: Database, accounts: tuple[int, int]
) -> None:
    alice, _ = accounts
    endpoint, _ = await endpoints.create_endpoint(
        database, alice, "https://a.example/", ["message.received"], T0
    )
    for n in range(5):
        await database.run_write(lambda c, n=n: enqueue_webhooks(c, [_message(alice, n)], T0))
    first, cursor = await outbox.list_deliveries(database, alice, endpoint.id, limit=3)
    assert cursor == first[-1].id
    second, last = await outbox.list_deliveries(
        database, alice, endpoint.id, limit=3, before=cursor
    )
    assert last is None
    ids = [d.id for d in first + second]
    assert ids == sorted(ids, reverse=True)
    assert len(set(ids)) == 5
    assert (await outbox.list_deliveries(database, alice, endpoint.id, status="delivered"))[0] == []
    with pytest.raises(endpoints.InvalidEndpoint):
        await outbox.list_deliveries(database, alice, endpoint.id, limit=0)


async def test_an_account_has_a_bounded_number_of_endpoints(
    database: Database, accounts: tuple[int, int]
) -> None:
    alice, _ = accounts
    for n in range(endpoints.MAX_ENDPOINTS):
        await endpoints.create_endpoint(
            database, alice, f"https://a.example/{n}", ["message.received"], T0
        )
    with pytest.raises(endpoints.InvalidEndpoint, match="at most"):
        await endpoints.create_endpoint(
            database, alice, "https://a.example/x", ["message.received"], T0
        )
    async with database.read() as connection:
        assert await connection.scalar(select(func.count()).select_from(WebhookDelivery)) == 0


class _RecordingBus:
    """A bus that records each publish_many call; one call fails, as Redis can."""

    def __init__(self, fail_call: int | None = None) -> None:
        self.calls: list[list[tuple[str, int]]] = []
        self.fail_call = fail_call

    async def publish(self, channel: str, event: dict[str, Any]) -> None:
        raise AssertionError("events.publish sends a batch with publish_many")

    async def publish_many(self, items: Sequence[tuple[str, dict[str, Any]]]) -> None:
        self.calls.append([(channel, event["message"]["id"]) for channel, event in items])
        if len(self.calls) - 1 == self.fail_call:
            raise BusUnavailable("Redis is away")


async def test_publish_sends_a_batch_in_one_call_in_order_within_each_channel() -> None:
    bus = _RecordingBus()
    events_ = [_message(7, n % 40) | {"message": {"id": n}} for n in range(200)]
    await publish(bus, events_)  # type: ignore[arg-type]
    assert len(bus.calls) == 1
    (sent,) = bus.calls
    assert len(sent) == 400  # each event on its rental's channel and its account's
    assert [n for channel, n in sent if channel == "account:7"] == list(range(200))
    for rental in range(40):
        got = [n for channel, n in sent if channel == f"rental:rnt_{rental}"]
        assert got == list(range(rental, 200, 40))


async def test_a_bus_failure_is_not_raised_and_the_next_batch_goes_out() -> None:
    bus = _RecordingBus(fail_call=0)
    await publish(bus, [_message(7, 1) | {"message": {"id": 1}}])  # type: ignore[arg-type]
    await publish(bus, [_message(7, 2) | {"message": {"id": 2}}])  # type: ignore[arg-type]
    assert [len(call) for call in bus.calls] == [2, 2]


async def test_purge_deletes_settled_deliveries_and_their_attempts_only(
    database: Database, accounts: tuple[int, int]
) -> None:
    alice, _ = accounts
    endpoint, _ = await endpoints.create_endpoint(
        database, alice, "https://a.example/", ["message.received"], T0
    )
    events = [_message(alice, n) for n in range(3)]
    await database.run_write(lambda c: enqueue_webhooks(c, events, T0))
    claimed = await database.run_write(lambda c: outbox.claim_due(c, T0, 5, timedelta(minutes=1)))
    settled = {claimed[0].id: outbox.DELIVERED, claimed[1].id: outbox.FAILED}
    await database.run_write(
        lambda c: outbox.record_attempts(
            c,
            [
                outbox.AttemptOutcome(
                    delivery_id=delivery_id,
                    endpoint_id=endpoint.id,
                    attempted_at=T0,
                    status_code=200 if status == outbox.DELIVERED else 400,
                    error=None,
                    duration_ms=3,
                    status=status,
                    next_attempt_at=T0,
                )
                for delivery_id, status in settled.items()
            ],
        )
    )
    assert await outbox.purge_deliveries(database, T0) == 0  # not older than the cut
    assert await outbox.purge_deliveries(database, T0 + timedelta(seconds=1)) == 2
    [left] = await _rows(database)
    assert (left.id, left.status) == (claimed[2].id, outbox.PENDING)
    async with database.read() as connection:
        attempts = await connection.scalar(select(func.count()).select_from(WebhookAttempt))
    assert attempts == 0
