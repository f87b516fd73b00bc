"""``smslocker serve`` as a real process: ready line, /healthz, a number rented over HTTP
receives an SMS that the simulator delivers over SMPP, the access log keeps query
strings (and so ``access_token``) out, and SIGTERM stops it cleanly. Embedded default
(SQLite in a data folder, in-process bus)."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path
from typing import Any

import httpx
from api_support import auth

from serve_support import STOP_S, Served, cli, environment, serve
from smslocker.simulator import Account, Simulator, SimulatorConfig

NUMBER = "+14155550100"


async def stop(served: Served) -> int:
    served.process.send_signal(signal.SIGTERM)
    return await asyncio.wait_for(served.process.wait(), STOP_S)


async def test_serve_rents_and_receives_and_stops_on_sigterm(tmp_path: Path) -> None:
    env = environment(tmp_path / "data")
    (tmp_path / "numbers.csv").write_text(f"number\n{NUMBER}\n")
    await cli(tmp_path, env, "numbers", "import", "numbers.csv", "--connector", "sim")
    lines = await cli(
        tmp_path,
        env,
        "keys",
        "create",
        "--account",
        "alice",
        "--create-account",
        "--balance",
        "1000",
    )
    key = lines[-1]

    config = SimulatorConfig(port=0, accounts=(Account("esme", "secret"),))
    async with Simulator(config) as simulator:
        connectors = [
            {
                "name": "sim",
                "host": "127.0.0.1",
                "port": simulator.port,
                "system_id": "esme",
                "password": "secret",
                "bind": "receiver",
            }
        ]
        env["SMSLOCKER_CONNECTORS"] = json.dumps(connectors)
        async with serve(tmp_path, env) as served:
            assert served.ready["role"] == "all"
            assert served.ready["connectors"] == ["sim"]
            async with httpx.AsyncClient(base_url=served.url, timeout=30) as client:
                assert (await client.get("/healthz")).json() == {"status": "ok"}
                assert (await client.get("/readyz")).status_code == 200
                assert "paths" in (await client.get("/openapi.json")).json()

                response = await client.post(
                    "/api/rent", json={"number": NUMBER}, headers=auth(key)
                )
                assert response.status_code == 201, response.text
                session = response.json()

                await simulator.wait_for_receiver(timeout=30)
                simulator.inject_mo("447700900001", NUMBER.lstrip("+"), "Your code is 314159")
                messages: list[dict[str, Any]] = []
                async with asyncio.timeout(30):
                    while not messages:
                        response = await client.get(
                            "/api/messages",
                            params={"session_id": session["session_id"], "wait": 5},
                            headers=auth(key),
                        )
                        assert response.status_code == 200, response.text
                        messages = response.json()["messages"]
                assert messages[0]["text"] == "Your code is 314159"
                assert messages[0]["codes"][0]["value"] == "314159"

                # The key as a query parameter works, and never reaches the log.
                response = await client.get(
                    f"/api/v1/rentals/{session['id']}/code", params={"access_token": key}
                )
                assert response.json()["code"] == "314159"

                # SIGTERM during a long-poll: it is answered, then the process ends.
                poll = asyncio.create_task(
                    client.get(
                        f"/api/v1/rentals/{session['id']}/messages",
                        params={"after": messages[-1]["id"], "wait": 60},
                        headers=auth(key),
                    )
                )
                await asyncio.sleep(0.5)
                started = asyncio.get_running_loop().time()
                assert await stop(served) == 0
                response = await poll
                assert response.status_code == 200
                assert response.json()["messages"] == []
                assert asyncio.get_running_loop().time() - started < 15
    log = served.stderr.read_text()
    assert f"/api/v1/rentals/{session['id']}/code" in log
    assert key not in log
    assert "access_token" not in log
    assert "serve.stopped" in log


async def test_a_gateway_only_process_answers_health_only(tmp_path: Path) -> None:
    env = environment(tmp_path / "data")
    async with serve(tmp_path, env, "--role", "gateway") as served:
        assert served.ready["role"] == "gateway"
        async with httpx.AsyncClient(base_url=served.url, timeout=30) as client:
            assert (await client.get("/healthz")).status_code == 200
            assert (await client.get("/api/v1/rentals")).status_code == 404
        assert await stop(served) == 0
