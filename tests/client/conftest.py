"""Fixtures of the SDK tests: the app in-process on SQLite, as in ``tests/api``.

- ``platform``, ``app``, ``sink``, ``make_account``, ``seed_numbers``: as in
  ``tests/api/conftest.py`` (built from :mod:`api_support`), on SQLite only: the SDK
  speaks HTTP, the database behind it is tested elsewhere.
- ``user``: an account with 1000 credits; its API key.
- ``async_client``: an :class:`~smslocker.client.AsyncClient` as ``user``, in-process.
- ``sync_client_for(key)``: a blocking :class:`~smslocker.client.Client` as ``key``;
  call it (and use it) in a worker thread, ``asyncio.to_thread``.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

# The API tests' helpers (platform, accounts, pool, ingest) are shared with them.
sys.path.insert(0, str(Path(__file__).parent.parent / "api"))

from api_support import (
    BASE_URL,
    FakeClock,
    MakeAccount,
    SeedNumbers,
    make_platform,
    make_sink,
)
from api_support import make_account as _make_account
from api_support import seed_numbers as _seed_numbers
from fastapi import FastAPI
from sdk_support import LoopTransport

from smslocker.api.app import create_app
from smslocker.client import AsyncClient, Client
from smslocker.platform import Platform
from smslocker.routing.ingest import StoreSink


@pytest.fixture
async def platform(sqlite_database: Any, tmp_path: Path) -> AsyncIterator[Platform]:
    platform = make_platform(sqlite_database, FakeClock(), tmp_path)
    try:
        yield platform
    finally:
        await platform.bus.close()


@pytest.fixture
def app(platform: Platform) -> FastAPI:
    return create_app(platform)


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
async def user(make_account: MakeAccount) -> str:
    _account_id, key = await make_account("alice")
    return key


@pytest.fixture
async def async_client(app: FastAPI, user: str) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(BASE_URL, user, transport=httpx.ASGITransport(app=app)) as client:
        yield client


@pytest.fixture
async def sync_client_for(app: FastAPI) -> Callable[[str], Client]:
    loop = asyncio.get_running_loop()

    def make(key: str) -> Client:
        return Client(BASE_URL, key, transport=LoopTransport(app, loop))

    return make
