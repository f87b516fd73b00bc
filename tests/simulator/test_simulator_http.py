"""The HTTP API: 202 for a good MO, a 4xx with a message for every bad input, never a 500."""

from __future__ import annotations

import httpx
import pytest
from esme_client import Connect

from smslocker.simulator import Simulator
from smslocker.simulator.http import HttpApi

GOOD = {"source": "447700900001", "destination": "447700900002", "text": "hi"}


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"destination": "447700900002", "text": "hi"}, 422, "source"),
        ({**GOOD, "split": "udh32"}, 422, "split"),
        ({**GOOD, "text": "emoji 🔐", "data_coding": 0}, 422, "no GSM 03.38 code"),
        ({**GOOD, "text": "Ωmega €", "data_coding": 3}, 422, "cannot be encoded"),
        ({**GOOD, "data_coding": 4}, 422, "cannot carry text"),
        ({**GOOD, "data_coding": 256}, 422, "data_coding"),
        ({**GOOD, "text": "x" * 40_000}, 422, "segments"),
        ({**GOOD, "source": "x" * 21}, 422, "source"),
        ({**GOOD, "source": "Ωmega"}, 422, "source_addr"),
        ({**GOOD, "text": 42}, 422, "text"),
        ({**GOOD, "colour": "blue"}, 422, "colour"),
        ({**GOOD, "shuffle": "sometimes"}, 422, "shuffle"),
    ],
)
async def test_bad_mo_bodies_get_a_4xx_with_a_message(
    http: httpx.AsyncClient, body: dict[str, object], status: int, words: str
) -> None:
    response = await http.post("/mo", json=body)
    assert response.status_code == status, response.text
    assert words in response.text


async def test_bad_json_gets_a_4xx(http: httpx.AsyncClient) -> None:
    response = await http.post(
        "/mo", content=b'{"source": "1",', headers={"content-type": "application/json"}
    )
    assert 400 <= response.status_code < 500
    assert "JSON" in response.text


async def test_a_good_mo_is_accepted_and_queryable(
    http: httpx.AsyncClient, connect: Connect
) -> None:
    response = await http.post("/mo", json=GOOD)
    assert response.status_code == 202
    accepted = response.json()
    assert accepted["parts"] == 1
    queued = (await http.get(f"/mo/{accepted['id']}")).json()
    assert (queued["state"], queued["attempts"], queued["kind"]) == ("queued", 0, "mo")
    client = await connect("receiver")
    await client.next_deliver()
    await client.sync()
    delivered = (await http.get(f"/mo/{accepted['id']}")).json()
    assert delivered["state"] == "delivered"
    assert delivered["parts"][0]["delivered_to"].startswith("session-")


async def test_unknown_message_is_404(http: httpx.AsyncClient) -> None:
    response = await http.get("/mo/nope")
    assert response.status_code == 404
    assert "nope" in response.json()["detail"]


async def test_sessions_and_stats(http: httpx.AsyncClient, connect: Connect) -> None:
    await connect("receiver")
    await connect("transmitter", system_id="other", password="pw")
    sessions = (await http.get("/sessions")).json()
    assert sorted((s["system_id"], s["bind"]) for s in sessions) == [
        ("esme", "receiver"),
        ("other", "transmitter"),
    ]
    stats = (await http.get("/stats")).json()
    assert (stats["bound_sessions"], stats["binds"], stats["mode"]) == (2, 2, "normal")


async def test_control_switches_the_mode(http: httpx.AsyncClient, simulator: Simulator) -> None:
    response = await http.post("/control", json={"mode": "drop_after", "count": 3})
    assert response.json() == {"mode": "drop_after", "count": 3, "delay": 1.0}
    assert simulator.mode.count == 3
    assert (await http.get("/control")).json()["mode"] == "drop_after"
    refused = await http.post("/control", json={"mode": "sulk"})
    assert refused.status_code == 422
    negative = await http.post("/control", json={"mode": "slow_acks", "delay": -1})
    assert negative.status_code == 422
    assert simulator.mode.mode == "drop_after"


async def test_load(http: httpx.AsyncClient, connect: Connect) -> None:
    nobody = await http.post("/load", json={"count": 10})
    assert nobody.status_code == 409
    assert "receiver" in nobody.json()["detail"]
    await connect("receiver")
    response = await http.post("/load", json={"count": 500, "numbers": 5, "window": 50})
    assert response.status_code == 200
    assert response.json()["acked"] == 500
    bad = await http.post("/load", json={"count": 0})
    assert bad.status_code == 422


async def test_healthz(http: httpx.AsyncClient, simulator: Simulator) -> None:
    assert (await http.get("/healthz")).json() == {"status": "ok", "smpp_port": simulator.port}


async def test_served_by_uvicorn_on_a_real_port(simulator: Simulator, connect: Connect) -> None:
    api = HttpApi(simulator, "127.0.0.1", 0)
    await api.start()
    try:
        client = await connect("receiver")
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{api.port}") as http:
            assert (await http.get("/healthz")).status_code == 200
            response = await http.post("/mo", json={**GOOD, "text": "over the wire"})
            assert response.status_code == 202
        assert (await client.next_deliver()).short_message == b"over the wire"
    finally:
        await api.stop()
