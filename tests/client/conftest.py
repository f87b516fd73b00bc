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

from api_fixtures import (  # noqa: F401 - fixtures, found by name
    app,
    clock,
    make_account,
    platform,
    seed_numbers,
    sink,
)
from api_support import BASE_URL, MakeAccount
from fastapi import FastAPI
from sdk_support import LoopTransport

from smslocker.client import AsyncClient, Client


@pytest.fixture
def database(sqlite_database: Any) -> Any:
    """SQLite only: the SDK speaks HTTP; the database behind it is tested elsewhere."""
    return sqlite_database


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
