"""The demo's seeding and traffic, in process, on SQLite and PostgreSQL: each step is
idempotent, keys are kept (and replaced when the database no longer takes them), the
connector follows the simulator's port and is freed from a dead demo's lease, and the
traffic player texts the active rentals only."""

from __future__ import annotations

import json
import os
import random
import socket
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from smslocker.accounts import Role, authenticate, list_keys, revoke_key
from smslocker.accounts.sessions import sign_in
from smslocker.demo import DEMO_POLICY, demo_settings
from smslocker.demo_seed import (
    CONNECTOR,
    DEMO_NUMBERS,
    ENV_FILE,
    KEYS_FILE,
    USER_ACCOUNT,
    USER_CREDITS,
    demo_numbers,
    ensure_connector,
    ensure_keys,
    import_demo_pool,
    write_env_file,
)
from smslocker.demo_traffic import DEMO_SERVICES, active_rentals, demo_otp, play_once
from smslocker.gateway.registry import get_connector
from smslocker.pool.phone import MOBILE_LINE_TYPES, normalise
from smslocker.rentals import RentRequest, release, rent
from smslocker.settings import PolicySettings, Settings
from smslocker.store.db import Database
from smslocker.store.models import ConnectorRow

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


# --------------------------------------------------------------------------- pool


def test_the_demo_pool_is_a_few_dozen_valid_mobile_numbers_in_several_countries() -> None:
    numbers = demo_numbers()
    assert 30 <= len(numbers) <= 60
    assert len(DEMO_NUMBERS) >= 8
    assert len({number for number, _ in numbers}) == len(numbers)
    for number, country in numbers:
        facts = normalise(number)
        assert facts.e164 == number
        assert facts.country == country
        assert facts.line_type in MOBILE_LINE_TYPES


async def test_the_pool_import_is_idempotent(database: Database) -> None:
    first = await import_demo_pool(database, NOW)
    assert (first.imported, first.updated, first.rejected) == (len(demo_numbers()), 0, [])
    again = await import_demo_pool(database, NOW + timedelta(hours=1))
    assert (again.imported, again.updated, again.rejected) == (0, len(demo_numbers()), [])


# --------------------------------------------------------------------------- connector


async def test_the_connector_follows_the_simulator_port_and_is_written_only_on_change(
    database: Database,
) -> None:
    created = await ensure_connector(database, 2775, NOW)
    assert (created.name, created.host, created.port, created.bind) == (
        CONNECTOR,
        "127.0.0.1",
        2775,
        "receiver",
    )
    assert created.enabled
    same = await ensure_connector(database, 2775, NOW + timedelta(minutes=1))
    # Unchanged: no write, so a running gateway does not bind again for nothing.
    assert same.updated_at == created.updated_at
    moved = await ensure_connector(database, 40123, NOW + timedelta(minutes=2))
    assert moved.port == 40123
    assert moved.updated_at > created.updated_at


@pytest.mark.parametrize(
    ("owner", "freed"),
    [
        (f"{socket.gethostname()}:{2**22 + 12345}", True),  # beyond pid_max: gone
        (f"{socket.gethostname()}:{os.getppid()}", False),  # a live process: keep it
        ("another-host:1", False),  # another machine's: not ours to judge
    ],
)
async def test_a_lease_left_by_a_dead_demo_is_freed(
    sqlite_database: Database, owner: str, freed: bool
) -> None:
    await ensure_connector(sqlite_database, 2775, NOW)
    async with sqlite_database.write() as connection:
        await connection.execute(
            update(ConnectorRow)
            .where(ConnectorRow.name == CONNECTOR)
            .values(lease_owner=owner, lease_until=NOW + timedelta(seconds=15))
        )
    await ensure_connector(sqlite_database, 2775, NOW)
    record = await get_connector(sqlite_database, CONNECTOR)
    assert (record.lease_owner is None) is freed


# --------------------------------------------------------------------------- keys


async def test_keys_are_kept_in_a_private_file_and_stay_the_same(
    database: Database, tmp_path: Path
) -> None:
    keys = await ensure_keys(database, tmp_path, NOW)
    path = tmp_path / KEYS_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text()) == {
        "admin_key": keys.admin_key,
        "user_key": keys.user_key,
        "user_password": keys.user_password,
    }
    admin = await authenticate(database, keys.admin_key)
    user = await authenticate(database, keys.user_key)
    assert admin is not None
    assert admin.role is Role.ADMIN
    assert user is not None
    assert user.role is Role.USER
    assert keys.user_balance == USER_CREDITS

    again = await ensure_keys(database, tmp_path, NOW + timedelta(hours=1))
    assert (again.admin_key, again.user_key) == (keys.admin_key, keys.user_key)
    assert again.user_password == keys.user_password
    assert len(await list_keys(database)) == 2  # no new key made
    session = await sign_in(
        database, USER_ACCOUNT, keys.user_password, NOW, ttl=timedelta(minutes=1)
    )
    assert session.account_id == user.account_id


