"""Fixtures of the simulator tests: a running simulator, and test ESMEs bound to it.

The simulator runs with short timers (redelivery after 50 ms, a 0.5 s response
timeout) so that redelivery tests finish in well under a second.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

import httpx
import pytest
from esme_client import Ack, Connect, EsmeClient, MakeSimulator

from smslocker.simulator import Account, Simulator, SimulatorConfig
from smslocker.simulator.http import create_app

FAST = SimulatorConfig(
    port=0,
    accounts=(Account("esme", "secret"), Account("other", "pw")),
    redelivery_delay=0.05,
    max_redelivery_delay=0.2,
    response_timeout=0.5,
)


@pytest.fixture
async def make_simulator() -> AsyncIterator[MakeSimulator]:
    """Start simulators with ``FAST`` changed by keyword; all are stopped at the end."""
    started: list[Simulator] = []

    async def make(**changes: object) -> Simulator:
        simulator = Simulator(replace(FAST, **changes))  # type: ignore[arg-type]
        await simulator.start()
        started.append(simulator)
        return simulator

    yield make
    for simulator in started:
        await simulator.stop(timeout=0.5)


@pytest.fixture
async def simulator(make_simulator: MakeSimulator) -> Simulator:
    return await make_simulator()


@pytest.fixture
async def connect(simulator: Simulator) -> AsyncIterator[Connect]:
    """Connect test ESMEs to ``simulator``; bound with ``bind=...`` unless ``bind=None``."""
    clients: list[EsmeClient] = []

    async def make(
        bind: str | None = "transceiver",
        *,
        ack: Ack = 0,
        system_id: str = "esme",
        password: str = "secret",
        address_range: str = "",
        window: int = 10,
        port: int | None = None,
    ) -> EsmeClient:
        client = await EsmeClient.connect(port or simulator.port, ack=ack, window=window)
        clients.append(client)
        if bind is not None:
            response = await client.bind(bind, system_id, password, address_range=address_range)
            assert response.ok, response
        return client

    yield make
    for client in clients:
        client.abort()


@pytest.fixture
async def http(simulator: Simulator) -> AsyncIterator[httpx.AsyncClient]:
    """The simulator's HTTP API, called in-process (no port)."""
    transport = httpx.ASGITransport(app=create_app(simulator))
    async with httpx.AsyncClient(transport=transport, base_url="http://simulator") as client:
        yield client
