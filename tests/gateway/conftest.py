"""Fixtures of the connector tests: a fake SMSC on loopback, the proxy in front of it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from adversity_proxy import AdversityProxy
from fake_smsc import FakeSmsc


@pytest.fixture
async def smsc() -> AsyncIterator[FakeSmsc]:
    async with FakeSmsc() as server:
        yield server


@pytest.fixture
async def proxy(smsc: FakeSmsc) -> AsyncIterator[AdversityProxy]:
    async with AdversityProxy(smsc.port) as server:
        yield server
