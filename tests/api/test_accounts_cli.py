"""``smslocker keys ...`` and ``smslocker accounts ...`` on the embedded database."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from cli_support import run
from smslocker.accounts import authenticate
from smslocker.store.db import Database


@pytest.fixture
def data_dir(cli_home: Path) -> Path:
    return cli_home / "data"


def principal_of(data: Path, key: str) -> object:
    async def check() -> object:
        database = Database(f"sqlite+aiosqlite:///{data / 'smslocker.db'}")
        try:
            return await authenticate(database, key)
        finally:
            await database.close()

    return asyncio.run(check())


def test_keys_create_needs_the_account_unless_told_to_create_it(data_dir: Path) -> None:
    code, _out, err = run("keys", "create", "--account", "alice", "--role", "user")
    assert code == 1
    assert "no account named 'alice'" in err
    assert "--create-account" in err

    code, out, _err = run(
        "keys", "create", "--account", "alice", "--create-account", "--balance", "500"
    )
    assert code == 0, out
    key = out.splitlines()[-1]
    assert key.startswith("slk_")
    principal = principal_of(data_dir, key)
    assert principal is not None
    assert principal.account_name == "alice"  # type: ignore[attr-defined]
    assert principal.role == "user"  # type: ignore[attr-defined]

    code, out, _err = run(
        "keys", "create", "--account", "alice", "--role", "admin", "--label", "ops"
    )
    assert code == 0
    admin_key = out.splitlines()[-1]
    assert principal_of(data_dir, admin_key).is_admin  # type: ignore[attr-defined]

    code, _out, _err = run("keys", "create", "--account", "alice", "--role", "root")
    assert code == 2


def test_keys_list_and_revoke(data_dir: Path) -> None:
    run("accounts", "create", "bob")
    code, out, _err = run("keys", "create", "--account", "bob")
    key = out.splitlines()[-1]
    key_id = key.split("_")[1]

    code, out, _err = run("keys", "list")
    assert code == 0
    (line,) = out.splitlines()
    assert line.startswith(f"{key_id}  bob  user  created ")
    assert line.endswith("active")
    assert key not in out  # the key itself is never shown again

    code, out, _err = run("keys", "revoke", key_id)
    assert (code, out.strip()) == (0, f"revoked key {key_id}")
    assert principal_of(data_dir, key) is None
    code, out, _err = run("keys", "list", "--account", "bob")
    assert "revoked" in out
    code, _out, err = run("keys", "revoke", key_id)
    assert code == 1
    assert "no active key" in err
    code, _out, err = run("keys", "list", "--account", "nobody")
    assert code == 1


def test_accounts_create_list_credit_show(data_dir: Path) -> None:
    code, out, _err = run("accounts", "create", "carol", "--balance", "300")
    assert code == 0, out
    assert out.startswith("created account carol (id ")
    code, _out, err = run("accounts", "create", "carol")
    assert code == 1
    assert "exists already" in err
    run("accounts", "create", "dave")

    code, out, _err = run("accounts", "list")
    assert [line.split("  ")[1:] for line in out.splitlines()] == [
        ["carol", "active", "balance 300"],
        ["dave", "active", "balance 0"],
    ]

    code, out, _err = run("accounts", "credit", "carol", "200")
    assert (code, out.strip()) == (0, "account carol: balance 500")
    code, out, _err = run("accounts", "credit", "carol", "--", "-100")
    assert (code, out.strip()) == (0, "account carol: balance 400")
    code, _out, err = run("accounts", "credit", "carol", "--", "-1000")
    assert code == 1
    assert "does not cover" in err
    code, _out, _err = run("accounts", "credit", "carol", "0")
    assert code == 1
    code, _out, err = run("accounts", "credit", "erin", "5")
    assert code == 1

    code, out, _err = run("accounts", "show", "carol")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("account carol (id ")
    assert lines[1] == "status active, tier unverified, balance 400"
    ledger = [line.split("  ")[1:3] for line in lines[3:]]
    assert ledger == [["-100", "adjust"], ["+200", "top_up"], ["+300", "top_up"]]
