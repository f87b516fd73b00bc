"""The store on both databases: migrations apply, types round-trip, the writer serialises."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import insert, select

from smslocker.store.migrate import current, head, upgrade
from smslocker.store.models import Account, Number
from smslocker.store.types import new_id


async def test_migrations_reach_head_and_are_idempotent(database: Any) -> None:
    newest = head()
    assert newest is not None
    assert await current(database) == newest
    await upgrade(database)
    assert await current(database) == newest


async def test_times_come_back_aware_utc_whatever_zone_went_in(database: Any) -> None:
    paris = timezone(timedelta(hours=1))
    created = datetime(2026, 12, 1, 10, 30, 15, 123456, tzinfo=paris)
    async with database.write() as connection:
        await connection.execute(insert(Account).values(name="a", balance=5, created_at=created))
    async with database.read() as connection:
        row = (await connection.execute(select(Account.created_at))).one()
    assert row.created_at == created
    assert row.created_at.tzinfo == UTC


async def test_naive_datetimes_are_refused(database: Any) -> None:
    statement = insert(Account).values(name="a", created_at=datetime(2026, 1, 1))
    async with database.write() as connection:
        with pytest.raises(Exception, match="naive datetime"):
            await connection.execute(statement)


async def test_json_tags_round_trip(database: Any) -> None:
    now = datetime.now(UTC)
    async with database.write() as connection:
        await connection.execute(
            insert(Number).values(
                e164="+14155550100", tags=["sim", "ünïcode"], state_since=now, created_at=now
            )
        )
    async with database.read() as connection:
        tags = (await connection.execute(select(Number.tags))).scalar_one()
    assert tags == ["sim", "ünïcode"]


async def test_a_failed_write_changes_nothing(database: Any) -> None:
    now = datetime.now(UTC)

    async def insert_then_fail() -> None:
        async with database.write() as connection:
            await connection.execute(insert(Account).values(name="gone", created_at=now))
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await insert_then_fail()
    async with database.read() as connection:
        assert (await connection.execute(select(Account))).all() == []


async def test_concurrent_writes_all_land(database: Any) -> None:
    now = datetime.now(UTC)

    async def add(i: int) -> None:
        async with database.write() as connection:
            await connection.execute(insert(Account).values(name=f"acct{i}", created_at=now))

    await asyncio.gather(*(add(i) for i in range(40)))
    async with database.read() as connection:
        names = (await connection.execute(select(Account.name))).scalars().all()
    assert sorted(names) == sorted(f"acct{i}" for i in range(40))


def test_public_ids_differ_and_sort_by_creation_time() -> None:
    ids = [new_id("rnt_") for _ in range(1000)]
    assert len(set(ids)) == 1000
    assert all(i.startswith("rnt_") and len(i) == 30 for i in ids)
    earlier = new_id("rnt_")
    time.sleep(0.002)
    assert new_id("rnt_") > earlier
