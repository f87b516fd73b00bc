"""Fixtures of the interop tests: our SMSC simulator, with and without its HTTP API.

The simulator is imported inside the fixtures, so that a broken simulator fails the
tests that use it, not the collection of the others.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TYPE_CHECKING, Any

import pytest
from interop_helpers import SIMULATOR_PASSWORD, SIMULATOR_SYSTEM_ID

if TYPE_CHECKING:
    from smslocker.simulator import Simulator
    from smslocker.simulator.http import HttpApi


@asynccontextmanager
async def _running_simulator(**overrides: Any) -> AsyncIterator[Simulator]:
    from smslocker.simulator import Account, Simulator, SimulatorConfig

    settings: dict[str, Any] = {
        "port": 0,
        "system_id": "smslocker-sim",
        "accounts": (Account(SIMULATOR_SYSTEM_ID, SIMULATOR_PASSWORD),),
        "redelivery_delay": 0.1,
        "max_redelivery_delay": 0.5,
        "response_timeout": 3.0,
    } | overrides
    async with Simulator(SimulatorConfig(**settings)) as running:
        yield running


@pytest.fixture
async def simulator() -> AsyncIterator[Simulator]:
    """Our simulator on a free port, one account, quick redelivery."""
    async with _running_simulator() as running:
        yield running


@pytest.fixture
def simulator_with() -> Callable[..., AbstractAsyncContextManager[Simulator]]:
    """``async with simulator_with(**config overrides) as simulator``: a simulator of one's own."""
    return _running_simulator


@pytest.fixture
async def simulator_http(simulator: Simulator) -> AsyncIterator[HttpApi]:
    """The HTTP API (``POST /mo``) of ``simulator``, on a free port."""
    from smslocker.simulator.http import HttpApi

    api = HttpApi(simulator, port=0)
    await api.start()
    try:
        yield api
    finally:
        await api.stop()
