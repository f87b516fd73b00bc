"""``smslocker numbers import / list / show`` and ``smslocker db upgrade`` on SQLite."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli_support import run
from smslocker.settings import get_settings
from smslocker.store.db import async_url
from smslocker.store.migrate import head

CSV = """number,country,tags
+14155550100,,otp
4155550101,US,
+1 415 555,,
"""


@pytest.fixture
def data_dir(cli_home: Path) -> Path:
    return cli_home


def test_db_upgrade_creates_the_embedded_database(data_dir: Path) -> None:
    code, out, _err = run("db", "upgrade")
    assert code == 0, out
    assert out.startswith(f"database at revision {head()}")
    assert (data_dir / "data" / "smslocker.db").is_file()


def test_import_list_show(data_dir: Path) -> None:
    (data_dir / "numbers.csv").write_text(CSV)
    code, out, _err = run("numbers", "import", "numbers.csv", "--connector", "sim")
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0] == "imported 2, updated 0, rejected 1"
    assert lines[1].startswith("line 4: '+1 415 555': ")
    code, out, _err = run("numbers", "import", "numbers.csv", "--connector", "sim")
    assert out.splitlines()[0] == "imported 0, updated 2, rejected 1"

    code, out, _err = run("numbers", "list", "--country", "us")
    assert code == 0
    assert [line.split("\t")[0] for line in out.splitlines()] == ["+14155550100", "+14155550101"]
    assert out.splitlines()[0].split("\t")[1:] == [
        "US",
        "fixed_line_or_mobile",
        "-",
        "FREE",
        "sim",
        "-",
    ]

    code, out, _err = run("numbers", "show", "(415) 555-0100", "--country", "US")
    assert code == 0
    assert "e164: +14155550100" in out.splitlines()
    assert "tags: ('otp',)" in out.splitlines()


def test_errors_exit_nonzero_with_a_message(data_dir: Path) -> None:
    (data_dir / "bad.csv").write_text("phone\n+14155550100\n")
    code, _out, err = run("numbers", "import", "bad.csv")
    assert code == 2
    assert "no 'number' column" in err
    code, _out, err = run("numbers", "import", "missing.csv")
    assert (code, "no such file" in err) == (2, True)
    code, _out, err = run("numbers", "show", "+14155550199")
    assert (code, "not in the pool" in err) == (1, True)
    code, _out, err = run("numbers", "show", "garbage")
    assert code == 2


def test_database_urls_get_their_async_driver() -> None:
    assert async_url("postgresql://h/db") == "postgresql+asyncpg://h/db"
    assert async_url("postgres://h/db") == "postgresql+asyncpg://h/db"
    assert async_url("sqlite:///x.db") == "sqlite+aiosqlite:///x.db"
    assert async_url("postgresql+psycopg://h/db") == "postgresql+psycopg://h/db"
    assert async_url("sqlite+aiosqlite:///x.db") == "sqlite+aiosqlite:///x.db"


def test_probe_reports_each_connector_and_refuses_an_unknown_one(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json
    import socket

    with socket.socket() as closed:  # nothing listens there: the bind fails fast
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    connector = {
        "name": "dead",
        "host": "127.0.0.1",
        "port": port,
        "system_id": "x",
        "password": "y",
        "connect_timeout": 0.2,
    }
    monkeypatch.setenv("SMSLOCKER_CONNECTORS", json.dumps([connector]))
    get_settings.cache_clear()
    code, out, _err = run("numbers", "probe", "--limit", "5", "--bind-timeout", "0.5")
    assert code == 0, out
    assert out.strip() == "dead: skipped (cannot bind to its SMSC)"
    code, _out, err = run("numbers", "probe", "--connector", "nope")
    assert code == 1
    assert "no connector 'nope'" in err
