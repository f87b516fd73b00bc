"""The API tests' fixtures, as a module: ``tests/api/conftest.py`` uses them all, and other
suites that drive the app (``tests/client``) import the ones they need, overriding
``database`` where they want one database only.

- ``clock``: the platform's fake clock (:class:`api_support.FakeClock`, starts at T0).
- ``platform``: a :class:`~smslocker.platform.Platform` on the ``database`` fixture
  (SQLite and PostgreSQL), in-process bus, that clock.
- ``app``: ``create_app(platform)``; ``client``: an ``httpx.AsyncClient`` calling it
  in-process (base URL ``http://smslocker.test``).
- ``make_account(name="alice", balance=1000, role="user") -> (account_id, key)``.
- ``seed_numbers(count=3, country="US", carrier=None, start=0, ...) -> [e164, ...]``.
- ``sink``: the real ingest :class:`~smslocker.routing.ingest.StoreSink`; with
  ``api_support.deliver_sms(platform, sink, number, text)`` a test receives an SMS.
- ``server``: the app served by uvicorn on a loopback port (``host:port``), for
  WebSocket and streaming tests (:func:`push_support.serve_on_loopback`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from api_support import (
    FakeClock,
    MakeAccount,
    SeedNumbers,
    client_for,
    make_platform,
    make_sink,
)
from api_support import make_account as _make_account
from api_support import seed_numbers as _seed_numbers
from fastapi import FastAPI
from push_support import serve_on_loopback

from smslocker.api.app import create_app
from smslocker.platform import Platform
from smslocker.routing.ingest import StoreSink


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def platform(database: Any, clock: FakeClock, tmp_path: Path) -> AsyncIterator[Platform]:
    platform = make_platform(database, clock, tmp_path)
    try:
        yield platform
    finally:
        # The database belongs to the ``database`` fixture, which closes it.
        await platform.bus.close()


@pytest.fixture
def app(platform: Platform) -> FastAPI:
    return create_app(platform)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(app) as client:
        yield client


@pytest.fixture
def make_account(platform: Platform) -> MakeAccount:
    async def make(name: str = "alice", balance: int = 1000, role: str = "user") -> tuple[int, str]:
        return await _make_account(platform, name, balance, role)

    return make


@pytest.fixture
def seed_numbers(platform: Platform) -> SeedNumbers:
    async def seed(count: int = 3, **options: Any) -> list[str]:
        return await _seed_numbers(platform, count, **options)

    return seed


@pytest.fixture
async def sink(platform: Platform) -> AsyncIterator[StoreSink]:
    sink = make_sink(platform)
    try:
        yield sink
    finally:
        await sink.close()


@pytest.fixture
async def server(app: FastAPI) -> AsyncIterator[str]:
    async with serve_on_loopback(app) as host:
        yield host
