"""``smslocker connectors add / list / show / start / stop / remove`` on the embedded SQLite.

The rows are the ones the admin API manages (the registry is tested on both databases
through the API); here the commands, their output and their errors.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from cli_support import run
from smslocker.gateway.registry import get_connector
from smslocker.store import open_database


@pytest.fixture
def data_dir(cli_home: Path) -> Path:
    return cli_home


def stored(data_dir: Path, name: str) -> object:
    async def read() -> object:
        database = open_database(f"sqlite:///{data_dir / 'data' / 'smslocker.db'}")
        try:
            return await get_connector(database, name)
        finally:
            await database.close()

    return asyncio.run(read())


def test_add_list_stop_start_remove(data_dir: Path) -> None:
    code, out, err = run(
        "connectors", "add", "carrier",
        "--host", "smsc.example.net", "--port", "2775",
        "--system-id", "smslocker", "--password", "pw7Q9zX",
        "--bind", "transceiver", "--window", "20", "--enquire-link-s", "15",
    )  # fmt: skip
    assert code == 0, err
    assert out.startswith("added carrier  transceiver  smsc.example.net:2775  enabled  unassigned")
    assert "pw7Q9zX" not in out
    record = stored(data_dir, "carrier")
    assert record.password == "pw7Q9zX"  # type: ignore[attr-defined]
    assert record.options == {"window": 20, "enquire_link_interval": 15.0}  # type: ignore[attr-defined]

    code, out, err = run("connectors", "add", "twilio", "--bind", "http", "--http-secret", "tok")
    assert code == 0, err
    assert "/api/v1/ingest/twilio" in out
    assert "tok" not in out

    code, out, _err = run("connectors", "list")
    assert [line.split("  ")[0] for line in out.splitlines()] == ["carrier", "twilio"]

    code, out, _err = run("connectors", "stop", "carrier")
    assert (code, out.split("  ")[3:5]) == (0, ["disabled", "stopped"])
    code, out, _err = run("connectors", "start", "carrier")
    assert out.split("  ")[3] == "enabled"
    code, out, _err = run("connectors", "show", "carrier")
    assert out.startswith("carrier  transceiver")

    code, out, _err = run("connectors", "remove", "carrier")
    assert (code, out.strip()) == (0, "removed carrier")
    code, _out, err = run("connectors", "show", "carrier")
    assert code == 1
    assert "no connector named 'carrier'" in err


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--host", "h", "--password", "longer-than-8"], "password"),
        (["--host", "h", "--bind", "both"], "bind"),
        (["--bind", "receiver"], "host"),
    ],
)
def test_a_connector_that_makes_no_bind_is_refused(
    data_dir: Path, args: list[str], says: str
) -> None:
    code, _out, err = run("connectors", "add", "carrier", *args)
    assert code == 1
    assert says in err
    code, out, _err = run("connectors", "list")
    assert out == ""


def test_a_taken_name_is_refused(data_dir: Path) -> None:
    assert run("connectors", "add", "a", "--host", "h")[0] == 0
    code, _out, err = run("connectors", "add", "a", "--host", "h")
    assert code == 1
    assert "exists already" in err
