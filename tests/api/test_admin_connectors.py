"""Admin API: connectors — add, list with live state, change, start, stop, remove — and the
whole path: a connector added through the API binds to the simulator under a manager and
an SMS injected there lands in a renter's inbox."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any

import httpx
import pytest
from api_support import POLICY, FakeClock, MakeAccount, SeedNumbers, auth
from fastapi import FastAPI

from smslocker.gateway.manager import ConnectorManager
from smslocker.gateway.registry import get_connector
from smslocker.platform import Platform
from smslocker.rentals import RentRequest, rent
from smslocker.routing.inbox import rental_messages
from smslocker.routing.ingest import StoreSink
from smslocker.simulator.core import Account, SimulatorConfig
from smslocker.simulator.smsc import Simulator
from smslocker.store.types import utcnow

BASE = "/api/v1/admin/connectors"
SMPP = {
    "name": "carrier",
    "host": "127.0.0.1",
    "port": 2775,
    "system_id": "smslocker",
    "password": "pw7Q9zX",
    "bind": "transceiver",
    "system_type": "OTP",
    "window": 20,
    "enquire_link_s": 5,
    "options": {"reconnect_initial": 0.05, "reconnect_max": 0.2},
}


async def admin(make_account: MakeAccount) -> dict[str, str]:
    _account_id, key = await make_account("root", 0, "admin")
    return auth(key)


async def wait_until(predicate: Callable[[], Any], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while True:
            if await predicate():
                return
            await asyncio.sleep(0.01)


async def test_an_smpp_connector_is_added_without_echoing_its_password(
    client: httpx.AsyncClient, platform: Platform, make_account: MakeAccount
) -> None:
    headers = await admin(make_account)
    created = await client.post(BASE, json=SMPP, headers=headers)
    assert created.status_code == 201, created.text
    body = created.json()
    assert "pw7Q9zX" not in created.text
    assert (body["name"], body["bind"], body["host"], body["port"]) == (
        "carrier",
        "transceiver",
        "127.0.0.1",
        2775,
    )
    assert (body["has_password"], body["has_secret"], body["enabled"]) == (True, False, True)
    assert body["options"] == {
        "system_type": "OTP",
        "window": 20,
        "enquire_link_interval": 5,
        "reconnect_initial": 0.05,
        "reconnect_max": 0.2,
    }
    assert (body["state"], body["owner"], body["stats"]) == ("unassigned", None, None)
    stored = await get_connector(platform.db, "carrier")
    assert stored.password == "pw7Q9zX"
    duplicate = await client.post(BASE, json=SMPP, headers=headers)
    assert duplicate.status_code == 409
    assert duplicate.json()["type"].endswith("/connector-exists")


@pytest.mark.parametrize(
    ("change", "kind"),
    [
        ({"password": "longer-than-8"}, "validation-error"),
        ({"system_id": "x" * 16}, "validation-error"),
        ({"bind": "both"}, "validation-error"),
        ({"port": 0}, "validation-error"),
        ({"name": "has space"}, "validation-error"),
        ({"host": ""}, "invalid-connector"),
        ({"options": {"colour": "blue"}}, "invalid-connector"),
        ({"options": {"throttle": "fast"}}, "invalid-connector"),
        ({"public_url": "https://example.com/hook"}, "invalid-connector"),
        ({"surprise": 1}, "validation-error"),
    ],
)
async def test_a_connector_that_makes_no_bind_is_422(
    client: httpx.AsyncClient, make_account: MakeAccount, change: dict[str, Any], kind: str
) -> None:
    headers = await admin(make_account)
    response = await client.post(BASE, json={**SMPP, **change}, headers=headers)
    assert response.status_code == 422, response.text
    assert response.json()["type"].endswith("/" + kind)


async def test_an_http_ingress_keeps_its_secret_write_only(
    client: httpx.AsyncClient, platform: Platform, make_account: MakeAccount
) -> None:
    headers = await admin(make_account)
    created = await client.post(
        BASE,
        json={"name": "twilio", "bind": "http", "http_secret": "tw-token"},
        headers=headers,
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert "tw-token" not in created.text
    assert (body["has_secret"], body["state"], body["ingest_path"]) == (
        True,
        "ready",
        "/api/v1/ingest/twilio",
    )
    assert (body["host"], body["port"], body["system_id"]) == (None, None, None)
    assert (await get_connector(platform.db, "twilio")).http_secret == "tw-token"
    cleared = await client.patch(f"{BASE}/twilio", json={"http_secret": None}, headers=headers)
    assert cleared.json()["has_secret"] is False
    bad = await client.post(
        BASE, json={"name": "x", "bind": "http", "options": {"window": 3}}, headers=headers
    )
    assert bad.status_code == 422


async def test_connectors_are_listed_changed_stopped_started_and_removed(
    client: httpx.AsyncClient, make_account: MakeAccount
) -> None:
    headers = await admin(make_account)
    await client.post(BASE, json=SMPP, headers=headers)
    await client.post(BASE, json={"name": "api-in", "bind": "http"}, headers=headers)
    listed = (await client.get(BASE, headers=headers)).json()["connectors"]
    assert [c["name"] for c in listed] == ["api-in", "carrier"]

    patched = await client.patch(
        f"{BASE}/carrier",
        json={"host": "smsc.example.net", "port": 2776, "window": None, "options": {"tls": True}},
        headers=headers,
    )
    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert (body["host"], body["port"]) == ("smsc.example.net", 2776)
    assert "window" not in body["options"]
    assert body["options"]["tls"] is True
    # updated_at always moves (a gateway binds again on it), even on a clock that stands still
    assert datetime.fromisoformat(body["updated_at"]) > datetime.fromisoformat(
        listed[1]["updated_at"]
    )
    refused = await client.patch(f"{BASE}/carrier", json={"password": "x" * 9}, headers=headers)
    assert refused.status_code == 422

    stopped = await client.post(f"{BASE}/carrier/stop", headers=headers)
    assert (stopped.json()["enabled"], stopped.json()["state"]) == (False, "stopped")
    started = await client.post(f"{BASE}/carrier/start", headers=headers)
    assert (started.json()["enabled"], started.json()["state"]) == (True, "unassigned")

    assert (await client.delete(f"{BASE}/carrier", headers=headers)).status_code == 204
    for method, path in (
        ("GET", f"{BASE}/carrier"),
        ("DELETE", f"{BASE}/carrier"),
        ("POST", f"{BASE}/carrier/start"),
        ("PATCH", f"{BASE}/carrier"),
    ):
        response = await client.request(method, path, json={}, headers=headers)
        assert response.status_code == 404, (method, path)
        assert response.json()["type"].endswith("/connector-not-found")


@pytest.fixture
async def simulator() -> AsyncIterator[Simulator]:
    config = SimulatorConfig(port=0, accounts=(Account("smslocker", "pw7Q9zX"),))
    async with Simulator(config) as smsc:
        yield smsc


@pytest.fixture
async def manager(app: FastAPI, platform: Platform) -> AsyncIterator[ConnectorManager]:
    """A gateway in this process, as ``smslocker serve`` (role all) runs it."""
    sink = StoreSink(platform.db, platform.settings.ingest, clock=platform.clock)
    manager = ConnectorManager(platform, sink, "gw-test", lease_s=15, interval=0.05)
    app.state.connector_manager = manager
    manager.start()
    try:
        yield manager
    finally:
        await manager.close()
        await sink.close()


async def test_a_connector_added_through_the_api_binds_and_delivers(
    client: httpx.AsyncClient,
    platform: Platform,
    make_account: MakeAccount,
    seed_numbers: SeedNumbers,
    simulator: Simulator,
    manager: ConnectorManager,
    clock: FakeClock,
) -> None:
    # A connector stamps what it receives with the real time: rent at the real time too.
    clock.now = utcnow()
    headers = await admin(make_account)
    created = await client.post(BASE, json={**SMPP, "port": simulator.port}, headers=headers)
    assert created.status_code == 201

    async def state() -> str:
        shown = (await client.get(f"{BASE}/carrier", headers=headers)).json()
        return str(shown["state"])

    await wait_until(lambda: _equals(state(), "bound"))
    shown = (await client.get(f"{BASE}/carrier", headers=headers)).json()
    assert (shown["owner"], shown["stats"]["binds"]) == ("gw-test", 1)

    account_id, _key = await make_account("alice")
    (number,) = await seed_numbers(1)
    rental = await rent(platform.db, account_id, RentRequest(number=number), platform.now(), POLICY)
    simulator.inject_mo("+447700900123", number.lstrip("+"), "Your code is 271828")

    async def received() -> bool:
        return bool(
            await rental_messages(platform.db, account_id, rental.id, ring=platform.keyring)
        )

    await wait_until(received)
    (message,) = await rental_messages(platform.db, account_id, rental.id, ring=platform.keyring)
    assert (message.connector, message.code) == ("carrier", "271828")

    await client.post(f"{BASE}/carrier/stop", headers=headers)
    await wait_until(lambda: _equals(state(), "stopped"))
    assert simulator.sessions() == []


async def _equals(value: Any, expected: str) -> bool:
    return bool(await value == expected)
