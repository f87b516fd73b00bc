"""The read trail: the pushes of every stream audited in batches (one transaction for all
that was noted within an interval), merged per (caller, rental, path), flushed on demand,
and a failed write logged without stopping later ones. Both databases."""

from __future__ import annotations

import asyncio
from typing import Any

from api_support import T0

from smslocker.guard import audit
from smslocker.guard.reads import READ_IDS_PER_ENTRY, Read, ReadTrail
from smslocker.store import Database


def read(rental: str, *ids: int, actor: str = "key:a", via: str = "websocket") -> Read:
    return Read(1, actor, via, rental, ids)


async def reads_of(database: Database) -> list[tuple[str | None, str, list[int]]]:
    found = await audit.entries(database, audit.AuditFilter(action=audit.MESSAGE_READ))
    return [
        (entry.target, entry.actor, entry.details["message_ids"])
        for entry in sorted(found, key=lambda entry: entry.id)
    ]


async def test_notes_within_an_interval_are_one_write_merged_per_rental(
    database: Database,
) -> None:
    trail = ReadTrail(database, lambda: T0, interval_s=60.0)  # only flush() writes
    writes = 0
    run_write = database.run_write

    async def counting(function: Any) -> Any:
        nonlocal writes
        writes += 1
        return await run_write(function)

    database.run_write = counting  # type: ignore[method-assign]
    trail.note([read("rnt_a", 1, 2)])
    trail.note([read("rnt_b", 3)])
    trail.note([read("rnt_a", 4), read("rnt_a", 5, actor="key:b")])
    assert await reads_of(database) == []  # nothing before the interval or a flush

    await trail.flush()

    assert writes == 1
    assert await reads_of(database) == [
        ("rnt_a", "key:a", [1, 2, 4]),
        ("rnt_b", "key:a", [3]),
        ("rnt_a", "key:b", [5]),
    ]
    assert (await audit.verify(database)).ok


async def test_the_interval_writes_without_a_flush(database: Database) -> None:
    trail = ReadTrail(database, lambda: T0, interval_s=0.01)
    trail.note([read("rnt_a", 7)])
    for _ in range(500):
        if await reads_of(database):
            break
        await asyncio.sleep(0.01)
    assert await reads_of(database) == [("rnt_a", "key:a", [7])]


async def test_a_large_read_is_split(database: Database) -> None:
    trail = ReadTrail(database, lambda: T0)
    trail.note([read("rnt_a", *range(1, READ_IDS_PER_ENTRY + 6))])
    await trail.flush()
    sizes = [len(ids) for _, _, ids in await reads_of(database)]
    assert sizes == [READ_IDS_PER_ENTRY, 5]


async def test_a_failed_write_is_counted_and_the_next_goes_on(database: Database) -> None:
    trail = ReadTrail(database, lambda: T0)
    run_write = database.run_write
    calls = 0

    async def failing_once(function: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("database away")
        return await run_write(function)

    database.run_write = failing_once  # type: ignore[method-assign]
    trail.note([read("rnt_a", 1)])
    await trail.flush()  # returns: the write was given up on, not raised
    assert trail.failed == 1
    trail.note([read("rnt_a", 2)])
    await trail.flush()
    assert await reads_of(database) == [("rnt_a", "key:a", [2])]


async def test_flush_with_nothing_noted_returns_at_once(database: Database) -> None:
    trail = ReadTrail(database, lambda: T0)
    await trail.flush()
    assert await reads_of(database) == []
