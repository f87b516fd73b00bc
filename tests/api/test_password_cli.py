"""``smslocker accounts set-password`` and ``remove-password`` on the embedded database:
the password they set is the one a sign-in accepts."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest

from cli_support import run
from smslocker.accounts.sessions import Session, SignInFailed, sign_in
from smslocker.store.db import Database
from smslocker.store.types import utcnow

PASSWORD = "a long enough password"


@pytest.fixture
def data_dir(cli_home: Path) -> Path:
    return cli_home / "data"


def try_sign_in(data: Path, name: str, password: str) -> Session | None:
    async def attempt() -> Session | None:
        database = Database(f"sqlite+aiosqlite:///{data / 'smslocker.db'}")
        try:
            return await sign_in(database, name, password, utcnow(), ttl=timedelta(hours=1))
        except SignInFailed:
            return None
        finally:
            await database.close()

    return asyncio.run(attempt())


def test_set_password_from_stdin_then_remove_it(data_dir: Path) -> None:
    assert run("accounts", "create", "alice")[0] == 0
    code, out, err = run("accounts", "set-password", "alice", "--password-stdin", stdin=PASSWORD)
    assert code == 0, err
    assert "password set" in out
    assert PASSWORD not in out
    session = try_sign_in(data_dir, "alice", PASSWORD)
    assert session is not None
    assert session.role == "user"
    assert try_sign_in(data_dir, "alice", PASSWORD + " ") is None

    code, out, _err = run("accounts", "remove-password", "alice")
    assert code == 0
    assert try_sign_in(data_dir, "alice", PASSWORD) is None
    code, _out, err = run("accounts", "remove-password", "alice")
    assert code == 1
    assert "has no password" in err


def test_set_password_asks_twice(data_dir: Path) -> None:
    run("accounts", "create", "bob")
    code, _out, err = run(
        "accounts",
        "set-password",
        "bob",
        stdin=f"{PASSWORD}\nsomething else entirely\n{PASSWORD}\n{PASSWORD}\n",
    )
    assert code == 0, err
    assert try_sign_in(data_dir, "bob", PASSWORD) is not None


def test_set_password_refusals(data_dir: Path) -> None:
    run("accounts", "create", "carol")
    code, _out, err = run("accounts", "set-password", "carol", "--password-stdin", stdin="short\n")
    assert code == 1
    assert "at least 12 characters" in err
    code, _out, err = run("accounts", "set-password", "nobody", "--password-stdin", stdin=PASSWORD)
    assert code == 1
    assert "no account named 'nobody'" in err
    assert try_sign_in(data_dir, "carol", "short") is None
