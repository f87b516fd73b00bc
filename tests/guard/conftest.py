"""Fixtures of the guard tests.

- ``guard``: the :class:`~smslocker.settings.GuardSettings` of the test's platform
  (override per module or test with ``@pytest.mark.parametrize("guard", [...],
  indirect=True)`` or by redefining the fixture); by default every limit is roomy and
  every rule off (:data:`guard_support.ROOMY`).
- ``clock``, ``platform``, ``app``, ``client``, ``make_account``, ``seed_numbers``: as in
  ``tests/api/conftest.py``, on a platform with ``guard``.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "api"))

from api_support import FakeClock, MakeAccount, SeedNumbers, client_for
from api_support import make_account as _make_account
from api_support import seed_numbers as _seed_numbers
from fastapi import FastAPI
from guard_support import guard_settings, guarded_platform

from smslocker.api.app import create_app
from smslocker.platform import Platform
from smslocker.settings import GuardSettings


@pytest.fixture
def guard() -> GuardSettings:
    return guard_settings()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def platform(
    database: Any, clock: FakeClock, tmp_path: Path, guard: GuardSettings
) -> AsyncIterator[Platform]:
    platform = guarded_platform(database, clock, tmp_path, guard)
    try:
        yield platform
    finally:
        await platform.bus.close()


@pytest.fixture
async def app(platform: Platform) -> AsyncIterator[FastAPI]:
    app = create_app(platform)
    try:
        yield app
    finally:
        await app.state.guard.aclose()


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(app) as client:
        yield client


@pytest.fixture
def make_account(platform: Platform) -> MakeAccount:
    async def make(
        name: str = "alice", balance: int = 10_000, role: str = "user"
    ) -> tuple[int, str]:
        return await _make_account(platform, name, balance, role)

    return make


@pytest.fixture
def seed_numbers(platform: Platform) -> SeedNumbers:
    async def seed(count: int = 3, **options: Any) -> list[str]:
        return await _seed_numbers(platform, count, **options)

    return seed


@pytest.fixture
async def admin_key(make_account: MakeAccount) -> str:
    _account_id, key = await make_account("operator", 0, "admin")
    return key
