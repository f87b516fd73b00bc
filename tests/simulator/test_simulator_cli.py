"""``smslocker simulate`` and ``smslocker send``, through a typer app like the main one."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator

import pytest
import typer
from esme_client import Connect, EsmeClient
from typer.testing import CliRunner

from smslocker.log import configure_logging
from smslocker.settings import Settings
from smslocker.simulator import Simulator
from smslocker.simulator.cli import register
from smslocker.simulator.http import HttpApi

# The commands as the main app has them: registered, logging to stderr as configured.
APP_SCRIPT = (
    "import typer; from smslocker.simulator.cli import register; "
    "from smslocker.log import configure_logging; from smslocker.settings import get_settings; "
    "configure_logging(get_settings()); app = typer.Typer(); register(app); app()"
)


def cli_app() -> typer.Typer:
    app = typer.Typer()
    register(app)
    return app


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(autouse=True)
def _log_to_stderr() -> None:
    """As the main app does: stdout is for data (conftest undoes this after the test)."""
    configure_logging(Settings(log_level="WARNING"), cache_loggers=False)


@pytest.fixture
async def api(simulator: Simulator) -> AsyncIterator[HttpApi]:
    api = HttpApi(simulator, "127.0.0.1", 0)
    await api.start()
    yield api
    await api.stop()


async def invoke(*args: str) -> tuple[int, str, str]:
    # The command makes a blocking HTTP call to a server on this loop: run it off the loop.
    result = await asyncio.to_thread(CliRunner().invoke, cli_app(), list(args))
    return result.exit_code, result.stdout, result.stderr


async def test_send_injects_an_mo(api: HttpApi, connect: Connect) -> None:
    client = await connect("receiver")
    code, out, err = await invoke(
        "send",
        *("--simulator", f"http://127.0.0.1:{api.port}"),
        *("--source", "447700900001", "--destination", "447700900002"),
        *("--text", "x" * 200, "--split", "sar", "--shuffle"),
    )
    assert code == 0, err
    answer = json.loads(out)
    assert answer["parts"] == 2
    pdus = await client.deliveries(2)
    assert {len(pdu.short_message) for pdu in pdus} == {152, 48}


async def test_send_reports_a_refused_message(api: HttpApi) -> None:
    code, out, err = await invoke(
        "send",
        *("--simulator", f"http://127.0.0.1:{api.port}"),
        *("--source", "1", "--destination", "2", "--text", "🔐", "--data-coding", "0"),
    )
    assert code == 1
    assert out == ""
    assert "422" in err
    assert "GSM" in err


async def test_send_reports_an_unreachable_simulator() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    code, _out, err = await invoke(
        "send", "--simulator", url, "--source", "1", "--destination", "2", "--text", "x"
    )
    assert code == 1
    assert "cannot reach the simulator" in err


async def _connect_when_listening(port: int, process: asyncio.subprocess.Process) -> EsmeClient:
    # A process opening its port fires no event we can await: poll, within a deadline.
    async with asyncio.timeout(20):
        while True:
            assert process.returncode is None, "the simulator exited early"
            try:
                return await EsmeClient.connect(port)
            except OSError:
                await asyncio.sleep(0.05)


async def test_simulate_load_waits_for_a_bind_and_prints_its_report() -> None:
    smpp_port = free_port()
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-c", APP_SCRIPT, "simulate"),
        *("--smpp-port", str(smpp_port), "--http-port", str(free_port())),
        *("--system-id", "bench", "--password", "pw"),
        *("--load", "500", "--load-rate", "0", "--load-numbers", "7", "--load-window", "20"),
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "SMSLOCKER_LOG_LEVEL": "WARNING"},
    )
    try:
        client = await _connect_when_listening(smpp_port, process)
        assert (await client.bind("receiver", "bench", "pw")).ok
        stdout, _ = await asyncio.wait_for(process.communicate(), 20)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0
    report = json.loads(stdout.decode().strip().splitlines()[-1])
    assert (report["sent"], report["acked"], report["numbers"], report["window"]) == (
        500,
        500,
        7,
        20,
    )
    assert report["cpu_s"] > 0
    assert len(client.received) == 500
    await client.wait_closed()


async def test_simulate_says_where_it_listens_and_stops_on_sigterm() -> None:
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-c", APP_SCRIPT, "simulate", "--smpp-port", "0", "--http-port", "0"),
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "SMSLOCKER_LOG_LEVEL": "WARNING"},
    )
    try:
        assert process.stdout is not None
        ready = json.loads(await asyncio.wait_for(process.stdout.readline(), 20))
        assert ready["event"] == "ready"
        client = await EsmeClient.connect(ready["smpp_port"])
        assert (await client.bind("transceiver", "anyone", "at all")).ok
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 10) == 0
        assert client.unbound.done()  # a graceful stop unbinds
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
