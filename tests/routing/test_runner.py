"""The gateway process: connectors from settings, in-process and as ``smslocker gateway``."""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from routing_support import stored, wait_until

from smslocker.privacy.bodies import open_body
from smslocker.privacy.keyring import KeyRing
from smslocker.routing.runner import run_gateway
from smslocker.settings import Settings
from smslocker.simulator import Simulator, SimulatorConfig
from smslocker.store import Database


def connector_entry(port: int, name: str = "sim") -> dict[str, object]:
    return {
        "name": name,
        "host": "127.0.0.1",
        "port": port,
        "system_id": "smslocker",
        "bind": "receiver",
        "reconnect_initial": 0.05,
        "reconnect_max": 0.2,
    }


def opened(rows: list[Any], data_dir: Path) -> list[str | None]:
    """The texts of stored rows: sealed at rest by default, with the data folder's key ring
    (the clear ``text`` column stays empty)."""
    ring = KeyRing.load(data_dir / "keys" / "message-keys.json")
    assert all(row.text is None for row in rows)
    return [open_body(ring, row.sealed).text for row in rows]


def test_connectors_come_from_the_environment_as_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMSLOCKER_CONNECTORS", json.dumps([connector_entry(2775)]))
    [config] = Settings().connector_configs()
    assert (config.name, config.port, config.bind.value) == ("sim", 2775, "receiver")


def test_connectors_come_from_toml_tables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "smslocker.toml"
    path.write_text(
        '[[connectors]]\nname = "a"\nhost = "10.0.0.1"\nport = 2775\nsystem_id = "me"\n\n'
        '[[connectors]]\nname = "b"\nhost = "10.0.0.2"\nport = 2776\nsystem_id = "me"\n'
    )
    monkeypatch.setenv("SMSLOCKER_CONFIG", str(path))
    assert [c.name for c in Settings().connector_configs()] == ["a", "b"]


@pytest.mark.parametrize(
    "connectors",
    [
        [{"name": "a", "host": "h", "port": 0, "system_id": "x"}],  # port out of range
        [{"name": "a", "host": "h", "port": 1, "system_id": "x", "typo": 1}],
        [
            {"name": "a", "host": "h", "port": 1, "system_id": "x"},
            {"name": "a", "host": "h", "port": 2, "system_id": "x"},
        ],
    ],
)
def test_bad_connectors_are_refused_on_load(connectors: list[dict[str, object]]) -> None:
    with pytest.raises(ValidationError):
        Settings(connectors=connectors)


async def test_the_gateway_stores_what_its_connectors_receive(tmp_path: Path) -> None:
    async with Simulator(SimulatorConfig(port=0, redelivery_delay=0.05)) as simulator:
        settings = Settings(
            data_dir=tmp_path,
            connectors=[connector_entry(simulator.port)],
        )
        stop = asyncio.Event()
        out = io.StringIO()
        gateway = asyncio.create_task(run_gateway(settings, stop=stop, out=out))
        await simulator.wait_for_receiver(timeout=10)
        assert json.loads(out.getvalue()) == {
            "event": "ready",
            "database": "sqlite+aiosqlite",
            "connectors": ["sim"],
        }
        for i in range(20):
            simulator.inject_mo("Google", "447700900100", f"G-{100000 + i} is your code")
        await wait_until(lambda: simulator.stats().acked >= 20)
        stop.set()
        await asyncio.wait_for(gateway, 10)
    database = Database(settings.resolved_database_url())
    try:
        rows = await stored(database)
    finally:
        await database.close()
    assert sorted(opened(rows, tmp_path)) == sorted(
        f"G-{100000 + i} is your code" for i in range(20)
    )
    assert {row.service for row in rows} == {"google"}  # the sender directory is wired in


async def test_smslocker_gateway_runs_as_a_process_and_stops_on_sigterm(tmp_path: Path) -> None:
    async with Simulator(SimulatorConfig(port=0, redelivery_delay=0.05)) as simulator:
        env = {
            **os.environ,
            "SMSLOCKER_DATA_DIR": str(tmp_path),
            "SMSLOCKER_CONNECTORS": json.dumps([connector_entry(simulator.port)]),
            "SMSLOCKER_LOG_LEVEL": "WARNING",
        }
        env.pop("SMSLOCKER_DATABASE_URL", None)
        env.pop("SMSLOCKER_CONFIG", None)
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "smslocker", "gateway",
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        try:
            assert process.stdout is not None
            ready = await asyncio.wait_for(process.stdout.readline(), 30)
            assert json.loads(ready)["event"] == "ready"
            await simulator.wait_for_receiver(timeout=10)
            simulator.inject_mo("447700900001", "447700900100", "hello from the process")
            await wait_until(lambda: simulator.stats().acked >= 1)
            process.send_signal(signal.SIGTERM)
            _out, err = await asyncio.wait_for(process.communicate(), 15)
            assert process.returncode == 0, err.decode()
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'smslocker.db'}")
    try:
        assert opened(await stored(database), tmp_path) == ["hello from the process"]
    finally:
        await database.close()
