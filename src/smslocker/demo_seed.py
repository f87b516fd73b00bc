"""What ``smslocker demo`` puts in the database before it serves: a connector bound to the
built-in simulator, a demo pool, an admin and a user with their keys.

Every step is idempotent, so each start of the demo finds the platform as the last one
left it (rentals, messages, balances) and only fills in what is missing:

- the connector row ``demo-sim`` is created, or pointed at the simulator's port of
  this start (only written when something changed: a write makes the gateway bind
  again);
- the pool is upserted (:func:`~smslocker.pool.importer.import_rows` keeps the state
  and counters of numbers already there);
- the keys: a key is shown once and only its hash is stored, so the demo keeps the
  keys it made in ``demo.json`` in the data folder (mode 0600) and prints the same ones
  on every start; a key the database no longer accepts (a wiped database, a revoked
  key) is replaced by a new one.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select, update

from smslocker.accounts import Role, authenticate, create_key
from smslocker.accounts.sessions import has_password, set_password
from smslocker.gateway.registry import (
    ConnectorNotFound,
    ConnectorRecord,
    create_connector,
    get_connector,
    update_connector,
)
from smslocker.pool.importer import ImportReport, import_rows
from smslocker.rentals.credits import balance_of, create_account, top_up
from smslocker.store.db import Database
from smslocker.store.models import Account, ConnectorRow

#: The connector bound to the built-in simulator, and the bind it makes (SMPP limits:
#: system_id up to 15 characters, password up to 8).
CONNECTOR = "demo-sim"
SYSTEM_ID = "demo"
PASSWORD = "demo"

ADMIN_ACCOUNT = "demo-admin"
USER_ACCOUNT = "demo-user"
#: The user's credits: a hundred rentals at the default price. A later start tops the
#: account up again when it has spent most of them.
USER_CREDITS = 10_000
LOW_CREDITS = 1_000
#: Tiers set the rental quotas (``guard.rental_quota_per_hour``): the demo's accounts
#: are ``trusted``, so playing the walk-through again and again does not hit the quota
#: of a new (``unverified``) account.
TIER = "trusted"

KEYS_FILE = "demo.json"
ENV_FILE = "demo.env"

#: The demo pool: numbers in several countries, all valid for ``phonenumbers`` and
#: mobile where the numbering plan says so (US and CA cannot tell mobiles from fixed
#: lines), taken from fictional or test ranges where the country has one (555-01xx in
#: North America, 0491 570 in Australia). They terminate at the simulator: nothing
#: real is ever sent to them.
DEMO_NUMBERS: dict[str, tuple[str, ...]] = {
    "US": tuple(f"+1415555{n:04d}" for n in range(101, 106)),
    "CA": tuple(f"+1604555{n:04d}" for n in range(101, 104)),
    "GB": tuple(f"+447400123{n:03d}" for n in range(401, 406)),
    "DE": tuple(f"+4915510000{n:03d}" for n in range(101, 105)),
    "FR": tuple(f"+336123456{n:02d}" for n in range(1, 5)),
    "ES": tuple(f"+346123456{n:02d}" for n in range(1, 4)),
    "NL": tuple(f"+316123456{n:02d}" for n in range(1, 4)),
    "BR": tuple(f"+55119123456{n:02d}" for n in range(1, 5)),
    "IN": tuple(f"+919812345{n:03d}" for n in range(601, 605)),
    "AU": tuple(f"+61491570{n:03d}" for n in range(101, 105)),
}


def demo_numbers() -> list[tuple[str, str]]:
    """(number, country) of the demo pool, in a stable order."""
    return [(number, country) for country, numbers in DEMO_NUMBERS.items() for number in numbers]


# --------------------------------------------------------------------------- connector


async def ensure_connector(db: Database, smpp_port: int, now: datetime) -> ConnectorRecord:
    """The ``demo-sim`` connector, bound to the simulator on 127.0.0.1:``smpp_port``."""
    wanted: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": smpp_port,
        "system_id": SYSTEM_ID,
        "password": PASSWORD,
        "bind": "receiver",
        "enabled": True,
    }
    try:
        record = await get_connector(db, CONNECTOR)
    except ConnectorNotFound:
        return await create_connector(db, {"name": CONNECTOR, **wanted, "options": {}}, now)
    await _release_dead_lease(db, record)
    if any(getattr(record, name) != value for name, value in wanted.items()):
        record = await update_connector(db, CONNECTOR, wanted, now)
    return record


async def _release_dead_lease(db: Database, record: ConnectorRecord) -> None:
    """Free the lease a demo killed on this machine left behind (``host:pid`` of a process
    that is gone); otherwise this start would wait for it to run out before binding."""
    owner = record.lease_owner
    if owner is None:
        return
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit() or _alive(int(pid)):
        return
    async with db.write() as connection:
        await connection.execute(
            update(ConnectorRow)
            .where(ConnectorRow.id == record.id, ConnectorRow.lease_owner == owner)
            .values(lease_owner=None, lease_until=None)
        )


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return False  # an earlier run in this very process (tests): its manager is gone
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


# --------------------------------------------------------------------------- pool


async def import_demo_pool(db: Database, now: datetime) -> ImportReport:
    """Upsert the demo pool on the ``demo-sim`` connector (a second time changes nothing)."""
    rows = [
        (line, {"number": number, "country": country, "source": "simulator", "tags": "demo"})
        for line, (number, country) in enumerate(demo_numbers(), start=2)
    ]
    return await import_rows(db, rows, connector=CONNECTOR, now=now)


# --------------------------------------------------------------------------- keys


@dataclass(frozen=True, slots=True)
class DemoKeys:
    admin_key: str
    user_key: str
    user_balance: int
    user_password: str


async def ensure_keys(db: Database, data_dir: Path, now: datetime) -> DemoKeys:
    """The demo's admin and user keys: those of ``demo.json`` while the database accepts
    them, new ones (saved there) otherwise. The user has credits to rent with."""
    path = data_dir / KEYS_FILE
    saved = _read_keys(path)
    admin_key = await _ensure_key(db, saved.get("admin_key"), ADMIN_ACCOUNT, Role.ADMIN, now)
    user_key = await _ensure_key(db, saved.get("user_key"), USER_ACCOUNT, Role.USER, now)
    user_id = await _account_id(db, USER_ACCOUNT)
    assert user_id is not None  # _ensure_key made it
    # The renter's page also signs in with a name and a password: the demo user has one.
    password = saved.get("user_password")
    if password is None or not await has_password(db, user_id):
        password = secrets.token_urlsafe(12)
        await set_password(db, user_id, password, now)
    keys = {"admin_key": admin_key, "user_key": user_key, "user_password": password}
    if keys != saved:
        write_private(path, json.dumps(keys, indent=2) + "\n")
    balance = await balance_of(db, user_id)
    if balance < LOW_CREDITS:
        balance = await top_up(db, user_id, USER_CREDITS - balance, now)
    return DemoKeys(admin_key, user_key, balance, password)


def _read_keys(path: Path) -> dict[str, str]:
    try:
        values = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}  # none yet, or unreadable: new keys replace it
    if not isinstance(values, dict):
        return {}
    return {name: value for name, value in values.items() if isinstance(value, str)}


async def _ensure_key(
    db: Database, key: str | None, account: str, role: Role, now: datetime
) -> str:
    if key is not None:
        principal = await authenticate(db, key)
        if principal is not None and principal.account_name == account and principal.role is role:
            return key
    account_id = await _account_id(db, account)
    if account_id is None:
        account_id = await create_account(db, account, now, tier=TIER)
    _, new_key = await create_key(db, account_id, role, now, label="smslocker demo")
    return new_key


async def _account_id(db: Database, name: str) -> int | None:
    async with db.read() as connection:
        found = await connection.scalar(select(Account.id).where(Account.name == name))
    return None if found is None else int(found)


# --------------------------------------------------------------------------- files


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by its owner only (it holds keys), replacing
    the file in one step so a reader never sees half of it."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.chmod(temporary, 0o600)  # the umask cannot widen it, but an old file could be wider
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise


def write_env_file(data_dir: Path, values: dict[str, str]) -> Path:
    """``demo.env``: ``export NAME=value`` lines for a shell to ``source``."""
    lines = ["# Written by `smslocker demo` at each start. In a shell: source this file."]
    lines += [f"export {name}={_shell_quote(value)}" for name, value in values.items()]
    path = data_dir / ENV_FILE
    write_private(path, "\n".join(lines) + "\n")
    return path


def _shell_quote(value: str) -> str:
    return "'" + value.replace("'", "'\\''") + "'"


__all__ = [
    "CONNECTOR",
    "DEMO_NUMBERS",
    "ENV_FILE",
    "KEYS_FILE",
    "PASSWORD",
    "SYSTEM_ID",
    "USER_ACCOUNT",
    "DemoKeys",
    "demo_numbers",
    "ensure_connector",
    "ensure_keys",
    "import_demo_pool",
    "write_env_file",
    "write_private",
]
