"""Helpers of the pool tests: numbers straight into the table, a fake clock."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert, select

from smslocker.store.models import EPOCH, Number

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


def number_row(e164: str, **values: Any) -> dict[str, Any]:
    """A row of ``numbers`` with every column a test may change (an executemany insert
    takes its columns from the first row, so all rows need the same keys)."""
    row: dict[str, Any] = {
        "e164": e164,
        "country": "US",
        "carrier": None,
        "line_type": "fixed_line_or_mobile",
        "connector": "sim",
        "tags": [],
        "state": "FREE",
        "state_since": T0,
        "state_until": None,
        "last_used_at": EPOCH,
        "busy_until": None,
        "rentals_count": 0,
        "messages_count": 0,
        "probes_ok": 0,
        "probes_failed": 0,
        "probe_failure_streak": 0,
        "last_probe_at": None,
        "created_at": T0,
    }
    unknown = set(values) - set(row)
    assert not unknown, f"add {unknown} to number_row's defaults"
    row.update(values)
    return row


async def add_numbers(db: Any, rows: Iterable[dict[str, Any]]) -> list[int]:
    """Insert number rows (see :func:`number_row`); returns their ids in order."""
    rows = list(rows)
    async with db.write() as connection:
        await connection.execute(insert(Number), rows)
        result = await connection.execute(
            select(Number.id, Number.e164).where(Number.e164.in_([row["e164"] for row in rows]))
        )
        ids = dict((e164, id_) for id_, e164 in result.all())
    return [ids[row["e164"]] for row in rows]


async def number(db: Any, number_id: int) -> Any:
    async with db.read() as connection:
        return (await connection.execute(select(Number).where(Number.id == number_id))).one()


def us(i: int) -> str:
    """A valid US number, distinct per ``i`` (0 <= i < 10000)."""
    return f"+1415555{i:04d}"
