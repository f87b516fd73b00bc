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
from smslocker.privacy.keyring import KeyRing
from smslocker.rentals import create_account
from smslocker.routing.ingest import StoreSink
from smslocker.settings import GuardSettings, IngestSettings, PolicySettings, Settings
from smslocker.store import Database
from smslocker.store.models import EPOCH, Message, Number

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
POLICY = PolicySettings(
    rental_ttl_s=600, max_rental_s=3600, grace_s=60, cooldown_s=1800, default_price=100
)
#: Ingest commits at once in tests (no 2 ms batching wait to make tests slower).
INGEST = IngestSettings(batch_ms=0.0)
SENDER = "447700900001"
#: Limits, quotas and abuse rules off: most API tests make many calls on a frozen clock.
#: The guard's own tests (tests/guard) turn them on.
GUARD_OFF = GuardSettings(limits_enabled=False, rules_enabled=False)
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
    values: dict[str, Any] = {
        "data_dir": tmp_path / "data",
        "policy": POLICY,
        "ingest": INGEST,
        "guard": GUARD_OFF,
    }
    values.update(overrides)
    return Settings(**values)


def make_platform(database: Database, clock: FakeClock, tmp_path: Path) -> Platform:
    """A platform on ``database`` with the in-process bus and ``clock``; message bodies
    are sealed at rest (the default of a real platform), with a key ring of its own."""
    return Platform(
        settings=settings_for(tmp_path),
        db=database,
        bus=InProcessBus(),
        clock=clock,
        keyring=KeyRing.generate(),
    )


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


async def rent_any(client: httpx.AsyncClient, key: str) -> dict[str, Any]:
    """``POST /api/v1/rentals {}`` (any number), asserted to succeed: the rental."""
    response = await client.post("/api/v1/rentals", json={}, headers=auth(key))
    assert response.status_code == 201, response.text
    rental: dict[str, Any] = response.json()
    return rental


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
        bus=platform.bus,
        ring=platform.keyring,
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

    The sink publishes the ``message.received`` events itself (when it has the bus, as
    :func:`make_sink`'s has); this returns once they are on the bus. ``publish=False``
    stores the message without an event, as when the bus lost it.
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
    if publish:
        await sink.accept([message])
        await sink.wait_published()
    else:
        bus, sink.bus = sink.bus, None  # this one commit only (tests commit one at a time)
        try:
            await sink.accept([message])
        finally:
            sink.bus = bus
    async with platform.db.read() as connection:
        rows = (
            await connection.execute(
                select(Message.id).where(Message.id > (before or 0)).order_by(Message.id)
            )
        ).all()
    return [row.id for row in rows]


async def until_subscribed(platform: Platform, channel: str, timeout: float = 10.0) -> None:
    """Return once somebody (a long-poll, a stream) listens on ``channel``."""
    subscribers = platform.bus.subscribers  # type: ignore[attr-defined]
    async with asyncio.timeout(timeout):
        while True:
            if subscribers(channel):
                return
            await asyncio.sleep(0.005)
