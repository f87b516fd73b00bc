"""``smslocker demo`` as a real process: it seeds the platform (pool, connector bound to
the simulator, keys), a rented number receives what the simulator delivers, a restart
prints the same keys and adds nothing twice, ``--traffic`` sends codes to rented numbers
by itself, and SIGINT (Ctrl-C) stops it cleanly."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import httpx
import pytest

from demo_support import demo_environment, running_demo
from smslocker.demo_seed import CONNECTOR, DEMO_NUMBERS, demo_numbers
from smslocker.demo_traffic import DEMO_SERVICES

pytestmark = pytest.mark.timeout(240)

#: Seconds a long-poll may wait for a message (the API caps a wait at 60).
WAIT_S = 30


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def test_demo_seeds_serves_and_keeps_its_keys_across_restarts(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = demo_environment(data)

    async with running_demo(tmp_path / "run", env) as demo:
        admin_key = demo.banner_value("admin key")
        user_key = demo.banner_value("user key")
        assert admin_key.startswith("slk_")
        assert user_key.startswith("slk_")
        assert admin_key != user_key
        assert (demo.env["KEY"], demo.env["ADMIN_KEY"]) == (user_key, admin_key)
        # Keys are kept for the next start, readable by their owner only.
        for name in ("demo.json", "demo.env"):
            assert stat.S_IMODE((data / name).stat().st_mode) == 0o600
        assert f"connector {CONNECTOR} bound" in "\n".join(demo.banner)

        async with httpx.AsyncClient(base_url=demo.url, timeout=60) as client:
            numbers = await _pool(client, admin_key)
            assert sorted(n["number"] for n in numbers) == sorted(n for n, _ in demo_numbers())
            assert {n["country"] for n in numbers} == set(DEMO_NUMBERS)
            assert {n["connector"] for n in numbers} == {CONNECTOR}
            connectors = await client.get("/api/v1/admin/connectors", headers=bearer(admin_key))
            assert [c["name"] for c in connectors.json()["connectors"]] == [CONNECTOR]

            # The pages and the API docs a person opens in a browser.
            for page in ("/", "/console", "/docs"):
                answer = await client.get(page)
                assert answer.status_code == 200, page
                assert answer.headers["content-type"].startswith("text/html"), page

            # The user key rents, not administers.
            forbidden = await client.get("/api/v1/admin/numbers", headers=bearer(user_key))
            assert forbidden.status_code == 403
            available = await client.get("/api/v1/numbers", headers=bearer(user_key))
            assert available.json()["total"] == len(demo_numbers())

            rental = await _rent(client, user_key, {"country": "DE", "service": "telegram"})
            await _inject(demo.simulator_url, "Telegram", rental["number"], "Telegram code: 55120")
            code = await client.get(
                f"/api/v1/rentals/{rental['id']}/code",
                params={"wait": WAIT_S},
                headers=bearer(user_key),
            )
            assert code.json()["code"] == "55120"
            assert code.json()["source"] == "Telegram"
    assert demo.returncode == 0

    async with running_demo(tmp_path / "run", env) as again:
        assert again.banner_value("admin key") == admin_key
        assert again.banner_value("user key") == user_key
        async with httpx.AsyncClient(base_url=again.url, timeout=60) as client:
            assert len(await _pool(client, admin_key)) == len(demo_numbers())
            connectors = await client.get("/api/v1/admin/connectors", headers=bearer(admin_key))
            assert [c["name"] for c in connectors.json()["connectors"]] == [CONNECTOR]
            mine = await client.get("/api/v1/rentals", headers=bearer(user_key))
            assert [r["id"] for r in mine.json()["rentals"]] == [rental["id"]]
            # The connector follows the simulator to this start's port and binds again.
            rental = await _rent(client, user_key, {"country": "AU"})
            await _inject(again.simulator_url, "Uber", rental["number"], "Your Uber code: 8812")
            code = await client.get(
                f"/api/v1/rentals/{rental['id']}/code",
                params={"wait": WAIT_S},
                headers=bearer(user_key),
            )
            assert code.json()["code"] == "8812"
    assert again.returncode == 0


async def test_demo_traffic_sends_codes_to_rented_numbers(tmp_path: Path) -> None:
    env = demo_environment(tmp_path / "data")
    args = ("--traffic", "--traffic-interval", "0.2")
    async with running_demo(tmp_path / "run", env, *args) as demo:
        assert "traffic     on" in "\n".join(demo.banner)
        user_key = demo.env["KEY"]
        async with httpx.AsyncClient(base_url=demo.url, timeout=60) as client:
            rental = await _rent(client, user_key, {"country": "BR", "service": "whatsapp"})
            code = None
            for _ in range(10):  # a long-poll each: a round skips a rental at random
                answer = await client.get(
                    f"/api/v1/rentals/{rental['id']}/code",
                    params={"wait": WAIT_S},
                    headers=bearer(user_key),
                )
                code = answer.json()
                if code["code"] is not None:
                    break
            assert code is not None
            assert code["code"] is not None, "no code arrived without sending one"
            # The rental is for WhatsApp: the player sends WhatsApp's messages to it.
            assert code["source"] == "WhatsApp"
            assert len(code["code"]) == 6
            messages = await client.get(
                f"/api/v1/rentals/{rental['id']}/messages", headers=bearer(user_key)
            )
            senders = {sender for sender, _ in DEMO_SERVICES}
            assert {m["source"] for m in messages.json()["messages"]} <= senders
    assert demo.returncode == 0


async def _pool(client: httpx.AsyncClient, admin_key: str) -> list[dict[str, Any]]:
    response = await client.get(
        "/api/v1/admin/numbers", params={"limit": 500}, headers=bearer(admin_key)
    )
    assert response.status_code == 200, response.text
    numbers: list[dict[str, Any]] = response.json()["numbers"]
    return numbers


async def _rent(client: httpx.AsyncClient, key: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post("/api/v1/rentals", json=body, headers=bearer(key))
    assert response.status_code == 201, response.text
    rental: dict[str, Any] = response.json()
    return rental


async def _inject(simulator_url: str, source: str, destination: str, text: str) -> None:
    """An SMS from ``source`` through the simulator (as a carrier would deliver it)."""
    body = {"source": source, "destination": destination, "text": text}
    async with httpx.AsyncClient(timeout=30) as simulator:
        response = await simulator.post(f"{simulator_url}/mo", json=body)
    assert response.status_code == 202, response.text
