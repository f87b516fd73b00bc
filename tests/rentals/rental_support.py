"""Helpers of the rental tests: a pool, an account, a fake clock, invariant queries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert, select, text

from smslocker.rentals import create_account
from smslocker.settings import PolicySettings
from smslocker.store.models import EPOCH, Number

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
POLICY = PolicySettings(
    rental_ttl_s=600, max_rental_s=3600, grace_s=60, cooldown_s=1800, default_price=100
)


def seconds(n: float) -> timedelta:
    return timedelta(seconds=n)


def us(i: int) -> str:
    return f"+1415555{i:04d}"


async def add_pool(db: Any, count: int, *, country: str = "US", start: int = 0) -> list[int]:
    """``count`` FREE US numbers (valid ones), ids in order."""
    rows = [
        {
            "e164": us(start + i),
            "country": country,
            "carrier": None,
            "line_type": "fixed_line_or_mobile",
            "connector": "sim",
            "tags": [],
            "state": "FREE",
            "state_since": T0,
            "last_used_at": EPOCH,
            "created_at": T0,
        }
        for i in range(count)
    ]
    async with db.write() as connection:
        await connection.execute(insert(Number), rows)
        result = await connection.execute(select(Number.id).order_by(Number.id))
        return list(result.scalars())[-count:]


async def new_account(db: Any, balance: int = 1000, name: str = "alice") -> int:
    return await create_account(db, name, T0, balance=balance)


async def number_state(db: Any, number_id: int) -> Any:
    async with db.read() as connection:
        return (await connection.execute(select(Number).where(Number.id == number_id))).one()


async def add_message(db: Any, rental_id: str) -> None:
    """What ingest does for one message of a rental (the counters the refund rule reads)."""
    async with db.write() as connection:
        await connection.execute(
            text(
                "UPDATE rentals SET messages_count = messages_count + 1 WHERE id = :id"
            ).bindparams(id=rental_id)
        )


DOUBLE_RENTALS = text(
    "SELECT number_id, count(*) FROM rentals WHERE status = 'active'"
    " GROUP BY number_id HAVING count(*) > 1"
)
OVERLAPPING_WINDOWS = text(
    "SELECT a.id, b.id FROM rentals a JOIN rentals b"
    " ON a.number_id = b.number_id AND a.id < b.id"
    " AND a.started_at <= b.window_end AND b.started_at <= a.window_end"
)
LEDGER_MISMATCH = text(
    "SELECT accounts.id FROM accounts"
    " LEFT JOIN (SELECT account_id, sum(amount) AS total FROM ledger GROUP BY account_id) l"
    " ON l.account_id = accounts.id WHERE accounts.balance != coalesce(l.total, 0)"
)
ACTIVE_ON_UNRENTED_NUMBER = text(
    "SELECT rentals.id FROM rentals JOIN numbers ON numbers.id = rentals.number_id"
    " WHERE rentals.status = 'active' AND numbers.state NOT IN ('RESERVED', 'IN_USE')"
)
