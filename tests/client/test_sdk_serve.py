"""End to end through the SDK: ``smslocker serve`` as a real process (embedded SQLite in
a temporary data folder) bound to the SMSC simulator; the SDK rents, the simulator
delivers an SMS over SMPP, ``wait_for_code`` returns its code, the rental is released."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from serve_support import cli, environment, serve
from smslocker.client import AsyncClient
from smslocker.simulator import Account, Simulator, SimulatorConfig

# Three process starts (import, key, serve) on a busy 2-core machine.
pytestmark = pytest.mark.timeout(120)

NUMBER = "+14155550142"


async def test_the_sdk_rents_receives_a_code_and_releases_on_a_real_server(
    tmp_path: Path,
) -> None:
    env = environment(tmp_path / "data")
    (tmp_path / "numbers.csv").write_text(f"number\n{NUMBER}\n")
    await cli(tmp_path, env, "numbers", "import", "numbers.csv", "--connector", "sim")
    created = await cli(
        tmp_path, env, "keys", "create", "--account", "qa", "--create-account", "--balance", "500"
    )
    key = created[-1]

    config = SimulatorConfig(port=0, accounts=(Account("esme", "secret"),))
    async with Simulator(config) as simulator:
        env["SMSLOCKER_CONNECTORS"] = json.dumps(
            [
                {
                    "name": "sim",
                    "host": "127.0.0.1",
                    "port": simulator.port,
                    "system_id": "esme",
                    "password": "secret",
                    "bind": "receiver",
                }
            ]
        )
        # Short polls: the flow must not depend on the server announcing the message.
        async with (
            serve(tmp_path, env) as server,
            AsyncClient(server.url, key, poll_s=2) as client,
        ):
            assert (await client.available(country="US")).total == 1
            async with client.rent(country="US", service="google") as rental:
                assert rental.number == NUMBER
                waiting = asyncio.create_task(rental.wait_for_code(timeout=30))
                await simulator.wait_for_receiver(timeout=30)
                simulator.inject_mo("447700900001", NUMBER.lstrip("+"), "G-271828 is your code")
                assert await waiting == "271828"
                [message] = await rental.messages()
                assert message.text == "G-271828 is your code"
            assert rental.status == "completed"
            assert (await client.rental(rental.id)).messages_count == 1