async def test_a_key_the_database_refuses_is_replaced(database: Database, tmp_path: Path) -> None:
    keys = await ensure_keys(database, tmp_path, NOW)
    user = await authenticate(database, keys.user_key)
    assert user is not None
    await revoke_key(database, user.key_id, NOW)
    # A keys file from another database (a wiped one): its keys are not valid here.
    (tmp_path / KEYS_FILE).write_text(
        json.dumps({"admin_key": "slk_abcdefghijkm_nothing", "user_key": keys.user_key})
    )

    replaced = await ensure_keys(database, tmp_path, NOW + timedelta(minutes=1))
    assert replaced.admin_key != keys.admin_key
    assert replaced.user_key != keys.user_key
    assert await authenticate(database, replaced.admin_key) is not None
    assert await authenticate(database, replaced.user_key) is not None
    saved = json.loads((tmp_path / KEYS_FILE).read_text())
    assert saved == {
        "admin_key": replaced.admin_key,
        "user_key": replaced.user_key,
        "user_password": replaced.user_password,
    }


async def test_an_unreadable_keys_file_is_replaced(
    sqlite_database: Database, tmp_path: Path
) -> None:
    (tmp_path / KEYS_FILE).write_text("not json")
    keys = await ensure_keys(sqlite_database, tmp_path, NOW)
    assert await authenticate(sqlite_database, keys.user_key) is not None


def test_the_env_file_is_private_and_quotes_for_the_shell(tmp_path: Path) -> None:
    path = write_env_file(tmp_path, {"KEY": "slk_x", "ODD": "it's $HOME"})
    assert path == tmp_path / ENV_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    lines = path.read_text().splitlines()
    assert "export KEY='slk_x'" in lines
    assert "export ODD='it'\\''s $HOME'" in lines


# --------------------------------------------------------------------------- policy


def test_the_demo_policy_applies_only_where_the_settings_give_none() -> None:
    defaults = demo_settings(Settings())
    for name, value in DEMO_POLICY.items():
        assert getattr(defaults.policy, name) == value
    assert defaults.policy.rental_ttl_s == PolicySettings().rental_ttl_s

    chosen = demo_settings(Settings(policy=PolicySettings(cooldown_s=5)))
    assert chosen.policy.cooldown_s == 5
    assert chosen.policy.service_rotation_s == DEMO_POLICY["service_rotation_s"]


# --------------------------------------------------------------------------- traffic


def test_a_known_service_sends_its_own_messages() -> None:
    rng = random.Random(7)
    sender, text = demo_otp(rng, "whatsapp")
    assert sender == "WhatsApp"
    assert "WhatsApp code" in text
    senders = {demo_otp(rng, None)[0] for _ in range(200)}
    assert senders == {sender for sender, _ in DEMO_SERVICES}


async def test_traffic_texts_the_active_rentals_only(
    sqlite_database: Database, tmp_path: Path
) -> None:
    policy = PolicySettings()
    await import_demo_pool(sqlite_database, NOW)
    keys = await ensure_keys(sqlite_database, tmp_path, NOW)
    user = await authenticate(sqlite_database, keys.user_key)
    assert user is not None
    kept = await rent(
        sqlite_database, user.account_id, RentRequest(country="FR", service="uber"), NOW, policy
    )
    done = await rent(sqlite_database, user.account_id, RentRequest(country="IN"), NOW, policy)
    await release(sqlite_database, user.account_id, done.id, NOW, policy)
    assert [r.id for r in await active_rentals(sqlite_database, NOW)] == [kept.id]
    # Past its end, a rental gets nothing either.
    assert await active_rentals(sqlite_database, kept.expires_at) == []

    sent: list[tuple[str, str, str]] = []

    def inject(source: str, destination: str, text: str) -> Any:
        sent.append((source, destination, text))

    rng = random.Random(1)
    assert await play_once(sqlite_database, inject, rng, NOW, chance=1.0) == 1
    assert [(source, destination) for source, destination, _ in sent] == [("Uber", kept.number)]
    assert await play_once(sqlite_database, inject, rng, NOW, chance=0.0) == 0
    assert len(sent) == 1
