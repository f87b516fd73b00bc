"""End to end through the SDK: ``smslocker serve`` as a real process (embedded SQLite in
a temporary data folder) bound to the SMSC simulator; the SDK rents, the simulator
delivers an SMS over SMPP, ``wait_for_code`` returns its code, the rental is released."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from smslocker.client import AsyncClient
from smslocker.simulator import Account, Simulator, SimulatorConfig

# Three process starts (import, key, serve) on a busy 2-core machine.
pytestmark = pytest.mark.timeout(120)

NUMBER = "+14155550142"
#: Seconds a process may take to start (imports, migrations).
START_S = 45.0


def environment(data: Path) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("SMSLOCKER_")}
    env.update(SMSLOCKER_DATA_DIR=str(data), SMSLOCKER_LOG_FORMAT="json")
    return env


async def smslocker(cwd: Path, env: dict[str, str], *args: str) -> list[str]:
    """Run ``smslocker ARGS`` to the end; its stdout lines."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "smslocker",
        *args,
        cwd=cwd,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), START_S)
    assert process.returncode == 0, err.decode()
    return out.decode().splitlines()


@contextlib.asynccontextmanager
async def served(cwd: Path, env: dict[str, str]) -> AsyncIterator[str]:
    """``smslocker serve --port 0`` until its ready line; yields its URL; killed after."""
    with (cwd / "serve.log").open("wb") as errors:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "smslocker",
            "serve",
            "--port",
            "0",
            cwd=cwd,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=errors,
        )
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), START_S)
        assert line, f"serve ended before it was ready:\n{(cwd / 'serve.log').read_text()}"
        yield str(json.loads(line)["url"])
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def test_the_sdk_rents_receives_a_code_and_releases_on_a_real_server(
    tmp_path: Path,
) -> None:
    env = environment(tmp_path / "data")
    (tmp_path / "numbers.csv").write_text(f"number\n{NUMBER}\n")
    await smslocker(tmp_path, env, "numbers", "import", "numbers.csv", "--connector", "sim")
    created = await smslocker(
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
        async with served(tmp_path, env) as url, AsyncClient(url, key, poll_s=2) as client:
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
