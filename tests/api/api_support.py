"""Shared pieces of the API tests: a platform on a test database, the in-process app and
client, accounts with keys, a seeded pool, and inbound SMS through the real ingest path.

The fixtures themselves are declared in ``tests/api/conftest.py``; this module holds
what they are built from, so a test module can also import the helpers directly::

    from api_support import T0, auth, deliver_sms

Every fixture that touches storage runs on both databases (it depends on the
``database`` fixture of ``tests/conftest.py``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import insert, select

from smslocker.accounts import Role, create_key
from smslocker.delivery.bus import InProcessBus
from smslocker.gateway.messages import InboundMessage
from smslocker.platform import Platform
from smslocker.rentals import create_account
from smslocker.routing.ingest import StoreSink
from smslocker.settings import IngestSettings, PolicySettings, Settings
from smslocker.store import Database
from smslocker.store.models import EPOCH, Message, Number

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
POLICY = PolicySettings(
    rental_ttl_s=600, max_rental_s=3600, grace_s=60, cooldown_s=1800, default_price=100
)
#: Ingest commits at once in tests (no 2 ms batching wait to make tests slower).
INGEST = IngestSettings(batch_ms=0.0)
SENDER = "447700900001"
BASE_URL = "http://smslocker.test"


@dataclass
class FakeClock:
    """A clock tests move by hand (the platform's ``now()``)."""

    now: datetime = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


def settings_for(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"data_dir": tmp_path / "data", "policy": POLICY, "ingest": INGEST}
    values.update(overrides)
    return Settings(**values)


def make_platform(database: Database, clock: FakeClock, tmp_path: Path) -> Platform:
    """A platform on ``database`` with the in-process bus and ``clock``."""
    return Platform(settings=settings_for(tmp_path), db=database, bus=InProcessBus(), clock=clock)


def client_for(app: FastAPI) -> httpx.AsyncClient:
    """An httpx client that calls ``app`` in-process (no sockets)."""
    transport = httpx.ASGITransport(app=app)
    return httpx.AsyncClient(transport=transport, base_url=BASE_URL)


def auth(key: str) -> dict[str, str]:
    """The headers that authenticate as ``key``."""
    return {"Authorization": f"Bearer {key}"}


MakeAccount = Callable[..., Awaitable[tuple[int, str]]]


async def make_account(
    platform: Platform, name: str = "alice", balance: int = 1000, role: str = "user"
) -> tuple[int, str]:
    """A new account with ``balance`` credits and a key of ``role``: (account_id, key)."""
    account_id = await create_account(platform.db, name, platform.now(), balance=balance)
    _view, key = await create_key(platform.db, account_id, Role(role), platform.now())
    return account_id, key


# Valid numbers per country (phonenumbers accepts them), ``start + i`` in the last digits.
_NUMBER_FORMATS = {
    "US": "+1415555{:04d}",
    "GB": "+4477009{:05d}",
    "DE": "+4915123{:05d}",
    "FR": "+3361234{:04d}",
}


def phone(country: str, index: int) -> str:
    return _NUMBER_FORMATS[country].format(index)


async def seed_numbers(
    platform: Platform,
    count: int = 3,
    *,
    country: str = "US",
    carrier: str | None = None,
    start: int = 0,
    line_type: str = "mobile",
    state: str = "FREE",
    connector: str = "sim",
) -> list[str]:
    """``count`` numbers of ``country`` straight into the pool; their E.164 in order."""
    numbers = [phone(country, start + i) for i in range(count)]
    rows = [
        {
            "e164": e164,
            "country": country,
            "carrier": carrier,
            "line_type": line_type,
            "connector": connector,
            "tags": [],
            "state": state,
            "state_since": T0 - timedelta(days=1),
            "last_used_at": EPOCH,
            "created_at": T0 - timedelta(days=1),
        }
        for e164 in numbers
    ]
    async with platform.db.write() as connection:
        await connection.execute(insert(Number), rows)
    return numbers


SeedNumbers = Callable[..., Awaitable[list[str]]]


def make_sink(platform: Platform) -> StoreSink:
    """The real ingest sink on the platform's database and clock."""
    return StoreSink(
        platform.db,
        INGEST,
        clock=platform.clock,
        guess_service=platform.senders.guess_service,
    )


async def deliver_sms(
    platform: Platform,
    sink: StoreSink,
    number: str,
    text: str,
    *,
    source: str = SENDER,
    publish: bool = True,
) -> list[int]:
    """Ingest one SMS to ``number`` (E.164) as a connector would; returns the new ids.

    With ``publish`` the ``message.received`` events are put on the bus after the commit,
    as the ingest path does once wired to :mod:`smslocker.delivery.events` (coordinator);
    until then this stands in for it.
    """
    async with platform.db.read() as connection:
        before = await connection.scalar(select(Message.id).order_by(Message.id.desc()).limit(1))
    message = InboundMessage(
        connector="sim",
        source=source,
        destination=number.lstrip("+"),
        text=text,
        data_coding=0,
        encoding="gsm7",
        received_at=platform.now(),
    )
    await sink.accept([message])
    async with platform.db.read() as connection:
        rows = (
            await connection.execute(
                select(Message.id, Message.rental_id, Message.account_id)
                .where(Message.id > (before or 0))
                .order_by(Message.id)
            )
        ).all()
    if publish:
        await _publish_received(platform, rows)
    return [row.id for row in rows]


async def until_subscribed(platform: Platform, channel: str, timeout: float = 10.0) -> None:
    """Return once somebody (a long-poll, a stream) listens on ``channel``."""
    subscribers = platform.bus.subscribers  # type: ignore[attr-defined]
    async with asyncio.timeout(timeout):
        while True:
            if subscribers(channel):
                return
            await asyncio.sleep(0.005)


async def _publish_received(platform: Platform, rows: list[Any]) -> None:
    from smslocker.api.views import message_json
    from smslocker.delivery import events
    from smslocker.routing.inbox import rental_messages

    for row in rows:
        if row.rental_id is None:
            continue
        messages = await rental_messages(
            platform.db, row.account_id, row.rental_id, after=row.id - 1, limit=1
        )
        event = events.message_event(row.account_id, row.rental_id, message_json(messages[0]))
        await events.publish(platform.bus, [event])
